"""``mount``/``umount``/``unmount`` (also under ``pypod container``) and ``image
mount``/``image unmount``/``image umount``, as podman's: a container's rootfs, or an
image's files read-only, on the host; each mount counted, each unmount counting one off
(``--force``: all).  With no names, ``mount`` lists what is mounted.

Each command's parser (``_add_<command>``, ``_add_image_<command>``) sits beside its
handler; the commands and their summaries are the table in
:mod:`pypod_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import sub_commands, summary, top_level
from pypod_core.cli.container_tools import tab_rows
from pypod_core.cli.output import for_each
from pypod_core.errors import InvalidArgError, NoSuchCtrError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted

_MIXED = "when using the --all switch, you may not pass any image names or IDs"


def _check_format(fmt: str) -> None:
    if fmt and fmt.strip() != "json":
        raise InvalidArgError(f'unknown --format argument: "{fmt}"')


# -- containers ----------------------------------------------------------------------


def _container_names(args: argparse.Namespace, ctx: CLIContext) -> list[str]:
    """The containers named, or every one (``--all``), or the newest (``--latest``)."""
    if args.latest and (args.containers or args.all):
        raise InvalidArgError("--latest and containers cannot be used together"
                              if args.containers else "--all and --latest cannot be used "
                                                      "together")
    if args.all and args.containers:
        raise InvalidArgError("--all and containers cannot be used together")
    if args.latest:
        ctrs = ctx.runtime.containers(all=True)
        if not ctrs:
            raise NoSuchCtrError("no containers to act on: no latest container")
        return [max(ctrs, key=lambda c: c.config.created).id]
    if args.all:
        return [c.id for c in ctx.runtime.containers(all=True)]
    return list(args.containers)


def cmd_mount(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod mount [-a|-l|CONTAINER...]``: each rootfs mounted, its path printed; with
    none, the mounted ones listed (``--format json``, ``--no-trunc``)."""
    names = _container_names(args, ctx)
    if names:
        return for_each(names, ctx.runtime.lookup_container, ctx.runtime.mount_container,
                        lambda name, ctr, path: path, ctx.out)
    _check_format(args.format)
    mounted = ctx.runtime.mounted_containers()
    if args.format:
        ctx.out(json.dumps([{"id": m.container.id, "Names": [m.container.name],
                             "mountpoint": m.path} for m in mounted], indent=1))
    elif mounted:
        tab_rows([[m.container.id if args.no_trunc else m.container.id[:12], m.path]
                  for m in mounted], ctx.out)
    return 0


def cmd_umount(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod umount [-f] [-a|-l|CONTAINER...]``: one mount counted off each (``-f``:
    every one), the name printed (``-a``: each mounted container's id)."""
    if not (args.containers or args.all or args.latest):
        raise InvalidArgError("you must provide at least one name or id")
    if args.all and not args.containers and not args.latest:
        names = [c.id for c in ctx.runtime.containers(all=True) if c.state.user_mounts]
    else:
        names = _container_names(args, ctx)
    rt = ctx.runtime
    return for_each(names, rt.lookup_container, lambda c: rt.unmount_container(c, args.force),
                    lambda name, ctr, _: name, ctx.out)


def _selection(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.add_argument("-a", "--all", action="store_true", help=f"{what} every container")
    p.add_argument("-l", "--latest", action="store_true",
                   help=f"{what} the newest container")


def _add_mount(sub: Any, group: str | None = None) -> None:
    p = sub.add_parser("mount", help=summary("mount", group))
    _selection(p, "mount")
    p.add_argument("--format", default="", help="json: the mounted containers as JSON")
    p.add_argument("--no-trunc", "--notruncate", dest="no_trunc", action="store_true",
                   help="show whole container ids")
    p.set_defaults(func=cmd_mount)


def _add_umount(sub: Any, group: str | None = None, word: str = "umount") -> None:
    p = sub.add_parser(word, help=summary(word, group))
    _selection(p, "unmount")
    p.add_argument("-f", "--force", action="store_true",
                   help="drop every mount, not one")
    p.set_defaults(func=cmd_umount)


def _add_unmount(sub: Any, group: str | None = None) -> None:
    _add_umount(sub, group, "unmount")


# -- images --------------------------------------------------------------------------


def cmd_image_mount(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod image mount [-a|IMAGE...]``: one image's path; several (or ``-a``) as a
    table of name and path; none: the mounted ones (``--format json``)."""
    if args.all and args.images:
        raise InvalidArgError(_MIXED)
    _check_format(args.format)
    rt = ctx.runtime
    if args.images or args.all:
        images = [rt.get_image(ref) for ref in args.images] or rt.images()
        mounted = [(image, rt.mount_image(image.id)) for image in images]
    else:
        mounted = [(m.image, m.path) for m in rt.mounted_images()]
    if len(args.images) == 1 and not args.format and not args.all:
        ctx.out(mounted[0][1])
    elif args.format:
        ctx.out(json.dumps([{"id": image.id, "Names": [image.digest],
                             "Repositories": list(image.names), "mountpoint": path}
                            for image, path in mounted], indent=1))
    elif mounted:
        tab_rows([[image.names[0] if image.names else image.id, path]
                  for image, path in mounted], ctx.out)
    return 0


def cmd_image_unmount(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod image unmount [-f] [-a|IMAGE...]``: one mount counted off each (``-f``:
    every one); the id of each that was mounted printed."""
    if not args.images and not args.all:
        raise InvalidArgError("image name or ID must be specified")
    if args.all and args.images:
        raise InvalidArgError(_MIXED)
    rt = ctx.runtime
    refs = args.images or [m.image.id for m in rt.mounted_images()]
    return for_each(refs, rt.get_image, lambda image: rt.unmount_image(image.id, args.force),
                    lambda ref, image, was: image.id if was else None, ctx.out)


def _add_image_mount(sub: Any) -> None:
    p = sub.add_parser("mount", help=summary("mount", "image"))
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("-a", "--all", action="store_true", help="mount every image")
    p.add_argument("--format", default="", help="json: the mounted images as JSON")
    p.set_defaults(func=cmd_image_mount)


def _add_image_unmount(sub: Any, word: str = "unmount") -> None:
    p = sub.add_parser(word, help=summary(word, "image"))
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("-a", "--all", action="store_true", help="unmount every mounted image")
    p.add_argument("-f", "--force", action="store_true", help="drop every mount, not one")
    p.set_defaults(func=cmd_image_unmount)


def _add_image_umount(sub: Any) -> None:
    _add_image_unmount(sub, "umount")


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add this module's commands the command line needs: at the top level, under
    ``pypod container`` and under ``pypod image``."""
    for verb in top_level("mounting"):
        if want(verb):
            globals()[f"_add_{verb}"](sub)
    if "container" in groups:
        for verb in sub_commands("container", "mounting"):
            if want(verb, group="container"):
                globals()[f"_add_{verb}"](groups["container"], "container")
    if "image" in groups:
        for verb in sub_commands("image", "mounting"):
            if want(verb, group="image"):
                globals()[f"_add_image_{verb}"](groups["image"])
