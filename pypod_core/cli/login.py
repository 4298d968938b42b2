"""``pypod login [REGISTRY]`` and ``pypod logout [REGISTRY]``, as podman 4.3.1's.

login: ``-u/--username``, ``-p/--password``, ``--password-stdin`` (every line of stdin,
joined), ``--authfile``, ``--tls-verify[=BOOL]``, ``--cert-dir``, ``--get-login``,
``-v/--verbose``.  A missing user name is asked for on stdin (``Username: ``), a missing
password on the terminal without echo; with neither given and credentials in the auth
file, those are checked first.  Prints ``Login Succeeded!``.

logout: ``-a/--all``, ``--authfile``; prints ``Removed login credentials for KEY``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import summary
from pypod_core.cli.pull_options import go_bool
from pypod_core.errors import InvalidArgError, RegistryAuthError, RegistryUnauthorizedError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted


def cmd_login(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod login``: the check, the file, podman's lines."""
    runtime = ctx.runtime
    if len(args.registry) > 1:
        raise InvalidArgError("login accepts only one registry to login to")
    registry = args.registry[0] if args.registry else ""
    if args.get_login:
        print(runtime.get_login(registry, args.authfile))
        return 0
    password = args.password
    if args.password_stdin:
        if password:
            raise InvalidArgError("Can't specify both --password-stdin and --password")
        if not args.username:
            raise InvalidArgError("Must provide --username with --password-stdin")
        password = "".join(line.rstrip("\r\n") for line in sys.stdin)
    options: dict[str, Any] = {"authfile": args.authfile, "tls_verify": args.tls_verify,
                               "cert_dir": args.cert_dir}
    old_user = _stored_user(runtime, registry, args.authfile)
    if not args.username and not password and old_user:
        # lazy: only login (the auth files and registry client ~16 ms)
        from pypod_core.engine.login import credentials_key

        key, host = credentials_key(runtime, registry)
        print(f"Authenticating with existing credentials for {key}", flush=True)
        try:
            runtime.login(registry, **options)
        except RegistryUnauthorizedError:
            print("Existing credentials are invalid, please enter valid username and "
                  "password", flush=True)
        else:
            print(f"Existing credentials are valid. Already logged in to {host}")
            return 0
    username, password = _ask(args.username, password, old_user)
    result = runtime.login(registry, username, password, **options)
    if args.verbose:
        print("Used: ", result.authfile)
    print("Login Succeeded!")
    return 0


def _stored_user(runtime: Any, registry: str, authfile: str) -> str:
    """The user name the auth file has for the registry, or ""."""
    try:
        return str(runtime.get_login(registry, authfile))
    except RegistryAuthError:
        return ""


def _ask(username: str, password: str, old_user: str) -> tuple[str, str]:
    """What is missing, asked for as podman asks: the user name on stdin (empty keeps
    the auth file's), the password on the terminal without echo."""
    if not username:
        sys.stdout.write(f"Username ({old_user}): " if old_user else "Username: ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise InvalidArgError("getting username and password: reading username: EOF")
        username = line.strip() or old_user
    if not password:
        sys.stdout.write("Password: ")
        sys.stdout.flush()
        password = _read_password()
        print()
    return username.strip(), password


def _read_password() -> str:
    """A line from the terminal on stdin, not echoed; podman's error when stdin is not
    a terminal."""
    import termios  # lazy: only an interactive login

    fd = sys.stdin.fileno()
    if not os.isatty(fd):
        raise InvalidArgError("getting username and password: reading password: "
                              "inappropriate ioctl for device")
    old = termios.tcgetattr(fd)
    new = list(old)
    new[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSAFLUSH, new)
    try:
        return sys.stdin.readline().rstrip("\r\n")
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)


def cmd_logout(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod logout``."""
    if len(args.registry) > 1:
        raise InvalidArgError("logout accepts only one registry to logout from")
    registry = args.registry[0] if args.registry else ""
    result = ctx.runtime.logout(registry, authfile=args.authfile, all=args.all)
    if not result.removed:  # podman's words (exit 0): only docker's file has them
        print(f"Not logged into {result.key} with current tool. Existing credentials were "
              "established via docker login. Please use docker logout instead.")
    else:
        print(f"Removed login credentials for {result.key}" if result.key else
              "Removed login credentials for all registries")
    return 0


def _add_login(sub: Any) -> None:
    p = sub.add_parser("login", help=summary("login"),
                       description="Log in to a container registry: the credentials are "
                                   "checked against it, then kept in the auth file.")
    p.add_argument("registry", nargs="*", metavar="REGISTRY",
                   help="HOST[:PORT][/NAMESPACE] (default: the first search registry)")
    p.add_argument("-u", "--username", default="", help="the user name")
    p.add_argument("-p", "--password", default="", help="the password")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin")
    p.add_argument("--authfile", default="",
                   help="the auth file (default: REGISTRY_AUTH_FILE, then containers')")
    p.add_argument("--cert-dir", default="", metavar="DIR",
                   help="a certs.d directory (*.crt CAs, *.cert/*.key client certificates)")
    p.add_argument("--get-login", action="store_true",
                   help="print the user logged in to the registry")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print the auth file used")
    p.add_argument("--tls-verify", nargs="?", const=True, default=None, type=go_bool,
                   metavar="BOOL", help="require HTTPS and verified certificates "
                   "(default: as registries.conf says)")
    p.set_defaults(func=cmd_login)


def _add_logout(sub: Any) -> None:
    p = sub.add_parser("logout", help=summary("logout"),
                       description="Remove a registry's credentials from the auth file.")
    p.add_argument("registry", nargs="*", metavar="REGISTRY",
                   help="HOST[:PORT][/NAMESPACE] (default: the first search registry)")
    p.add_argument("-a", "--all", action="store_true",
                   help="remove the credentials of every registry")
    p.add_argument("--authfile", default="",
                   help="the auth file (default: REGISTRY_AUTH_FILE, then containers')")
    p.set_defaults(func=cmd_logout)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add ``login`` and ``logout`` where wanted."""
    if want("login"):
        _add_login(sub)
    if want("logout"):
        _add_logout(sub)
