"""The flags that say how to pull an image, shared by ``pull`` and by ``create``/``run``
(which pull a missing image first, as podman's do): ``--arch``, ``--os``, ``--variant``,
``--platform``, ``--authfile``, ``--creds``, ``--tls-verify[=BOOL]`` and the hidden
``--signature-policy``.  Small on purpose: ``create`` and ``run`` import it to build
their parsers.
"""

from __future__ import annotations

import argparse
from typing import Any


def go_bool(text: str) -> bool:
    """A flag's boolean value as Go's strconv.ParseBool reads it."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (true or false)")


def add_pull_flags(p: argparse.ArgumentParser) -> None:
    """Add the pull flags to ``p`` (podman's names, defaults and help)."""
    p.add_argument("--arch", default="", help="the architecture to choose from an index")
    p.add_argument("--os", default="", help="the OS to choose from an index")
    p.add_argument("--variant", default="", help="the architecture variant to choose")
    p.add_argument("--platform", default="", metavar="OS/ARCH[/VARIANT]",
                   help="the platform to choose (conflicts with --arch, --os, --variant)")
    p.add_argument("--authfile", default="",
                   help="the auth file (default: REGISTRY_AUTH_FILE, then containers')")
    p.add_argument("--creds", default="", metavar="USER[:PASSWORD]",
                   help="credentials for the registry")
    p.add_argument("--signature-policy", default="", metavar="PATH",
                   help=argparse.SUPPRESS)  # hidden, as podman's
    p.add_argument("--tls-verify", nargs="?", const=True, default=None, type=go_bool,
                   metavar="BOOL", help="require HTTPS and verified certificates "
                   "(default: as registries.conf says; --tls-verify=false for a plain "
                   "http registry)")


def has_platform(args: argparse.Namespace) -> bool:
    """Whether the flags name a platform (podman then asks the registry even when the
    store has the image: its platform may be wrong)."""
    return bool(args.platform or args.os or args.arch or args.variant)


def pull_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """``Runtime.pull_image``'s keyword arguments from the pull flags."""
    platform = None
    if has_platform(args):
        # lazy: only a pull with a platform (~10 ms: hashlib, threading, the manifests)
        from pypod_core.plugin.image_transport import Platform

        platform = Platform.choose(args.platform, args.os, args.arch, args.variant)
    return {"platform": platform, "tls_verify": args.tls_verify, "authfile": args.authfile,
            "creds": args.creds, "signature_policy": args.signature_policy}
