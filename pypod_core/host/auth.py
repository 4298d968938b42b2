"""Registry credentials: containers' auth.json (containers-auth.json(5)) and ``--creds``.

The file is looked up as podman does: ``--authfile``, else ``REGISTRY_AUTH_FILE``, else
``$DOCKER_CONFIG/config.json``, else
``${XDG_RUNTIME_DIR}/containers/auth.json`` (root: ``/run/containers/0/auth.json``); for
reading only, ``$HOME/.docker/config.json`` is the last fallback.  Entries are keyed by
registry host, or by ``host/namespace/repository`` for credentials of one part of a
registry; the longest key that covers the image wins.  Credential helpers
(``credHelpers``, ``credsStore``) are programs pypod does not run: an image whose
registry names one is refused, not pulled anonymously.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from typing import Any

import attrs

from pypod_core.errors import ConfigError, InvalidArgError, RegistryAuthError


@attrs.frozen(repr=False)
class Credentials:
    """A user name and password (or an identity token, ``username`` then empty)."""

    username: str
    password: str

    def __repr__(self) -> str:  # never print a secret
        return f"Credentials(username={self.username!r}, password=***)"


def parse_creds(creds: str) -> Credentials:
    """``--creds USER[:PASSWORD]``; InvalidArgError when the user name is missing."""
    user, _, password = creds.partition(":")
    if not user:
        raise InvalidArgError("--creds: expected USERNAME[:PASSWORD], the user name is empty")
    return Credentials(user, password)


def default_auth_file() -> str:
    """Where ``login`` writes and lookup starts: ``REGISTRY_AUTH_FILE``, else
    ``$DOCKER_CONFIG/config.json`` (podman 4.3's ``--authfile`` default), else the
    per-user runtime directory's ``containers/auth.json``."""
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return env
    docker = os.environ.get("DOCKER_CONFIG")
    if docker:
        return os.path.join(docker, "config.json")
    if os.geteuid() == 0:
        return "/run/containers/0/auth.json"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return os.path.join(runtime, "containers", "auth.json")


def auth_files(authfile: str = "") -> list[str]:
    """The files to read, in order: only ``authfile`` when given; else the default file
    and Docker's ``~/.docker/config.json``."""
    if authfile:
        return [authfile]
    files = [default_auth_file()]
    home = os.environ.get("HOME")
    if home:
        files.append(os.path.join(home, ".docker", "config.json"))
    return files


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid auth file: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: invalid auth file: not a JSON object")
    return data


def _normalize_key(key: str) -> str:
    """Docker's config.json keys may be URLs (``https://index.docker.io/v1/``)."""
    key = key.removeprefix("https://").removeprefix("http://")
    for suffix in ("/v1/", "/v2/", "/v1", "/v2"):
        key = key.removesuffix(suffix)
    key = key.rstrip("/")
    return "docker.io" if key == "index.docker.io" else key


def _keys_for(image: str) -> list[str]:
    """``host/a/b`` -> ``host/a/b``, ``host/a``, ``host``: most specific first."""
    keys = []
    name = image
    while name:
        keys.append(name)
        name = name.rpartition("/")[0]
    return keys


def lookup(image: str, authfile: str = "") -> Credentials | None:
    """Credentials for ``image`` (``registry/repository``, no tag) from the auth
    files, or None.  ConfigError for a malformed file or entry; RegistryAuthError when
    the entry is a credential helper's."""
    wanted = _keys_for(image)
    for path in auth_files(authfile):
        data = _read(path)
        if data is None:
            continue
        auths = {_normalize_key(k): v for k, v in (data.get("auths") or {}).items()}
        for key in wanted:
            if key in auths:
                return _entry(auths[key], path, key)
        helpers = {_normalize_key(k) for k in (data.get("credHelpers") or {})}
        if helpers & set(wanted) or data.get("credsStore"):
            raise RegistryAuthError(
                f"{path}: credentials for {image} are kept by a credential helper "
                "program, which pypod does not run: log in with an auth file instead")
    return None


def _entry(entry: Any, path: str, key: str) -> Credentials:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: auths[{key!r}] is not an object")
    if entry.get("identitytoken"):
        return Credentials("", str(entry["identitytoken"]))
    try:
        user, sep, password = base64.b64decode(entry.get("auth", "")).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
        raise ConfigError(f"{path}: auths[{key!r}].auth is not base64 of user:password") \
            from None
    if not sep:
        raise ConfigError(f"{path}: auths[{key!r}].auth is not base64 of user:password")
    return Credentials(user, password)


def store(key: str, creds: Credentials, authfile: str = "") -> str:
    """Write ``creds`` for ``key`` (a registry, or ``registry/namespace``) into the auth
    file (atomically, mode 0600, other entries kept); return the file's path."""
    path = authfile or default_auth_file()
    data = _read(path) or {}
    auth = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    data.setdefault("auths", {})[key] = {"auth": auth}
    _write(path, data)
    return path


def remove(key: str, authfile: str = "") -> bool:
    """Drop the entry for ``key``; whether there was one."""
    path = authfile or default_auth_file()
    data = _read(path) or {}
    if key not in data.get("auths", {}):
        return False
    del data["auths"][key]
    _write(path, data)
    return True


def remove_all(authfile: str = "") -> str:
    """Drop every registry's credentials (``auths`` and ``credHelpers`` emptied, the
    rest of the file kept); return the file's path."""
    path = authfile or default_auth_file()
    data = _read(path) or {}
    data["auths"] = {}
    data.pop("credHelpers", None)
    _write(path, data)
    return path


def _write(path: str, data: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".auth.json.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
