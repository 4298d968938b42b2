"""``pypod system df [-v] [--format F]``: the disk used by images, containers and local
volumes, as podman 4.3.1's table (its sizes: go-units' ``HumanSize``, 4 significant
digits, no space: ``7.288MB``), from ``runtime.disk_usage()``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.report import Report, tabwriter
from pypod_core.engine.logs import human_size

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted

SUMMARY_HEADERS = {"Type": "TYPE", "Total": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                   "Reclaimable": "RECLAIMABLE"}



def _summary_rows(usage: Any) -> list[dict[str, Any]]:
    images, containers, volumes = usage.images, usage.containers, usage.volumes
    raw = [
        ("Images", len(images), sum(1 for i in images if i.containers),
         sum(i.size for i in images), sum(i.size for i in images if not i.containers)),
        ("Containers", len(containers), sum(1 for c in containers if c.status == "running"),
         sum(c.rw_size for c in containers),
         sum(c.rw_size for c in containers if c.status != "running")),
        ("Local Volumes", len(volumes), sum(v.links for v in volumes),
         sum(v.size for v in volumes), sum(v.reclaimable for v in volumes)),
    ]
    rows = []
    for kind, total, active, size, reclaimable in raw:
        percent = int(reclaimable / size * 100 + 0.5) if size > 0 else 0
        rows.append({"Type": kind, "Total": total, "Active": active, "Size": human_size(size),
                     "Reclaimable": f"{human_size(reclaimable)} ({percent}%)",
                     "RawSize": size, "RawReclaimable": reclaimable})
    return rows


def cmd_df(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod system df``: the summary table, ``-v`` each image, container and
    volume, ``--format`` a template (or ``json``) of the summary rows."""
    usage = ctx.runtime.disk_usage()
    if args.verbose:
        _verbose(ctx, usage)
        return 0
    rows = _summary_rows(usage)
    if args.format.strip() in ("json", "{{json .}}"):
        ctx.out(json.dumps([{"Type": r["Type"], "Total": r["Total"], "Active": r["Active"],
                             "Size": r["RawSize"], "Reclaimable": r["RawReclaimable"]}
                            for r in rows], indent=4))
        return 0
    if args.format:
        Report(args.format, SUMMARY_HEADERS).print(rows, ctx.out)
        return 0
    lines = ["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE"]
    lines += [f"{r['Type']}\t{r['Total']}\t{r['Active']}\t{r['Size']}\t{r['Reclaimable']}"
              for r in rows]
    for line in tabwriter(lines):
        ctx.out(line)
    return 0


def _verbose(ctx: CLIContext, usage: Any) -> None:
    """podman's three tables, each under its title."""
    # lazy: only system df -v (image_inspect ~3.7 ms)
    from pypod_core.engine import image_inspect as ii
    from pypod_core.engine.inspect import ago  # lazy: the engine, not for parsing

    now = time.time()
    images = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for u in usage.images:
        names = ii.repo_tags(u.image)
        repo = ii.repository_of(names[0]) if names else "<none>"
        tag = ii.tag_of(names[0]) if names else "<none>"
        images.append(f"{repo}\t{tag}\t{u.image.short_id}\t"
                      f"{ago(now - ii.created_time(u.image))}\t{human_size(u.size)}\t"
                      f"{human_size(u.shared_size)}\t{human_size(u.unique_size)}\t{u.containers}")
    containers = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for c in usage.containers:
        containers.append(f"{c.id[:12]}\t{c.image_id[:12]}\t{' '.join(c.command)}\t"
                          f"{c.local_volumes}\t{human_size(c.rw_size)}\t{ago(now - c.created)}\t"
                          f"{c.status}\t{c.name}")
    volumes = ["VOLUME NAME\tLINKS\tSIZE"]
    volumes += [f"{v.name}\t{v.links}\t{human_size(v.size)}" for v in usage.volumes]
    for title, lines in (("Images", images), ("Containers", containers),
                         ("Local Volumes", volumes)):
        if title != "Images":
            ctx.out("")
        ctx.out(f"{title} space usage:")
        ctx.out("")
        for line in tabwriter(lines):
            ctx.out(line)


def _add_df(group: Any) -> None:
    p = group.add_parser("df", help=summary("df", "system"))
    p.add_argument("--format", default="", help="json, or a Go template of the summary")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="each image, container and volume")
    p.set_defaults(func=cmd_df)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add ``system df`` when the command line needs it."""
    add_parsers(globals(), "disk_usage", sub, groups, want, group="system")
