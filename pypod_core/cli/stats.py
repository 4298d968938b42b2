"""``stats`` (also ``container stats``) and ``pod stats``, as podman 4.3's: a table of
containers' resource use, redrawn every interval until interrupted (``--no-stream``:
once), or each sample as ``--format`` asks (a Go template, ``table ...``, ``json``).

Units as podman's: sizes in go-units' decimal units (``MemUsageBytes``: binary), CPU
figures as percentages with two decimals, ``CPU TIME`` a Go duration.  Streaming clears
the screen before each sample when the output is a terminal (``--no-reset``: never);
Ctrl-C ends it quietly.  The figures are :mod:`pypod_core.engine.stats`'.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.errors import CtrRemovedError, InvalidArgError, NoSuchCtrError, NoSuchPodError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.engine.container import Container
    from pypod_core.engine.stats import ContainerStats

#: podman's ``report.IsJSON``: ``json`` or ``{{json .}}``.
_JSON = re.compile(r"^\s*(json|{{\s*json\s*(\.)?\s*}})\s*$")
#: The terminal's "clear the screen, cursor home" (goterm's Clear and MoveCursor(1, 1)).
CLEAR = "\033[2J\033[1;1H"

#: Column headers of ``stats`` templates: podman's overrides, and its upper-cased,
#: word-split field names for the rest (``PIDs`` is ``PI DS`` there too).
STATS_HEADERS = {
    "ID": "ID", "UpTime": "CPU TIME", "CPUPerc": "CPU %", "AVGCPU": "AVG CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemUsageBytes": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %", "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDS": "PIDS",
    "AvgCPU": "AVG CPU", "ContainerID": "CONTAINER ID", "Name": "NAME",
    "PerCPU": "PER CPU", "CPU": "CPU", "CPUNano": "CPU NANO",
    "CPUSystemNano": "CPU SYSTEM NANO", "SystemNano": "SYSTEM NANO",
    "MemLimit": "MEM LIMIT", "NetInput": "NET INPUT", "NetOutput": "NET OUTPUT",
    "BlockInput": "BLOCK INPUT", "BlockOutput": "BLOCK OUTPUT", "PIDs": "PI DS",
    "Duration": "DURATION",
}
STATS_COLUMNS = ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDS",
                 "UpTime", "AVGCPU")
POD_HEADERS = {
    "CPU": "CPU %", "MemUsage": "MEM USAGE/ LIMIT", "MemUsageBytes": "MEM USAGE/ LIMIT",
    "Mem": "MEM %", "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDS": "PIDS",
    "Pod": "POD", "CID": "CID", "Name": "NAME",
}
POD_COLUMNS = ("Pod", "CID", "Name", "CPU", "MemUsage", "Mem", "NetIO", "BlockIO", "PIDS")


class GoFloat(float):
    """A float that prints as Go's ``%v`` does (``0``, ``12.5``, ``1.5e-05``), so that a
    template's ``{{.CPU}}`` reads as podman's and ``printf "%.1f"`` still takes it."""

    def __str__(self) -> str:
        if math.isnan(self) or math.isinf(self):
            return "NaN" if math.isnan(self) else ("+Inf" if self > 0 else "-Inf")
        if self == 0:
            return "0"
        d = Decimal(repr(float(self))).normalize()
        exp = d.adjusted()
        if -4 <= exp < 6:  # Go's shortest %g: an exponent below 1e-4 and from 1e6
            return format(d, "f")
        mantissa, _, power = format(d, "e").partition("e")
        return f"{mantissa}e{'-' if power.startswith('-') else '+'}{abs(int(power)):02d}"


def bytes_size(size: float) -> str:
    """go-units' ``BytesSize``: binary units, 4 significant digits (``1.5KiB``)."""
    value = float(max(size, 0))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.4g}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _percent(value: float) -> str:
    return f"{value:.2f}%"


def stats_row(s: ContainerStats, no_trunc: bool = False) -> dict[str, Any]:
    """The fields a ``stats`` template reads (podman's names), for one sample."""
    from pypod_core.engine.logs import human_size  # lazy: only when printing (~0.2 ms)
    from pypod_core.engine.top import go_duration  # lazy: as above (~0.5 ms)

    raw = {"AvgCPU": GoFloat(s.avg_cpu), "ContainerID": s.container_id, "Name": s.name,
           "PerCPU": list(s.per_cpu), "CPU": GoFloat(s.cpu), "CPUNano": s.cpu_nano,
           "CPUSystemNano": s.cpu_system_nano, "SystemNano": s.system_nano,
           "MemUsage": s.mem_usage, "MemLimit": s.mem_limit, "MemPerc": GoFloat(s.mem_perc),
           "NetInput": s.net_input, "NetOutput": s.net_output,
           "BlockInput": s.block_input, "BlockOutput": s.block_output, "PIDs": s.pids,
           "UpTime": go_duration(s.cpu_nano / 1e9), "Duration": s.cpu_nano}
    return {**raw, "ContainerStats": raw,
            "ID": s.container_id if no_trunc else s.container_id[:12],
            "CPUPerc": _percent(s.cpu), "AVGCPU": _percent(s.avg_cpu),
            "Up": raw["UpTime"], "MemPerc": _percent(s.mem_perc),
            "NetIO": f"{human_size(s.net_input)} / {human_size(s.net_output)}",
            "BlockIO": f"{human_size(s.block_input)} / {human_size(s.block_output)}",
            "PIDS": str(s.pids),
            "MemUsage": f"{human_size(s.mem_usage)} / {human_size(s.mem_limit)}",
            "MemUsageBytes": f"{bytes_size(s.mem_usage)} / {bytes_size(s.mem_limit)}"}


def _stats_json(rows: Sequence[dict[str, Any]]) -> str:
    """podman's ``stats --format json``: a few formatted fields of each, indented by 1."""
    keys = (("id", "ID"), ("name", "Name"), ("cpu_time", "UpTime"),
            ("cpu_percent", "CPUPerc"), ("avg_cpu", "AVGCPU"), ("mem_usage", "MemUsage"),
            ("mem_percent", "MemPerc"), ("net_io", "NetIO"), ("block_io", "BlockIO"),
            ("pids", "PIDS"))
    return json.dumps([{k: row[f] for k, f in keys} for row in rows], indent=1,
                      ensure_ascii=False)


def pod_row(pod_id: str, s: ContainerStats) -> dict[str, str]:
    """The fields of a ``pod stats`` line: as ``stats``', but ``--`` for a zero figure
    (a container that is not running), as podman's."""
    from pypod_core.engine.logs import human_size  # lazy: only when printing (~0.2 ms)

    def pair(a: int, b: int, size: Callable[[float], str]) -> str:
        return "-- / --" if a == 0 and b == 0 else f"{size(a)} / {size(b)}"

    return {"CPU": _percent(s.cpu) if s.cpu else "--",
            "MemUsage": pair(s.mem_usage, s.mem_limit, human_size),
            "MemUsageBytes": pair(s.mem_usage, s.mem_limit, bytes_size),
            "Mem": _percent(s.mem_perc) if s.mem_perc else "--",
            "NetIO": pair(s.net_input, s.net_output, human_size),
            "BlockIO": pair(s.block_input, s.block_output, human_size),
            "PIDS": str(s.pids) if s.pids else "--",
            "Pod": pod_id[:12], "CID": s.container_id[:12], "Name": s.name}


def _check_selection(names: Sequence[str], every: bool, latest: bool, what: str) -> None:
    if sum((bool(names), every, latest)) > 1:
        raise InvalidArgError(f"--all, --latest and {what} cannot be used together")


def _check_host(ctx: CLIContext, command: str) -> None:
    """podman's refusal: a rootless user can read a cgroup v2 host's figures only."""
    from pypod_core.host import cgroupfs  # lazy: only stats (~0.2 ms)

    if ctx.runtime.rootless and cgroupfs.hierarchies().v1:
        raise InvalidArgError(f"{command} is not supported in rootless mode without "
                              f"cgroups v2")


def _loop(show: Callable[[], None], once: bool, interval: float) -> int:
    """``show`` a sample, then again every ``interval`` seconds until interrupted (or
    just once); Ctrl-C ends the stream with exit 0 and nothing printed."""
    try:
        while True:
            show()
            sys.stdout.flush()
            if once:
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _clear(ctx: CLIContext, no_reset: bool) -> None:
    """Clear the terminal before a sample (never when piped: nothing to redraw)."""
    if not no_reset and sys.stdout.isatty() and not ctx.args.noout:
        print(CLEAR, end="")


# -- stats -----------------------------------------------------------------------------


def _selected(args: argparse.Namespace, ctx: CLIContext) -> list[Container]:
    """The containers a sample covers: those named (a removed one is an error), the
    newest (``--latest``), every one (``--all``) or the running ones."""
    runtime = ctx.runtime
    if args.latest:
        ctrs = runtime.containers(all=True)
        if not ctrs:
            raise NoSuchCtrError("unable to get list of containers: no containers to get "
                                 "latest")
        return [max(ctrs, key=lambda c: c.config.created)]
    if args.containers:
        return [runtime.lookup_container(name) for name in args.containers]
    return runtime.containers(all=args.all)


def cmd_stats(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod [container] stats [-a|-l|CONTAINER...] [--no-stream] [--format F]``."""
    from pypod_core.cli.report import FieldTable, Report  # lazy: only stats (~1 ms)
    from pypod_core.engine.stats import container_stats  # lazy: as above (~1 ms)
    from pypod_core.host import cgroupfs  # lazy: as above (~0.2 ms)

    _check_selection(args.containers, args.all, args.latest, "containers")
    if args.interval < 1:
        raise InvalidArgError("invalid interval, must be a positive number greater zero")
    as_json = bool(_JSON.match(args.format or ""))
    report: Any = FieldTable(STATS_COLUMNS, STATS_HEADERS) if not args.format or as_json \
        else Report(args.format, STATS_HEADERS)
    _check_host(ctx, "stats")
    where = cgroupfs.hierarchies()
    previous: dict[str, ContainerStats] = {}

    def sample(ctr: Container) -> ContainerStats | None:
        try:
            return container_stats(ctr, previous.get(ctr.id), where)
        except (NoSuchCtrError, CtrRemovedError):
            if args.containers:
                raise
            return None  # removed since it was listed: podman's skip

    def show() -> None:
        samples = [s for c in _selected(args, ctx) if (s := sample(c)) is not None]
        previous.clear()
        previous.update((s.container_id, s) for s in samples)
        rows = [stats_row(s, args.no_trunc) for s in samples]
        _clear(ctx, args.no_reset)
        if as_json:
            ctx.out(_stats_json(rows))
        else:
            report.print(rows, ctx.out)

    return _loop(show, args.no_stream, args.interval)


def _add_stats(sub: Any, group: str | None = None) -> None:
    p = sub.add_parser("stats", help=summary("stats", group))
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.add_argument("-a", "--all", action="store_true",
                   help="every container (those not running show zeros)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="the latest container created")
    p.add_argument("--format", default="", metavar="FORMAT",
                   help="json, or a Go template ('table ...' for a header row)")
    p.add_argument("--no-reset", action="store_true",
                   help="do not clear the screen between samples")
    p.add_argument("--no-stream", action="store_true", help="show one sample and exit")
    p.add_argument("--no-trunc", action="store_true", help="show the full container ids")
    p.add_argument("-i", "--interval", type=int, default=5, metavar="SECONDS",
                   help="seconds between samples (default 5)")
    p.set_defaults(func=cmd_stats)


# -- pod stats -------------------------------------------------------------------------


def _pods(args: argparse.Namespace, ctx: CLIContext) -> list[Any]:
    """The pods of a sample: those named, the newest (``--latest``), or every one."""
    runtime = ctx.runtime
    try:
        if args.latest:
            pods = runtime.pods()
            if not pods:
                raise NoSuchPodError("no pods to get latest")
            return [max(pods, key=lambda p: p.config.created)]
        if args.pods:
            return [runtime.lookup_pod(name) for name in args.pods]
    except NoSuchPodError as e:
        raise NoSuchPodError(f"unable to get list of pods: {e}") from None
    return runtime.pods()


def _pod_lines(rows: list[dict[str, str]], fmt: str) -> list[str]:
    """podman's ``pod stats`` output: its default table (a row of ``--`` for none), or
    the user's template (nothing for no rows)."""
    from pypod_core.cli.report import Report, tabwriter  # lazy: only stats (~1 ms)

    if fmt:
        return Report(fmt, POD_HEADERS).lines(rows) if rows else []
    header = [POD_HEADERS[c] for c in POD_COLUMNS]
    cells = [[row[c] for c in POD_COLUMNS] for row in rows] or [["--"] * len(POD_COLUMNS)]
    return tabwriter(["\t".join(line) for line in (header, *cells)])


def cmd_pod_stats(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod stats [-a|-l|POD...] [--no-stream] [--format F]``: a line for each
    container of each pod (its infra container too), sampled every second."""
    from pypod_core.engine.stats import container_stats  # lazy: only stats (~1 ms)
    from pypod_core.host import cgroupfs  # lazy: as above (~0.2 ms)

    _check_selection(args.pods, args.all, args.latest, "arguments")
    as_json = bool(_JSON.match(args.format or ""))
    if args.format and not as_json:
        from pypod_core.cli.gotemplate import parse  # lazy: only --format (~1.5 ms)

        parse(args.format.removeprefix("table "))  # a malformed one fails before any work
    _check_host(ctx, "pod stats")
    where = cgroupfs.hierarchies()

    def show() -> None:
        # Each sample measures CPU % from each container's start, as podman's.
        rows = [pod_row(pod.id, container_stats(c, None, where))
                for pod in _pods(args, ctx) for c in pod.containers()]
        if as_json:
            ctx.out(json.dumps(rows, indent=5, ensure_ascii=False))
            return
        _clear(ctx, args.no_reset)
        for line in _pod_lines(rows, args.format):
            ctx.out(line)

    return _loop(show, args.no_stream, 1)


def _add_pod_stats(pod: Any) -> None:
    p = pod.add_parser("stats", help=summary("stats", "pod"))
    p.add_argument("pods", nargs="*", metavar="POD")
    p.add_argument("-a", "--all", action="store_true", help="every pod (the default)")
    p.add_argument("-l", "--latest", action="store_true", help="the latest pod created")
    p.add_argument("--format", default="", metavar="FORMAT",
                   help="json, or a Go template ('table ...' for a header row)")
    p.add_argument("--no-reset", action="store_true",
                   help="do not clear the screen between samples")
    p.add_argument("--no-stream", action="store_true", help="show one sample and exit")
    p.set_defaults(func=cmd_pod_stats)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add ``stats``, ``container stats`` and ``pod stats`` where the command line
    needs them."""
    add_parsers({"_add_stats": _add_stats}, "stats", sub, groups, want)
    if "container" in groups and want("stats", group="container"):
        _add_stats(groups["container"], "container")
    if "pod" in groups and want("stats", group="pod"):
        _add_pod_stats(groups["pod"])
