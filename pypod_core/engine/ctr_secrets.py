"""Containers' secrets (``run --secret``): podman's parsing, the copy at create, the
spec's mounts and variables at start, inspect's ``Config.Secrets``.

At create each secret's data is copied from its driver into the container's own
directory (``<bundle dir>/secrets``, 0700), one file per ``--secret`` given: a mount
secret's with its ``uid``, ``gid`` and ``mode``, an env secret's 0600.  From then on the
container reads only its copy, so ``secret rm`` (or a new secret of the same name) does
not change it, as podman's documentation says.  At start a mount secret is bound
read-only at ``/run/secrets/NAME`` (or its target: relative ones under /run/secrets,
absolute ones as given); an env secret sets its variable in the process environment
(and in ``exec``'s).  The data never goes into the container's record or inspect.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pypod_core.errors import InvalidArgError, SecretError
from pypod_core.host.private import private_dir
from pypod_core.model import ContainerSecret

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import ContainerConfig

#: Where a mount secret goes when its target is not absolute.
SECRETS_DIR = "/run/secrets"
_TYPES = ("mount", "env")


def _parse_error(message: str) -> InvalidArgError:
    return InvalidArgError(f"{message}: parsing secret")


def _number(value: str, what: str, base: int = 10) -> int:
    try:
        number = int(value, base)
    except ValueError:
        raise _parse_error(f"{what} {value} invalid") from None
    if not 0 <= number < 1 << 32:
        raise _parse_error(f"{what} {value} invalid")
    return number


def parse_secret(text: str) -> ContainerSecret:
    """podman's ``--secret NAME[,type=mount|env][,target=T][,uid=N][,gid=N][,mode=OCT]``
    (also ``source=NAME``) as a ContainerSecret without its id; InvalidArgError in
    podman's words for a bad option."""
    parts = text.split(",")
    fields: dict[str, Any] = {"name": parts[0] if "=" not in parts[0] else ""}
    mount_only = False
    for part in parts[1:] if fields["name"] else parts:
        key, eq, value = part.partition("=")
        if not eq:
            raise _parse_error(f"option {part} must be in form option=value")
        if key == "source":
            fields["name"] = value
        elif key == "type":
            if "type" in fields:
                raise _parse_error("cannot set more than one secret type")
            if value not in _TYPES:
                raise _parse_error(f"type {value} is invalid")
            fields["type"] = value
        elif key == "target":
            fields["target"] = value
        elif key == "mode":
            mount_only, fields["mode"] = True, _number(value, "mode", 8)
        elif key in ("uid", "UID", "gid", "GID"):
            mount_only = True
            fields[key.lower()] = _number(value, key.upper())
        else:
            raise _parse_error(f"option {part} invalid")
    if not fields["name"]:
        raise _parse_error(f"no source found {text}")
    if fields.get("type") == "env" and mount_only:
        raise _parse_error("UID, GID, Mode options cannot be set with secret type env")
    return ContainerSecret(id="", **fields)


def prepare(runtime: Runtime, items: Iterable[Any]) -> tuple[ContainerSecret, ...]:
    """The ``secrets`` of ``create_container`` (``--secret`` strings or ContainerSecret
    values) with each secret's id: NoSuchSecretError before anything is made for a
    secret that is not there; InvalidArgError for two secrets with one target."""
    result, targets = [], set()
    for item in items:
        if isinstance(item, str):
            item = parse_secret(item)
        elif not isinstance(item, ContainerSecret):
            raise TypeError(f"secrets: expected --secret strings or ContainerSecret, not "
                            f"{type(item).__name__}")
        secret = runtime.lookup_secret(item.name)
        target = (item.type, destination(item))
        if target in targets:
            raise InvalidArgError(f"secret {item.name}: {target[1]} is given twice")
        targets.add(target)
        result.append(ContainerSecret(name=secret.name, id=secret.id, type=item.type,
                                      target=item.target, uid=item.uid, gid=item.gid,
                                      mode=item.mode))
    return tuple(result)


def destination(secret: ContainerSecret) -> str:
    """Where a mount secret is in the container, or an env secret's variable name."""
    if secret.type == "env":
        return secret.target or secret.name
    target = secret.target or secret.name
    return os.path.normpath(target if os.path.isabs(target)
                            else os.path.join(SECRETS_DIR, target))


def _directory(ctr: Container) -> str:
    return os.path.join(ctr.bundle_dir, "secrets")


def _copy_path(ctr: Container, index: int, secret: ContainerSecret) -> str:
    """The container's copy of its ``index``-th secret: one file each, as one secret
    may be given twice with different owners or modes."""
    kind = "env" if secret.type == "env" else "mount"
    return os.path.join(_directory(ctr), kind, f"{index}-{secret.name}")


def copy_in(ctr: Container) -> None:
    """Copy each of the new container's secrets from its driver into the container's
    directory (mount ones with their owner and mode, env ones 0600)."""
    for index, secret in enumerate(ctr.config.secrets):
        _record, data = ctr.runtime.secret_data(secret.id)
        if secret.type == "env":
            _check_env_value(secret, data)
        path = _copy_path(ctr, index, secret)
        private_dir(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # while it is written: the mode may be wider
            os.write(fd, data)
            if secret.type == "mount":
                os.fchown(fd, secret.uid, secret.gid)
                os.fchmod(fd, secret.mode)
        finally:
            os.close(fd)


def _check_env_value(secret: ContainerSecret, data: bytes) -> None:
    """An environment variable holds text: UTF-8 without NUL (the data is not shown)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgError(f"secret {secret.name}: type=env needs UTF-8 text, and its "
                              "data is not; use type=mount") from None
    if b"\0" in data:
        raise InvalidArgError(f"secret {secret.name}: type=env cannot hold a NUL byte; "
                              "use type=mount")


def spec_mounts(ctr: Container) -> list[dict[str, Any]]:
    """The read-only binds of the container's mount secrets."""
    mounts = []
    for index, secret in enumerate(ctr.config.secrets):
        if secret.type == "mount":
            mounts.append({"destination": destination(secret), "type": "bind",
                           "source": _copy_path(ctr, index, secret),
                           "options": ["rbind", "rprivate", "ro", "nosuid", "nodev"]})
    return mounts


def env(ctr: Container) -> dict[str, str]:
    """The variables of the container's env secrets, from its copies."""
    result = {}
    for index, secret in enumerate(ctr.config.secrets):
        if secret.type != "env":
            continue
        try:
            with open(_copy_path(ctr, index, secret), "rb") as f:
                data = f.read()
        except OSError as exc:
            raise SecretError(f"secret {secret.name} of container {ctr.config.name}: the "
                              f"container's copy cannot be read: {exc.strerror}") from None
        result[destination(secret)] = data.decode("utf-8", "replace")
    return result


def inspect(config: ContainerConfig) -> list[dict[str, Any]]:
    """inspect's ``Config.Secrets`` (podman lists the mount secrets)."""
    return [{"Name": s.name, "ID": s.id, "UID": s.uid, "GID": s.gid, "Mode": s.mode}
            for s in config.secrets if s.type == "mount"]
