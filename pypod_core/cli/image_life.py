"""Images made and unmade locally, as podman 4.3.1's commands: ``commit`` (and
``container commit``), ``import`` and ``history`` (and under ``image``), ``export`` (and
``container export``), ``image prune``, ``diff`` (and ``container diff``, ``image diff``).

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the words and summaries are the table in :mod:`pypod_core.cli.commands`.  Nothing heavy
is imported at module level: the engine's modules and the template code only by the
commands that use them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import summary
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.model import Image

#: ``history --format`` fields with a header (the others show ``<no value>``).
HISTORY_HEADERS = {"ID": "ID", "Created": "CREATED", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT", "CreatedAt": "CREATED AT",
                   "CreatedSince": "CREATED SINCE", "Tags": "TAGS"}
#: ``image prune --filter`` keys podman takes.
PRUNE_FILTERS = ("label", "until")


def _parser(sub: Any, word: str, group: str | None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(word, help=summary(word, group))
    return p


def _bool_flag(value: str, flag: str) -> bool:
    if value in ("true", "1", "t", "T", "TRUE", "True"):
        return True
    if value in ("false", "0", "f", "F", "FALSE", "False"):
        return False
    raise InvalidArgError(f'invalid argument "{value}" for "{flag}" flag: strconv.ParseBool: '
                          f'parsing "{value}": invalid syntax')


def _copy_lines(image: Image, new_blobs: int) -> None:
    """podman's progress lines for an image written locally, on stderr."""
    lines = ["Getting image source signatures"]
    lines += [f"Copying blob {layer.digest}" for layer in image.layers[-new_blobs:]]
    lines += [f"Copying config sha256:{image.id}", "Writing manifest to image destination",
              "Storing signatures"]
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


# -- commit ----------------------------------------------------------------------------


def cmd_commit(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod commit [-a A] [-c CHANGE]... [-m MSG] [-p] [-q] [-f oci|docker]
    [--iidfile FILE] CONTAINER [IMAGE]``: the new image's id on stdout."""
    if args.squash:
        raise InvalidArgError("commit --squash is not supported by pypod")
    if args.include_volumes:
        raise InvalidArgError("commit --include-volumes is not supported by pypod")
    pause = _bool_flag(args.pause, "pause")
    runtime = ctx.runtime
    ctr = runtime.lookup_container(args.container)
    image = runtime.commit_container(ctr, args.image or "", changes=args.change,
                                     pause=pause, message=args.message,
                                     author=args.author, format=args.format)
    if not args.quiet:
        _copy_lines(image, len(image.layers))
    if args.iidfile:
        with open(args.iidfile, "w", encoding="utf-8") as f:
            f.write("sha256:" + image.id)
    ctx.out(image.id)
    return 0


def _add_commit(sub: Any, word: str = "commit", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("-a", "--author", default="", help="the image's author")
    p.add_argument("-c", "--change", action="append", default=[], metavar="INSTRUCTION",
                   help="CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, "
                        "VOLUME, WORKDIR (repeatable)")
    p.add_argument("-f", "--format", default="oci", help="oci (default) or docker")
    p.add_argument("--iidfile", default="", help="write the image id to this file")
    p.add_argument("--include-volumes", action="store_true", help="(not supported)")
    p.add_argument("-m", "--message", default="", help="commit message (docker format)")
    p.add_argument("-p", "--pause", nargs="?", const="true", default="false",
                   help="pause the container while its files are read")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("-s", "--squash", action="store_true", help="(not supported)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("image", nargs="?", metavar="IMAGE")
    p.set_defaults(func=cmd_commit)


# -- import / export ---------------------------------------------------------------------


def cmd_import(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod import [-c CHANGE]... [-m MSG] [-q] [--os/--arch/--variant]
    FILE|- [REFERENCE]``: ``sha256:<id>`` on stdout, as podman's."""
    if "://" in args.source:
        raise InvalidArgError(f"{args.source}: importing from a URL is not supported by "
                              f"pypod (download it first)")
    options = {"names": [args.reference] if args.reference else [],
               "changes": args.change, "message": args.message, "os": args.os,
               "arch": args.arch, "variant": args.variant}
    if args.source == "-":
        image = _import_stdin(ctx, options)
    else:
        if not os.path.isfile(args.source):
            raise InvalidArgError(f"{args.source}: no such file")
        image = ctx.runtime.import_image([args.source], **options)
    if not args.quiet:
        _copy_lines(image, 1)
    ctx.out("sha256:" + image.id)
    return 0


def _import_stdin(ctx: CLIContext, options: dict[str, Any]) -> Image:
    """Spool stdin to a file of the image store's (the layer is read twice: hashed,
    then applied), import it, remove the file."""
    # lazy: only import from stdin (shutil ~3 ms, tempfile ~5 ms)
    import shutil
    import tempfile

    runtime = ctx.runtime
    directory = runtime.image_store.home
    os.makedirs(directory, 0o700, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".import-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        spool.flush()
        image: Image = runtime.import_image([spool.name], **options)
    return image


def _add_import(sub: Any, word: str = "import", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("--arch", default="", help="the image's architecture")
    p.add_argument("-c", "--change", action="append", default=[], metavar="INSTRUCTION",
                   help="CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, "
                        "WORKDIR (repeatable)")
    p.add_argument("-m", "--message", default="", help="the history entry's comment")
    p.add_argument("--os", default="", help="the image's OS")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--variant", default="", help="the image's architecture variant")
    p.add_argument("source", metavar="FILE", help="a tarball (plain, gzip, bzip2, xz, "
                   "zstd), or - for stdin")
    p.add_argument("reference", nargs="?", metavar="REFERENCE")
    p.set_defaults(func=cmd_import)


def cmd_export(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod export [-o FILE] CONTAINER``: its file system as a tar, on stdout (not
    a terminal, as podman refuses) or in FILE."""
    ctr = ctx.runtime.lookup_container(args.container)
    if args.output in ("", "-", "/dev/stdout"):
        if sys.stdout.isatty():
            raise InvalidArgError("refusing to export to terminal. Use -o flag or redirect")
        sys.stdout.flush()
        ctx.runtime.export_container(ctr, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    if ":" in os.path.basename(args.output):
        raise InvalidArgError(f"invalid filename (should not contain ':') {args.output!r}")
    tmp = f"{args.output}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as out:
            ctx.runtime.export_container(ctr, out)
        os.replace(tmp, args.output)
    except OSError as exc:
        raise InvalidArgError(f"{args.output}: {exc.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


def _add_export(sub: Any, word: str = "export", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("-o", "--output", default="", help="the tar file (default: stdout)")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_export)


# -- history ---------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod history [-H=BOOL] [--no-trunc] [-q] [--format F] IMAGE``: newest first."""
    # lazy: only history (images ~0.6 ms, the engine's inspect)
    from pypod_core.cli.images import human_size
    from pypod_core.engine.inspect import ago

    human = _bool_flag(args.human, "human")
    rows = ctx.runtime.image_history(args.image)
    now = time.time()
    views = [_history_view(row, human, args.no_trunc, now, human_size, ago) for row in rows]
    fmt = args.format
    if fmt.strip() in ("json", "{{json .}}"):
        ctx.out(json.dumps([v["_json"] for v in views], separators=(",", ":")))
        return 0
    if args.quiet:
        for view in views:
            ctx.out(view["ID"])
        return 0
    from pypod_core.cli.report import Report  # lazy: only history --format (~0.5 ms)

    template = fmt or ("table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t"
                       "{{.Comment}}")
    Report(template, HISTORY_HEADERS).print(views, ctx.out)
    return 0


def _history_view(row: Any, human: bool, no_trunc: bool, now: float, human_size: Any,
                  ago: Any) -> dict[str, Any]:
    """One history row with podman's template fields and its JSON entry."""
    # lazy: only history (image_inspect ~3.7 ms)
    from pypod_core.engine.image_inspect import go_time_string, rfc3339

    when = _parse_time(row.created)
    since = f"{ago(now - when)} ago"
    created_by = row.created_by
    if not no_trunc and len(created_by) > 45:
        created_by = created_by[:42] + "..."
    short = row.id if no_trunc or len(row.id) < 12 else row.id[:12]
    return {"ID": short, "Created": since if human else rfc3339(when),
            "CreatedSince": since, "CreatedAt": go_time_string(when),
            "CreatedBy": created_by, "Size": human_size(row.size), "Comment": row.comment,
            "Tags": "",
            "_json": {"id": row.id, "created": row.created, "CreatedBy": row.created_by,
                      "size": row.size, "comment": row.comment, "Created": rfc3339(when)}}


def _parse_time(text: str) -> float:
    """An RFC 3339 time (nanoseconds allowed) in seconds; 0 for none."""
    import datetime  # lazy: sqlite3 loads it with the engine, not for parsing (~1.8 ms)

    if not text:
        return 0.0
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        moment = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.UTC)
    except ValueError:
        return 0.0
    return moment.timestamp() + (float("0." + frac) if frac.isdigit() else 0.0)


def _add_history(sub: Any, word: str = "history", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("--format", default="", help="json, or a Go template")
    p.add_argument("-H", "--human", nargs="?", const="true", default="true",
                   help="human sizes and times (default true; --human=false)")
    p.add_argument("--no-trunc", action="store_true", help="whole ids and commands")
    p.add_argument("-q", "--quiet", action="store_true", help="the ids only")
    p.add_argument("image", metavar="IMAGE")
    p.set_defaults(func=cmd_history)


# -- image prune -------------------------------------------------------------------------


def cmd_image_prune(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod image prune [-a] [-f] [--filter label=|until=]``: the ids removed."""
    # lazy: only image prune (the filters ~5 ms)
    from pypod_core.cli.image_filters import FilterContext, compile_filters

    for spec in args.filter:
        key = spec.split("!=", 1)[0] if "!=" in spec else spec.split("=", 1)[0]
        if key not in PRUNE_FILTERS:
            raise InvalidArgError(f'unsupported image filter "{key}"')

    def no_lookup(ref: str) -> Image:
        raise InvalidArgError(f"{ref}: not a prune filter")

    select = compile_filters(args.filter, FilterContext(no_lookup, lambda i: False,
                                                        time.time()))
    if not args.force:
        warning = ("WARNING! This command removes all images without at least one "
                   "container associated with them." if args.all else
                   "WARNING! This command removes all dangling images.")
        print(f"{warning}\nAre you sure you want to continue? [y/N] ", end="", flush=True)
        if not sys.stdin.readline().strip().lower().startswith("y"):
            return 0
    for image in ctx.runtime.prune_images(all=args.all, select=select):
        ctx.out(image.id)
    return 0


def _add_image_prune(sub: Any, word: str = "prune", group: str | None = "image") -> None:
    p = _parser(sub, word, group)
    p.add_argument("-a", "--all", action="store_true",
                   help="also every image no container uses")
    p.add_argument("--external", action="store_true",
                   help="(pypod has no external containers: no effect beyond -a)")
    p.add_argument("--filter", action="append", default=[], metavar="K=V",
                   help="label=K[=V], label!=K[=V], until=TIME")
    p.add_argument("-f", "--force", action="store_true", help="do not ask first")
    p.set_defaults(func=cmd_image_prune)


# -- diff --------------------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod diff [--format json] [-l] OBJECT [BASE]`` (and ``container diff``,
    ``image diff``): ``A``/``C``/``D`` and a path a line, or podman's JSON object."""
    kinds = {"image": ("image",), "container": ("container",)}.get(
        args.diff_group or "", ("image", "container"))
    names = list(args.objects)
    if getattr(args, "latest", False):
        if names:
            raise InvalidArgError("--latest and containers cannot be used together")
        ctrs = ctx.runtime.containers(all=True)
        if not ctrs:
            from pypod_core.errors import NoSuchCtrError  # lazy: only a failure

            raise NoSuchCtrError("no containers to act on: no latest container")
        names = [max(ctrs, key=lambda c: c.config.created).id]
    if not names or len(names) > 2:
        what = "a name, id, or the \"--latest\" flag" if "container" in kinds else \
            "1 or 2 arguments"
        raise InvalidArgError(f'"pypod {args.diff_verb}" requires {what}')
    if args.format and args.format.strip() not in ("json", "{{json .}}"):
        raise InvalidArgError("only supported value for '--format' is 'json'")
    changes = ctx.runtime.diff(names[0], names[1] if len(names) > 1 else "", kinds)
    if args.format:
        body: dict[str, list[str]] = {}
        for key, kind in (("changed", "C"), ("added", "A"), ("deleted", "D")):
            paths = [c.path for c in changes if c.kind == kind]
            if paths:
                body[key] = paths
        ctx.out(json.dumps(body, indent=5))
        return 0
    for change in changes:
        ctx.out(str(change))
    return 0


def _add_diff(sub: Any, word: str = "diff", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("--format", default="", help="json")
    if group != "image":
        p.add_argument("-l", "--latest", action="store_true",
                       help="the container created last")
    p.add_argument("objects", nargs="*", metavar="OBJECT")
    p.set_defaults(func=cmd_diff, diff_group=group,
                   diff_verb=f"{group} diff" if group else "diff")


# -- tree --------------------------------------------------------------------------------


def cmd_image_tree(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod image tree [--whatrequires] IMAGE``: podman's drawing of its layers."""
    if len(args.images) != 1:
        raise InvalidArgError(f"accepts 1 arg(s), received {len(args.images)}")
    ctx.out(ctx.runtime.image_tree(args.images[0], whatrequires=args.whatrequires))
    return 0


def _add_image_tree(sub: Any, word: str = "tree", group: str | None = "image") -> None:
    p = _parser(sub, word, group)
    p.add_argument("--whatrequires", action="store_true",
                   help="the layers stored over the image's, and the images they top")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(func=cmd_image_tree)


# -- registration ------------------------------------------------------------------------

_TOP = {"commit": _add_commit, "import": _add_import, "export": _add_export,
        "history": _add_history, "diff": _add_diff}
_GROUPS = {"image": {"import": _add_import, "history": _add_history,
                     "prune": _add_image_prune, "diff": _add_diff,
                     "tree": _add_image_tree},
           "container": {"commit": _add_commit, "export": _add_export, "diff": _add_diff}}


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the commands the command line needs, at the top level and in the ``image``
    and ``container`` groups."""
    for word, add in _TOP.items():
        if want(word):
            add(sub, word, None)
    for group, adders in _GROUPS.items():
        if group in groups:
            for word, add in adders.items():
                if want(word, group=group):
                    add(groups[group], word, group)
