"""``login`` and ``logout``: registry credentials checked and kept in the auth file, as
podman 4.3's (containers/common's pkg/auth).

- The key: a registry (``host[:port]``) or a part of one (``host/namespace[/repo]``,
  no tag or digest); an ``http(s)://`` URL stands for its host.  None given: the first
  of registries.conf's ``unqualified-search-registries``.
- ``login`` checks the credentials against the registry (``GET /v2/`` through its
  challenge, by the ``docker`` transport's :meth:`check_auth`) before it writes them,
  so a wrong password writes nothing.  Without a user name and a password it checks
  the credentials the auth file has for the key (podman's "existing credentials").
- The file: ``--authfile``, else ``REGISTRY_AUTH_FILE``, else
  ``${XDG_RUNTIME_DIR}/containers/auth.json`` (root: ``/run/containers/0/auth.json``);
  written atomically, mode 0600, other entries kept (:mod:`pypod_core.host.auth`).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import TYPE_CHECKING

import attrs

from pypod_core.errors import (
    InvalidArgError,
    RegistryAuthError,
    RegistryError,
    RegistryUnauthorizedError,
)
from pypod_core.host import auth
from pypod_core.host.reference import parse_reference
from pypod_core.host.registries import load_registries, registries_conf_path

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime


@attrs.frozen
class LoginResult:
    """What :func:`login` did: the key and registry, the user, the file written (empty
    when ``existing``: the file's credentials were valid and were kept)."""

    key: str
    registry: str
    username: str
    authfile: str = ""
    existing: bool = False


def credentials_key(runtime: Runtime, arg: str) -> tuple[str, str]:
    """``(key, registry)`` for ``login``/``logout``'s argument (podman's rules)."""
    if not arg:
        conf = load_registries(registries_conf_path(runtime.config.registries_conf))
        if not conf.search:
            raise InvalidArgError("no registries found in registries.conf, a registry must "
                                  "be provided")
        return conf.search[0], conf.search[0]
    key = arg
    if arg.startswith(("http://", "https://")):
        key = urllib.parse.urlsplit(arg).netloc
    registry = key.split("/")[0]
    if not registry:
        raise InvalidArgError(f"invalid registry {arg!r}")
    if key != registry:
        try:
            ref = parse_reference(key)
        except InvalidArgError as exc:
            raise InvalidArgError(f"parse reference from {key!r}: {exc}") from None
        if ref.tag or ref.digest:
            raise InvalidArgError(f'reference "{key}" contains tag or digest')
    return key, registry


def check(runtime: Runtime, registry: str, creds: auth.Credentials | None, *,
          tls_verify: bool | None, cert_dir: str) -> None:
    """The ``docker`` transport's check of ``creds`` against ``registry``."""
    backend, _ = runtime.plugins.transport_for(f"docker://{registry}/x")
    transport = backend.factory(runtime)
    transport.check_auth(registry, creds, tls_verify=tls_verify,
                         registries_conf=runtime.config.registries_conf, cert_dir=cert_dir)


def login(runtime: Runtime, registry: str = "", username: str = "", password: str = "",
          *, authfile: str = "", tls_verify: bool | None = None,
          cert_dir: str = "") -> LoginResult:
    """Check the credentials against the registry, then store them (see the module)."""
    key, host = credentials_key(runtime, registry)
    existing = auth.lookup(key, authfile)
    if existing is not None and not existing.username and existing.password:
        raise RegistryAuthError("currently logged in, auth file contains an Identity token")
    if not username and not password:
        if existing is None:
            raise InvalidArgError(f"login to {key}: a user name and a password are needed")
        _checked(runtime, key, host, existing, tls_verify, cert_dir)
        return LoginResult(key, host, existing.username, existing=True)
    if not username:
        raise InvalidArgError(f"login to {key}: a user name is needed")
    creds = auth.Credentials(username, password)
    _checked(runtime, key, host, creds, tls_verify, cert_dir)
    path = auth.store(key, creds, authfile)
    return LoginResult(key, host, username, path)


def _checked(runtime: Runtime, key: str, host: str, creds: auth.Credentials,
             tls_verify: bool | None, cert_dir: str) -> None:
    try:
        check(runtime, host, creds, tls_verify=tls_verify, cert_dir=cert_dir)
    except RegistryUnauthorizedError:
        raise RegistryUnauthorizedError(
            f'logging into "{key}": invalid username/password') from None
    except RegistryError as exc:
        raise type(exc)(f'authenticating creds for "{key}": {exc}') from None


def get_login(runtime: Runtime, registry: str = "", authfile: str = "") -> str:
    """The user name the auth file has for the registry; RegistryAuthError (``not
    logged into KEY``) if none."""
    key, _ = credentials_key(runtime, registry)
    creds = auth.lookup(key, authfile)
    if creds is None or not creds.username:
        raise RegistryAuthError(f"not logged into {key}")
    return creds.username


@attrs.frozen
class LogoutResult:
    """What :func:`logout` did: the key (``""`` for all registries) and whether its
    credentials were removed; not ``removed``: the auth file had none, but valid ones
    were found in another file of the lookup (Docker's ``~/.docker/config.json``),
    which are kept (podman's ``Please use docker logout instead``)."""

    key: str
    removed: bool = True


def logout(runtime: Runtime, registry: str = "", *, authfile: str = "",
           all: bool = False) -> LogoutResult:
    """Remove the credentials for the registry (every registry's with ``all``) from
    the auth file.  RegistryAuthError (``not logged into KEY``) when no file has valid
    ones; InvalidArgError for an ``authfile`` that does not exist (podman's
    ``checking authfile`` error)."""
    if authfile and not os.path.exists(authfile):
        raise InvalidArgError(f"checking authfile: stat {authfile}: no such file or "
                              "directory")
    if all:
        if registry:
            raise InvalidArgError("--all takes no arguments")
        auth.remove_all(authfile)
        return LogoutResult("")
    key, host = credentials_key(runtime, registry)
    if auth.remove(key, authfile):
        return LogoutResult(key)
    if _valid_elsewhere(runtime, key, host, authfile):
        return LogoutResult(key, removed=False)
    raise RegistryAuthError(f"not logged into {key}")


def _valid_elsewhere(runtime: Runtime, key: str, host: str, authfile: str) -> bool:
    """Whether the lookup finds a user name and password for ``key`` that the
    registry accepts (podman asks it too: stale ones are "not logged into")."""
    try:
        creds = auth.lookup(key, authfile)
    except RegistryAuthError as exc:  # a credential helper's: pypod cannot ask it
        raise RegistryAuthError(f"get credentials: {exc}") from None
    if creds is None or not creds.username or not creds.password:
        return False
    try:
        check(runtime, host, creds, tls_verify=None, cert_dir="")
    except RegistryError:
        return False
    return True
