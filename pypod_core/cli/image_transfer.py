"""Moving images, as podman 4.3.1's commands: ``push``, ``save`` and ``load`` (also
under ``pypod image``).

Their progress goes to stderr as ``pull``'s does (``-q``: none); ``save`` without
``-o`` writes the archive to stdout, refusing a terminal as podman does, and ``load``
without ``-i`` reads it from stdin (into a temporary file: the formats are read in
place).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import sub_commands, summary
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted

SAVE_FORMATS = ("oci-archive", "oci-dir", "docker-archive", "docker-dir")


def _progress(quiet: bool) -> Any:
    if quiet:
        return None
    from pypod_core.cli.pull_progress import PullProgress  # lazy: only with progress

    return PullProgress(sys.stderr)


# -- push --------------------------------------------------------------------------------


def cmd_push(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod push [flags] IMAGE [DEST]``."""
    result = ctx.runtime.push_image(
        args.image, args.destination or None, tls_verify=args.tls_verify,
        authfile=args.authfile, creds=args.creds, format=args.format,
        compression=args.compression_format, remove_signatures=args.remove_signatures,
        progress=_progress(args.quiet), cert_dir=args.cert_dir)
    if args.digestfile:
        try:
            with open(args.digestfile, "w", encoding="utf-8") as f:
                f.write(result.digest)
        except OSError as exc:
            raise InvalidArgError(f"--digestfile {args.digestfile}: "
                                  f"{exc.strerror or exc}") from None
    return 0


def _add_push(sub: Any, word: str = "push", group: str | None = None) -> None:
    from pypod_core.cli.pull_options import go_bool  # lazy: only push's parser

    p = sub.add_parser(word, help=summary(word, group))
    p.add_argument("--authfile", default="",
                   help="the auth file (default: REGISTRY_AUTH_FILE, then containers')")
    p.add_argument("--cert-dir", default="", metavar="DIR",
                   help="a certs.d directory (*.crt CAs, *.cert/*.key client certificates)")
    p.add_argument("--compression-format", default="", choices=("gzip", "zstd"),
                   help="how layers stored uncompressed are compressed (default gzip)")
    p.add_argument("--creds", default="", metavar="USER[:PASSWORD]",
                   help="credentials for the registry")
    p.add_argument("--digestfile", default="", metavar="FILE",
                   help="write the digest of the pushed manifest to FILE")
    p.add_argument("-f", "--format", default="", choices=("oci", "v2s2"),
                   help="the manifest format to write (default: the stored one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.add_argument("--remove-signatures", action="store_true",
                   help="copy no signatures (pypod stores none)")
    p.add_argument("--tls-verify", nargs="?", const=True, default=None, type=go_bool,
                   metavar="BOOL", help="require HTTPS and verified certificates")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("destination", nargs="?", default="", metavar="DESTINATION")
    p.set_defaults(func=cmd_push)


# -- save --------------------------------------------------------------------------------


def cmd_save(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod save [-o FILE] [--format F] [--compress] [--uncompressed] [-m] [-q]
    IMAGE...``."""
    refs, tags = (args.images, []) if args.multi_image_archive else \
        (args.images[:1], args.images[1:])
    layers = {"compress": args.compress, "uncompressed": args.uncompressed}
    if args.compress and args.format != "docker-dir":  # before a terminal is refused
        raise InvalidArgError("--compress can only be set when --format is 'docker-dir'")
    if args.output:
        ctx.runtime.save_images(refs, args.output, format=args.format, tags=tags,
                                progress=_progress(args.quiet), **layers)
        return 0
    if sys.stdout.isatty():
        raise InvalidArgError("refusing to save to terminal. Use -o flag or redirect")
    if args.format.endswith("-dir"):
        raise InvalidArgError(f"--format {args.format} writes a directory: give it with -o")
    import tempfile  # lazy: only a save to stdout

    with tempfile.TemporaryDirectory(prefix="pypod-save-") as tmp:
        path = os.path.join(tmp, "archive.tar")
        ctx.runtime.save_images(refs, path, format=args.format, tags=tags, progress=None,
                                **layers)
        sys.stdout.flush()
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
    return 0


def _add_save(sub: Any, word: str = "save", group: str | None = None) -> None:
    p = sub.add_parser(word, help=summary(word, group))
    p.add_argument("--compress", action="store_true",
                   help="gzip layers stored uncompressed (--format docker-dir only)")
    p.add_argument("--uncompressed", action="store_true",
                   help="the OCI formats take layers stored uncompressed as they are")
    p.add_argument("--format", default="docker-archive", choices=SAVE_FORMATS,
                   help="the format to write (default docker-archive)")
    p.add_argument("-m", "--multi-image-archive", action="store_true",
                   help="every IMAGE into one docker-archive (else the ones after the "
                        "first are more names for it)")
    p.add_argument("-o", "--output", default="", metavar="PATH",
                   help="the file or directory to write (default: stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=cmd_save)


# -- load --------------------------------------------------------------------------------


def cmd_load(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod load [-i FILE] [-q]``: ``Loaded image: NAME`` for each image."""
    progress = _progress(args.quiet)
    if args.input:
        if not os.path.exists(args.input):
            raise InvalidArgError(f"stat {args.input}: no such file or directory")
        result = ctx.runtime.load_images(args.input, progress=progress,
                                         signature_policy=args.signature_policy)
    else:
        if sys.stdin.isatty():
            raise InvalidArgError("cannot read from terminal, use command-line "
                                  "redirection or the --input flag")
        import tempfile  # lazy: only a load from stdin

        fd, path = tempfile.mkstemp(prefix="pypod-load-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
            result = ctx.runtime.load_images(path, progress=progress,
                                             signature_policy=args.signature_policy)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    ctx.out("Loaded image: " + "\nLoaded image: ".join(result.names))
    return 0


def _add_load(sub: Any, word: str = "load", group: str | None = None) -> None:
    p = sub.add_parser(word, help=summary(word, group))
    p.add_argument("-i", "--input", default="", metavar="PATH",
                   help="the archive or layout to read (default: stdin)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.add_argument("--signature-policy", default="", metavar="PATH",
                   help=argparse.SUPPRESS)  # hidden, as podman's
    p.set_defaults(func=cmd_load)


_ADD = {"push": _add_push, "save": _add_save, "load": _add_load}


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add ``push``, ``save`` and ``load`` where the command line needs them."""
    for word, add in _ADD.items():
        if want(word):
            add(sub, word, None)
    if "image" in groups:
        for word in sub_commands("image", "image_transfer"):
            if want(word, group="image"):
                _ADD[word](groups["image"], word, "image")
