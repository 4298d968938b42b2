"""The signature policy, policy.json as containers-policy.json(5) defines it.

pypod evaluates the two requirements that need no signatures: ``insecureAcceptAnything``
and ``reject``.  ``signedBy`` and ``sigstoreSigned`` are refused with a message saying
pypod cannot check them (a policy pypod cannot enforce must not pass silently).  The
requirements that apply to an image are the most specific scope's of its transport
(for ``docker``: the reference, then the repository, then each shorter namespace, then
the registry host and ``*.domain`` wildcards), else the transport's ``""`` scope, else
``default``.  Called by the engine before anything of the image is fetched.
"""

from __future__ import annotations

import json
import os
from typing import Any

import attrs

from pypod_core.errors import ConfigError, PolicyError

SYSTEM_POLICY = "/etc/containers/policy.json"
#: pypod's own file, read before the system's.
PYPOD_POLICY = "/etc/pypod/policy.json"
_SUPPORTED = ("insecureAcceptAnything", "reject")
_UNSUPPORTED = ("signedBy", "sigstoreSigned", "signedBaseLayer")


def policy_path(configured: str = "", rootless: bool | None = None) -> str:
    """The policy file to read: ``configured`` (a pull's ``signature_policy``, else the
    config key ``signature_policy``: podman's ``--signature-policy``), else the first
    that exists of the user's
    ``~/.config/containers/policy.json`` (rootless), pypod's and the system's.
    PolicyError listing them when none exists, as podman's."""
    if configured:
        return configured
    rootless = os.geteuid() != 0 if rootless is None else rootless
    candidates = [PYPOD_POLICY, SYSTEM_POLICY]
    home = os.environ.get("HOME")
    if rootless and home:
        candidates.insert(0, os.path.join(home, ".config/containers/policy.json"))
    for path in candidates:
        if os.path.exists(path):
            return path
    listed = ", ".join(f'"{p}"' for p in candidates)
    raise PolicyError(f"no policy.json file found at any of the following: {listed}")


@attrs.frozen
class Policy:
    """A parsed policy.json: ``default`` requirements and, per transport, per scope."""

    path: str
    default: tuple[str, ...]
    transports: dict[str, dict[str, tuple[str, ...]]] = attrs.field(factory=dict)

    def requirements(self, transport: str, scope: str) -> tuple[str, ...]:
        """The requirement types that apply to ``scope`` of ``transport``."""
        scopes = self.transports.get(transport, {})
        for candidate in _scopes(transport, scope):
            if candidate in scopes:
                return scopes[candidate]
        if "" in scopes:
            return scopes[""]
        return self.default

    def check(self, transport: str, scope: str) -> None:
        """Accept the image ``scope`` (for ``docker``: ``registry/repo:tag`` or
        ``@digest``) of ``transport``, or raise PolicyError saying why not."""
        reqs = self.requirements(transport, scope)
        image = f"{transport}://{scope}" if transport == "docker" else f"{transport}:{scope}"
        for req in reqs:
            if req in _UNSUPPORTED:
                raise PolicyError(
                    f"Source image rejected: {image} needs a {req!r} signature check "
                    f"({self.path}), which pypod does not support")
        if not reqs or "reject" in reqs:
            raise PolicyError(
                f"Source image rejected: Running image {image} is rejected by policy.")


def _scopes(transport: str, scope: str) -> list[str]:
    """The scopes to look up, most specific first."""
    if transport != "docker":
        return [scope]
    found = [scope]
    name = scope.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.partition(":")[0]
    while name:
        if name not in found:
            found.append(name)
        name = name.rpartition("/")[0]
    host = scope.split("/", 1)[0]
    labels = host.split(".")
    found += ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]
    return found


def load_policy(path: str) -> Policy:
    """Read and check ``path``: PolicyError if missing, ConfigError naming the file
    and what is wrong if malformed or of a requirement type pypod does not know."""
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise PolicyError(f"no policy.json file found at {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid policy JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict) or "default" not in data:
        raise ConfigError(f"{path}: a policy needs a \"default\" list of requirements")
    for key in data:
        if key not in ("default", "transports"):
            raise ConfigError(f"{path}: unknown key {key!r}")
    transports = {}
    table = data.get("transports", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: \"transports\" must be an object")
    for transport, scopes in table.items():
        if not isinstance(scopes, dict):
            raise ConfigError(f"{path}: transports.{transport} must be an object")
        transports[transport] = {
            scope: _requirements(reqs, path, f"transports.{transport}[{scope!r}]")
            for scope, reqs in scopes.items()}
    return Policy(path, _requirements(data["default"], path, "default"), transports)


def _requirements(value: Any, path: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {where} must be a list of requirements")
    types = []
    for req in value:
        kind = req.get("type") if isinstance(req, dict) else None
        if kind not in _SUPPORTED + _UNSUPPORTED:
            raise ConfigError(f"{path}: {where}: unknown requirement type {kind!r}")
        types.append(kind)
    return tuple(types)
