"""Registry logins of the Runtime: ``login``, ``logout`` and ``get_login`` (podman's
``login --get-login``), over :mod:`pypod_core.engine.login`.

:class:`LoginOps` is a mixin of :class:`pypod_core.engine.runtime.Runtime`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pypod_core.engine.runtime_half import RuntimeHalf

if TYPE_CHECKING:
    from pypod_core.engine.login import LoginResult, LogoutResult


class LoginOps(RuntimeHalf):
    """The login part of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    def login(self, registry: str = "", username: str = "", password: str = "", *,
              authfile: str = "", tls_verify: bool | None = None,
              cert_dir: str = "") -> LoginResult:
        """Log in to ``registry`` (``host[:port]`` or ``host/namespace``; empty: the
        first search registry) as ``podman login``: the credentials are checked against
        the registry, then written to the auth file (``authfile``, else
        ``REGISTRY_AUTH_FILE``, else containers' default; 0600, atomic).  Without a
        user name and password, the auth file's credentials for it are checked
        (``LoginResult.existing``).  ``tls_verify`` None follows registries.conf;
        ``cert_dir`` is a certs.d directory.

        Typed errors: RegistryUnauthorizedError (``logging into "KEY": invalid
        username/password``; nothing written), RegistryError (unreachable),
        RegistryAuthError (an identity token), InvalidArgError (a bad key)."""
        from pypod_core.engine.login import login  # lazy: only login (the registry client ~16 ms)

        self.check_valid()
        return login(self._runtime, registry, username, password, authfile=authfile,
                     tls_verify=tls_verify, cert_dir=cert_dir)

    def logout(self, registry: str = "", *, authfile: str = "",
               all: bool = False) -> LogoutResult:
        """Remove the auth file's credentials for ``registry`` (every registry's with
        ``all``), as ``podman logout``: ``LogoutResult(key, removed)``, key ``""`` for
        all; ``removed`` False when the auth file had none but the registry accepts
        the ones another file holds (Docker's ``~/.docker/config.json``, kept).
        RegistryAuthError (``not logged into KEY``) when there are none."""
        from pypod_core.engine.login import logout  # lazy: only logout (the registry client ~16 ms)

        self.check_valid()
        return logout(self._runtime, registry, authfile=authfile, all=all)

    def get_login(self, registry: str = "", authfile: str = "") -> str:
        """The user name logged in to ``registry``; RegistryAuthError if none."""
        # lazy: only login (the registry client ~16 ms)
        from pypod_core.engine.login import get_login

        self.check_valid()
        return get_login(self._runtime, registry, authfile)
