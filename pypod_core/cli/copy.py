"""``pypod cp`` (also ``pypod container cp``): copy files and tar streams between the
host and containers, or between two containers, as podman's.

    pypod cp [-a|--archive[=BOOL]] [--overwrite[=BOOL]] SRC DEST

One of SRC and DEST is ``CONTAINER:PATH``; ``-`` is a tar stream on stdin (SRC) or stdout
(DEST).  An argument that starts with ``/`` or ``.`` is a host path even with a colon in
it (``./a:b``), as podman reads it.  The rules for paths are the engine's
(:mod:`pypod_core.engine.copy`).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import summary
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted

#: Go's boolean spellings, which podman's ``--flag=VALUE`` takes.
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def add_bool_flag(p: argparse.ArgumentParser, *names: str, default: bool, help: str) -> None:
    """A boolean flag as Go's: ``--name`` sets it, ``--name=false`` (any of Go's
    spellings) clears it, and a following word is never taken as its value."""
    dest = names[-1].lstrip("-").replace("-", "_")
    p.add_argument(*names, dest=dest, action="store_const", const=True, default=default,
                   help=f"{help} (default {str(default).lower()})")
    p.add_argument(*(f"{n}={v}" for n in names for v in _TRUE), dest=dest,
                   action="store_const", const=True, help=argparse.SUPPRESS)
    p.add_argument(*(f"{n}={v}" for n in names for v in _FALSE), dest=dest,
                   action="store_const", const=False, help=argparse.SUPPRESS)


def split_endpoint(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` as (container, path); (None, arg) for a host path or ``-``."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    container, _, path = arg.partition(":")
    if not container:
        raise InvalidArgError(f"{arg!r}: a container name or id is needed before the colon")
    return container, path


def cmd_cp(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod cp SRC DEST``: nothing printed; exit 125 with one line on an error."""
    src_ctr, src = split_endpoint(args.source)
    dst_ctr, dst = split_endpoint(args.dest)
    if src_ctr is None and dst_ctr is None:
        if "-" in (src, dst):
            raise InvalidArgError("cp: a tar stream (-) is copied into or out of a "
                                  "container: the other argument must be CONTAINER:PATH")
        raise InvalidArgError("cp: copying between two host paths is not supported: one "
                              "of SRC and DEST must be CONTAINER:PATH")
    runtime = ctx.runtime
    if src_ctr is not None and dst_ctr is not None:
        # lazy: the engine, not for parsing (copy ~5 ms)
        from pypod_core.engine.copy import copy_between

        copy_between(runtime.lookup_container(src_ctr), src,
                     runtime.lookup_container(dst_ctr), dst, archive=args.archive,
                     overwrite=args.overwrite)
    elif dst_ctr is not None:
        source: Any = sys.stdin.buffer if src == "-" else src
        runtime.lookup_container(dst_ctr).copy_in(source, dst, archive=args.archive,
                                                  overwrite=args.overwrite)
    else:
        assert src_ctr is not None
        ctr = runtime.lookup_container(src_ctr)
        if dst == "-":
            sys.stdout.flush()
            ctr.copy_out(src, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            ctr.copy_out(src, dst, overwrite=args.overwrite)
    return 0


def _add_cp(sub: Any) -> None:
    p = sub.add_parser("cp", help=summary("cp"),
                       description="Copy files between a container and the host (or "
                                   "another container); '-' is a tar stream on stdin or "
                                   "stdout.")
    add_bool_flag(p, "-a", "--archive", default=True,
                  help="copies into a container get its user's uid and gid; with =false "
                       "the source's owners are kept")
    add_bool_flag(p, "--overwrite", default=False,
                  help="let a directory replace a non-directory and the other way round")
    p.add_argument("source", metavar="SRC", help="[CONTAINER:]PATH, or - for a tar on stdin")
    p.add_argument("dest", metavar="DEST",
                   help="[CONTAINER:]PATH, or - for a tar on stdout")
    p.set_defaults(func=cmd_cp)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add ``cp`` at the top level and under ``pypod container``, where wanted."""
    if want("cp"):
        _add_cp(sub)
    if "container" in groups and want("cp", group="container"):
        _add_cp(groups["container"])
