"""Image commands, as podman 4.3.1's: ``images``, ``rmi``, ``tag``, ``untag``, ``pull``,
and the group ``image`` (``ls``/``list``, ``inspect``, ``exists``, ``rm``, ``tag``,
``untag``, ``pull``).

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the words and summaries are the table in :mod:`pypod_core.cli.commands`.  This module is
imported for every image command, so it imports nothing heavy at module level: the
registry client is imported by the engine's pull only, the JSON and template code only
by the commands that print them (``pypod images`` must start fast).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import sub_commands, summary
from pypod_core.cli.output import parse_format
from pypod_core.cli.report import FieldTable, Report
from pypod_core.errors import (
    ImageInUseError,
    InvalidArgError,
    NoSuchImageError,
    PypodError,
)

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.model import Image

#: podman's exit codes of ``rmi``: an image is not known (and nothing worse failed);
#: an image is in use by a container.
EXIT_NOT_KNOWN = 1
EXIT_IN_USE = 2
EXIT_ERROR = 125

#: ``images``' table headers for the template fields podman gives one (the others show
#: ``<no value>``, as podman's).
IMAGE_HEADERS = {
    "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "Created": "CREATED", "Size": "SIZE", "Names": "NAMES",
    "Labels": "LABELS", "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE", "RepoTags": "REPO TAGS", "RepoDigests": "REPO DIGESTS",
    "History": "HISTORY", "Dangling": "DANGLING", "ReadOnly": "R/O", "ParentId": "PARENT ID",
}
#: ``images --sort`` keys, podman's.
SORT_KEYS = ("created", "id", "repository", "size", "tag")


def _parser(sub: Any, word: str, group: str | None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(word, help=summary(word, group))
    return p


# -- images / image ls -----------------------------------------------------------------


def cmd_images(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod images [-a] [-q] [--no-trunc] [-n] [--digests] [--history] [--format F]
    [--filter K=V] [--sort KEY] [IMAGE]``: one row per name (``<none>`` for an image
    without one), newest first."""
    fmt = args.format
    whole_json = fmt.strip() in ("json", "{{json .}}")
    template = None if whole_json or not fmt else _report(fmt)  # before any work
    if args.sort not in SORT_KEYS:
        raise InvalidArgError(f'"{args.sort}" is not a valid field for sorting. Choose '
                              f"from: {', '.join(SORT_KEYS)}")
    runtime = ctx.runtime
    images = runtime.images()
    specs = [*args.filter, *([f"reference={args.image}"] if args.image else [])]
    # Reading every container costs a command that does not show or filter by them.
    counted = whole_json or template is not None or any(s.startswith("containers")
                                                        for s in specs)
    used = _container_counts(runtime) if counted else {}
    if specs:
        from pypod_core.cli.image_filters import (  # lazy: only --filter (~0.5 ms)
            FilterContext,
            compile_filters,
        )
        from pypod_core.engine.image_store import find_image  # lazy: the engine, not for parsing

        def lookup(ref: str) -> Image:
            found = find_image(images, ref)
            if found is None:
                raise NoSuchImageError(f"{ref}: image not known")
            return found

        test = compile_filters(specs, FilterContext(lookup, lambda i: i.id in used,
                                                    time.time()))
        images = [image for image in images if test(image)]
    rows = _sorted(_rows(runtime, images, used, args.no_trunc, time.time()), args.sort)
    if whole_json:
        ctx.out(json.dumps([row["_summary"] for row in rows], indent=4))
    elif args.quiet and template is None:
        for image_id in dict.fromkeys(row["ID"] for row in rows):
            ctx.out(image_id)
    else:
        report = template or _default_table(args)
        report.print(rows, ctx.out, heading=not args.noheading)
    return 0


def _add_images(sub: Any, word: str = "images", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("-a", "--all", action="store_true",
                   help="show all images (pypod has no intermediate images to hide)")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="reference=, label=, dangling=, before=, since=, until=, id=, "
                        "containers=, readonly=, intermediate= (KEY!=VALUE negates)")
    p.add_argument("--format", default="", help="json, or a Go template ('table ...')")
    p.add_argument("--history", action="store_true", help="show each image's name history")
    p.add_argument("--no-trunc", action="store_true", help="full image ids")
    p.add_argument("-n", "--noheading", action="store_true", help="no header row")
    p.add_argument("-q", "--quiet", action="store_true", help="image ids only")
    p.add_argument("--sort", default="created", help=f"one of {', '.join(SORT_KEYS)}")
    p.add_argument("image", nargs="?", metavar="IMAGE", help="only images this names "
                   "(a reference= pattern)")
    p.set_defaults(func=cmd_images)


def _report(fmt: str) -> Report:
    return Report(fmt, IMAGE_HEADERS)


def _default_table(args: argparse.Namespace) -> FieldTable:
    """podman's default table (``table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}...``), with
    the DIGEST and HISTORY columns when asked for."""
    fields = ["Repository", "Tag", *(["Digest"] if args.digests else []),
              "ID", "CreatedSince", "Size", *(["History"] if args.history else [])]
    return FieldTable(fields, IMAGE_HEADERS)


def _container_counts(runtime: Any) -> dict[str, int]:
    """How many containers (of every namespace's) each image id has."""
    counts: dict[str, int] = {}
    for record in runtime.state.all_containers():
        image_id = record.config.image_id
        if image_id:
            counts[image_id] = counts.get(image_id, 0) + 1
    return counts


def _rows(runtime: Any, images: list[Image], used: dict[str, int], no_trunc: bool,
          now: float) -> list[dict[str, Any]]:
    """One row per name of each image (one ``<none>`` row for an image without), with
    every field podman's templates have, and the image's JSON entry (``_summary``)."""
    from pypod_core.engine import image_inspect as ii  # lazy: the engine, not for parsing
    from pypod_core.engine.inspect import ago  # lazy: the engine, not for parsing

    store = runtime.image_store
    rows = []
    for image in images:
        size = ii.podman_size(store, image)
        entry = ii.summary(image, size, used.get(image.id, 0))
        created = entry["Created"]
        names = entry.get("Names", [])
        since = f"{ago(now - created)} ago"
        common = {
            "ID": "sha256:" + image.id if no_trunc else image.short_id, "Id": image.id,
            "ParentId": "", "Digest": image.digest, "CreatedSince": since,
            "Created": since, "CreatedAt": ii.go_time_string(created),
            "Size": human_size(size), "SharedSize": 0, "VirtualSize": size,
            "Names": names, "Labels": entry["Labels"] or {}, "Containers": entry["Containers"],
            "RepoTags": names, "RepoDigests": entry["RepoDigests"],
            "History": ", ".join(image.names) or "<none>", "Dangling": not image.names,
            "ReadOnly": False, "IsReadOnly": False, "_summary": entry, "_created": created,
            "_size": size,
        }
        for name in names or [None]:
            repository = ii.repository_of(name) if name else "<none>"
            tag = ii.tag_of(name) if name else "<none>"
            rows.append({**common, "Repository": repository, "Tag": tag})
    return rows


def _sorted(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """podman's ``--sort``: newest first for ``created``, else ascending."""
    if key == "created":
        return sorted(rows, key=lambda r: r["_created"], reverse=True)
    field = {"id": "Id", "repository": "Repository", "tag": "Tag", "size": "_size"}[key]
    return sorted(rows, key=lambda r: r[field])


def human_size(size: int) -> str:
    """A size as ``images`` shows it (go-units' HumanSizeWithPrecision(size, 3), with
    podman's space before the unit): ``2 MB``, ``11.3 kB``, ``0 B``."""
    value = float(max(size, 0))
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        if value < 1000:
            return f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g} YB"


# -- image inspect -----------------------------------------------------------------------


def inspect_docs(ctx: CLIContext, names: list[str]) -> tuple[list[dict[str, Any]],
                                                            list[str]]:
    """``image inspect``'s document for each image ``names`` names, and the error of
    each one that cannot be shown (``NAME: image not known``)."""
    from pypod_core.engine.image_inspect import inspect_image  # lazy: the engine, not for parsing

    runtime = ctx.runtime
    docs, errors = [], []
    for name in names:
        try:
            image = runtime.get_image(name)
        except PypodError as exc:
            errors.append(str(exc))
            continue
        docs.append(inspect_image(runtime.image_store, runtime.graph_driver, image))
    return docs, errors


def go_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """An inspect document as podman's Go templates see it: its JSON ``Id`` is the
    struct's field ``ID`` (``{{.ID}}``; ``{{.Id}}`` works too, as before)."""
    return {**doc, "ID": doc["Id"]} if "Id" in doc and "ID" not in doc else doc


def print_inspected(ctx: CLIContext, docs: list[dict[str, Any]], errors: list[str],
                    template: Any) -> int:
    """Print inspect documents (a JSON list, or the template for each), then the
    errors as podman does: all but the first as ``error inspecting object: ...``
    lines, the first as the ``Error:`` line; 125 if there was one."""
    if template is not None:
        for doc in docs:
            ctx.out(template.render(go_fields(doc)))
    else:
        ctx.out(json.dumps(docs, indent=4))
    for message in reversed(errors[1:]):
        print(f"error inspecting object: {message}", file=sys.stderr)
    if errors:
        print(f"Error: inspecting object: {errors[0]}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def cmd_image_inspect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod image inspect [-f F] IMAGE...``: podman's keys."""
    template = parse_format(args.format, "json", "{{json .}}")
    if not args.images:
        raise InvalidArgError("no names or ids specified")
    docs, errors = inspect_docs(ctx, args.images)
    return print_inspected(ctx, docs, errors, template)


def _add_image_inspect(sub: Any, word: str = "inspect", group: str | None = "image") -> None:
    p = _parser(sub, word, group)
    p.add_argument("-f", "--format", default="json", help="json, or a Go template")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(func=cmd_image_inspect)


# -- image exists ------------------------------------------------------------------------


def cmd_image_exists(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod image exists IMAGE``: exit 0 if the store has it, 1 if not (podman's)."""
    if len(args.images) != 1:
        raise InvalidArgError(f"accepts 1 arg(s), received {len(args.images)}")
    return 0 if ctx.runtime.image_exists(args.images[0]) else 1


def _add_exists(sub: Any, word: str = "exists", group: str | None = "image") -> None:
    p = _parser(sub, word, group)
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(func=cmd_image_exists)


# -- rmi / image rm ----------------------------------------------------------------------


def cmd_rmi(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod rmi [-f] [-a] [-i] IMAGE...``, as podman's: every name is looked up
    first (those not known are errors, unless ``-i`` or ``-f``), then each is removed
    (untagged when named by one of several names).  ``Untagged:`` lines, then
    ``Deleted:`` lines; the exit code is 2 if an image is in use, else 125 for another
    error, else 1 if an image is not known."""
    if args.all and args.images:
        raise InvalidArgError("when using the --all switch, you may not pass any images "
                              "names or IDs")
    if not args.all and not args.images:
        raise InvalidArgError("image name or ID must be specified")
    runtime = ctx.runtime
    errors: list[PypodError] = []
    refs = [image.id for image in runtime.images()] if args.all else []
    untagged: list[str] = []
    for ref in args.images:
        try:
            runtime.get_image(ref)
            refs.append(ref)
        except NoSuchImageError as exc:
            handled = _remove_pause_image(ctx, ref)
            if isinstance(handled, PypodError):
                errors.append(handled)
            elif handled:
                untagged.append(ref)
            elif not (args.ignore or args.force):
                errors.append(exc)
        except PypodError as exc:
            errors.append(exc)
    deleted: list[str] = []
    for ref in refs:
        try:
            removal = runtime.remove_image(ref, force=args.force, every_name=args.all)
        except PypodError as exc:
            errors.append(exc)
            continue
        # podman lists a deleted image's names oldest first (the store keeps them
        # newest first)
        untagged += reversed(removal.untagged) if removal.deleted else removal.untagged
        if removal.deleted:
            deleted.append(removal.image.id)
    for name in untagged:
        ctx.out(f"Untagged: {name}")
    for image_id in deleted:
        ctx.out(f"Deleted: {image_id}")
    _report_errors([str(exc) for exc in errors])
    return _rmi_exit_code(errors)


def _remove_pause_image(ctx: CLIContext, ref: str) -> bool | PypodError:
    """If ``ref`` is podman's name of the pause image and pypod's infra root filesystem
    (built in its place) is there: True once it is removed, or the error why it is not
    (in use); False otherwise (not that name, or nothing built)."""
    from pypod_core.engine import infra  # lazy: only rmi of a name not in the store

    if ref != infra.pause_image_name():
        return False
    try:
        return infra.remove_pause_rootfs(ctx.runtime)
    except PypodError as exc:
        return exc


def _add_rmi(sub: Any, word: str = "rmi", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("-a", "--all", action="store_true", help="remove every image")
    p.add_argument("-f", "--force", action="store_true",
                   help="remove the containers using them too; no error for an image "
                        "not known")
    p.add_argument("-i", "--ignore", action="store_true",
                   help="no error for an image not known")
    p.add_argument("--no-prune", action="store_true",
                   help="keep dangling parents (pypod's images have no parents)")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(func=cmd_rmi)


def _rmi_exit_code(errors: list[PypodError]) -> int:
    if any(isinstance(exc, ImageInUseError) for exc in errors):
        return EXIT_IN_USE
    if any(not isinstance(exc, NoSuchImageError) for exc in errors):
        return EXIT_ERROR
    return EXIT_NOT_KNOWN if errors else 0


def _report_errors(messages: list[str]) -> None:
    """One ``Error:`` line, or podman's list of several (``Error: 2 errors occurred:``
    then a tab-indented ``* message`` each)."""
    if len(messages) == 1:
        print(f"Error: {messages[0]}", file=sys.stderr)
    elif messages:
        lines = "".join(f"\n\t* {m}" for m in messages)
        print(f"Error: {len(messages)} errors occurred:{lines}", file=sys.stderr)


# -- tag and untag -----------------------------------------------------------------------


def cmd_tag(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod tag IMAGE NAME...``: every name is checked before any is added (podman
    adds the ones before a malformed name)."""
    if len(args.names) < 2:
        raise InvalidArgError(f"requires at least 2 arg(s), only received {len(args.names)}")
    ctx.runtime.tag_image(args.names[0], *args.names[1:])
    return 0


def _add_tag(sub: Any, word: str = "tag", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("names", nargs="*", metavar="IMAGE NAME")
    p.set_defaults(func=cmd_tag)


def cmd_untag(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod untag IMAGE [NAME...]``: take those names (all of them if none is given)
    from the image, which stays in the store."""
    if not args.names:
        raise InvalidArgError("requires at least 1 arg(s), only received 0")
    ctx.runtime.untag_image(args.names[0], *args.names[1:])
    return 0


def _add_untag(sub: Any, word: str = "untag", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("names", nargs="*", metavar="IMAGE [NAME]")
    p.set_defaults(func=cmd_untag)


# -- pull --------------------------------------------------------------------------------


def cmd_pull(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pull [-q] [--tls-verify=BOOL] [--authfile F] [--creds U:P] [--platform
    OS/ARCH[/VARIANT] | --os --arch --variant] [--signature-policy F] IMAGE...``:
    podman's progress lines on stderr (bars when it is a terminal), each image's id on
    stdout; the first failure ends it (exit 125)."""
    if args.all_tags:
        raise InvalidArgError("pull --all-tags is not supported by pypod")
    if not args.images:
        raise InvalidArgError("requires at least 1 arg(s), only received 0")
    from pypod_core.cli.pull_options import pull_arguments  # lazy: only pull (~0.2 ms)

    pulling = pull_arguments(args)
    progress = None
    if not args.quiet:
        from pypod_core.cli.pull_progress import PullProgress  # lazy: only pull (~0.2 ms)

        progress = PullProgress(sys.stderr)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    for ref in args.images:
        image = ctx.runtime.pull_image(ref, progress=progress, tty=tty, choose=choose_image,
                                       cert_dir=args.cert_dir, **pulling)
        ctx.out(image.id)
    return 0


def choose_image(candidates: Sequence[str]) -> str:
    """Ask on the terminal which of a short name's ``candidates`` to pull (podman's
    prompt in ``enforcing`` short-name mode): a numbered list on stderr, a number read
    from stdin."""
    print("? Please select an image:", file=sys.stderr)
    for i, candidate in enumerate(candidates, 1):
        print(f"  {i}) {candidate}", file=sys.stderr)
    for _ in range(3):
        print(f"Enter a number (1-{len(candidates)}): ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip()
        if answer.isdigit() and 1 <= int(answer) <= len(candidates):
            return candidates[int(answer) - 1]
    raise InvalidArgError("no image chosen of the short name's candidates")


def _add_pull(sub: Any, word: str = "pull", group: str | None = None) -> None:
    p = _parser(sub, word, group)
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="every tag of the repository (not supported: refused)")
    from pypod_core.cli.pull_options import add_pull_flags  # lazy: only pull (~0.2 ms)

    add_pull_flags(p)
    p.add_argument("--cert-dir", default="", metavar="DIR",
                   help="a certs.d directory (*.crt CAs, *.cert/*.key client certificates)")
    p.add_argument("--disable-content-trust", action="store_true",
                   help="Docker's option; does nothing (as podman's)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(func=cmd_pull)


# -- registration ------------------------------------------------------------------------

#: Each image word's parser maker, at the top level and under ``pypod image``.
_TOP = {"images": _add_images, "rmi": _add_rmi, "tag": _add_tag, "untag": _add_untag,
        "pull": _add_pull}
_GROUP = {"ls": _add_images, "list": _add_images, "inspect": _add_image_inspect,
          "exists": _add_exists, "rm": _add_rmi, "tag": _add_tag, "untag": _add_untag,
          "pull": _add_pull}


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the image commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`), at the top level and under ``pypod image``."""
    for word, add in _TOP.items():
        if want(word):
            add(sub, word, None)
    if "image" in groups:
        for word in sub_commands("image", "images"):
            if want(word, group="image"):
                _GROUP[word](groups["image"], word, "image")
