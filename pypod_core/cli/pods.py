"""Pod commands, as podman's: ``pypod pod create|start|stop|kill|restart|pause|unpause|
rm|ps|inspect``.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.  This
module is imported whenever its commands are parsed, so it imports nothing heavy at
module level (argparse, the errors, the small cli.output): handlers import what they use.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.output import error_line, for_each, parse_format, table
from pypod_core.errors import InvalidArgError, NoSuchPodError, PodRemovedError, PypodError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.engine.pod import Pod


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidArgError(f"invalid boolean {text!r}: true or false")


# -- create ----------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod create``: print the new pod's id."""
    # lazy: only pod create (cli.options ~0.4 ms); the engine, not for parsing
    from pypod_core.cli import options as opt
    from pypod_core.engine.runtime_pod import DEFAULT_SHARE, parse_share

    infra = _parse_bool(args.infra)
    share = parse_share(args.share) if args.share is not None else (
        DEFAULT_SHARE if infra else ())
    ports = tuple(m for spec in args.publish for m in opt.parse_publish(spec))
    mode, networks = (None, ()) if args.network is None else opt.parse_network(args.network)
    etc = opt.dns_fields(args.dns, args.dns_search, args.dns_option, args.add_host,
                         args.no_hosts)
    pod = ctx.runtime.create_pod(
        name=args.name, labels=opt.parse_labels(args.label), ports=ports, share=share,
        infra=infra, network_mode=mode, networks=networks, hostname=args.hostname, **etc)
    ctx.out(pod.id)
    return 0


def _add_create(pod: Any) -> None:
    p = pod.add_parser("create", help=summary("create", "pod"))
    p.add_argument("--name", help="assign a name to the pod")
    p.add_argument("-p", "--publish", action="append", default=[],
                   metavar="[IP:][HOST:]CTR[/PROTO]", help="publish a port of the pod")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V")
    p.add_argument("--share", default=None,
                   help="namespaces to share: net,ipc,uts (default), pid; none; +pid adds")
    p.add_argument("--infra", nargs="?", const="true", default="true", metavar="BOOL",
                   help="make an infra container (default true)")
    p.add_argument("--no-infra", dest="infra", action="store_const", const="false",
                   help="make no infra container (nothing is shared)")
    p.add_argument("--network", "--net", default=None,
                   help="bridge, none, host, or network names (comma-separated); "
                        "default: config netns (bridge when rootful)")
    p.add_argument("--hostname", default="", help="the pod's host name (default: its name)")
    from pypod_core.cli.containers import add_etc_flags  # lazy: only pod create (~0.3 ms)

    add_etc_flags(p, "pod")
    p.set_defaults(func=cmd_create)


# -- one verb on many pods -------------------------------------------------------------


def _each(args: argparse.Namespace, ctx: CLIContext, act: Callable[[Pod], Any],
          **for_each_options: Any) -> int:
    """Apply ``act`` to each named pod (or all with ``--all``) and print its id; on an
    error, report it and exit 125 after trying the rest (``for_each_options``: see
    :func:`for_each`)."""
    if getattr(args, "all", False):
        names = [p.id for p in ctx.runtime.pods()]
    elif args.pods:
        names = args.pods
    else:
        raise InvalidArgError(f"pod {args.verb}: at least one pod name or id is required")
    if getattr(args, "time", None) is not None:
        # lazy: the engine, not for parsing
        from pypod_core.engine.validate import check_stop_timeout

        check_stop_timeout(args.time, "--time")
    return for_each(names, ctx.runtime.lookup_pod, act, lambda name, pod, _: pod.id, ctx.out,
                    **for_each_options)


def cmd_start(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod start``."""
    return _each(args, ctx, lambda p: p.start())


def _add_start(pod: Any) -> None:
    _multi(pod.add_parser("start", help=summary("start", "pod")), cmd_start, "start")


def cmd_stop(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod stop [-t N]``."""
    return _each(args, ctx, lambda p: p.stop(args.time))


def _add_stop(pod: Any) -> None:
    p = pod.add_parser("stop", help=summary("stop", "pod"))
    p.add_argument("-t", "--time", type=int, default=None,
                   help="seconds before SIGKILL (default: each container's stop timeout)")
    _multi(p, cmd_stop, "stop")


def cmd_kill(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod kill [-s SIGNAL]``."""
    from pypod_core.cli.options import parse_signal  # lazy: only pod kill (~0.4 ms)

    number = parse_signal(args.signal)
    return _each(args, ctx, lambda p: p.kill(number))


def _add_kill(pod: Any) -> None:
    p = pod.add_parser("kill", help=summary("kill", "pod"))
    p.add_argument("-s", "--signal", default="SIGKILL")
    _multi(p, cmd_kill, "kill")


def cmd_restart(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod restart``."""
    return _each(args, ctx, lambda p: p.restart())


def _add_restart(pod: Any) -> None:
    _multi(pod.add_parser("restart", help=summary("restart", "pod")), cmd_restart, "restart")


def cmd_pause(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod pause``."""
    return _each(args, ctx, lambda p: p.pause())


def _add_pause(pod: Any) -> None:
    _multi(pod.add_parser("pause", help=summary("pause", "pod")), cmd_pause, "pause")


def cmd_unpause(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod unpause``."""
    return _each(args, ctx, lambda p: p.unpause())


def _add_unpause(pod: Any) -> None:
    _multi(pod.add_parser("unpause", help=summary("unpause", "pod")), cmd_unpause, "unpause")


def cmd_rm(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod rm [-f] [-i] [-a] [-t N]``.  As podman's: ``--force`` implies
    ``--ignore`` (a missing pod is no error), ``--time`` needs ``--force``, and the exit
    code is 1 when a pod does not exist."""
    if args.time is not None and not args.force:
        raise InvalidArgError("--force option must be specified to use the --time option")
    missing = (NoSuchPodError, PodRemovedError)
    return _each(args, ctx, lambda p: ctx.runtime.remove_pod(p, force=args.force,
                                                             timeout=args.time),
                 ignore=missing if args.force or args.ignore else (),
                 exit_code=lambda exc: 1 if isinstance(exc, missing) else 125)


def _add_rm(pod: Any) -> None:
    p = pod.add_parser("rm", help=summary("rm", "pod"))
    p.add_argument("-f", "--force", action="store_true",
                   help="stop and remove the pods' containers first; implies --ignore")
    p.add_argument("-i", "--ignore", action="store_true",
                   help="no error for a pod that does not exist")
    p.add_argument("-t", "--time", type=int, default=None, help="seconds before SIGKILL")
    _multi(p, cmd_rm, "rm")


# -- looking at pods -------------------------------------------------------------------


def cmd_ps(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod ps [-q] [--no-trunc] [--format json|TEMPLATE]``."""
    template = parse_format(args.format, "json")  # before any work, as Go's
    pods = ctx.runtime.pods()
    if args.quiet:
        for pod in pods:
            ctx.out(pod.id if args.no_trunc else pod.id[:12])
        return 0
    entries = [pod.ps_entry() for pod in pods]
    created = [pod.config.created for pod in pods]
    if args.format == "json":
        ctx.out(json.dumps(entries, indent=2))
    elif template is not None:
        for entry in entries:
            ctx.out(template.render(_template_view(entry, args.no_trunc)))
    else:
        _table(ctx, list(zip(entries, created, strict=True)), args.no_trunc)
    return 0


def _add_ps(pod: Any, verb: str = "ps") -> None:
    p = pod.add_parser(verb, help=summary(verb, "pod"))
    p.add_argument("-q", "--quiet", action="store_true", help="print ids only")
    p.add_argument("--no-trunc", action="store_true", help="full ids")
    p.add_argument("--format", default="", help="json, or a Go template")
    p.set_defaults(func=cmd_ps)


def _add_ls(pod: Any) -> None:
    _add_ps(pod, "ls")


def _add_list(pod: Any) -> None:
    _add_ps(pod, "list")


def _template_view(entry: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """podman's pod ps template fields: ``.ID``, ``.Name``, ``.Status``, ``.NumberOfContainers``."""
    short = (lambda i: i) if no_trunc else (lambda i: i[:12])
    return {**entry, "ID": short(entry["Id"]), "InfraID": short(entry["InfraId"]),
            "NumberOfContainers": len(entry["Containers"]),
            "Networks": ",".join(entry["Networks"])}


def _table(ctx: CLIContext, entries: list[tuple[dict[str, Any], float]],
           no_trunc: bool) -> None:
    from pypod_core.engine.inspect import ago  # lazy: the engine, not for parsing

    now = time.time()
    header = ("POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS")
    rows = [header]
    for e, created in entries:
        rows.append((e["Id"] if no_trunc else e["Id"][:12], e["Name"], e["Status"],
                     f"{ago(now - created)} ago",
                     e["InfraId"] if no_trunc else e["InfraId"][:12],
                     str(len(e["Containers"]))))
    table(rows, ctx.out)


def cmd_inspect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod inspect [-f F] POD...``: a JSON list (podman's keys), or a Go
    template each."""
    template = parse_format(args.format, "json", "{{json .}}")
    docs, code = [], 0
    for name in args.pods:
        try:
            docs.append(ctx.runtime.lookup_pod(name).inspect())
        except PypodError as exc:
            error_line(str(exc))
            code = 125
    if template is not None:
        for doc in docs:
            ctx.out(template.render(doc))
    else:
        ctx.out(json.dumps(docs, indent=4))
    return code


def _add_inspect(pod: Any) -> None:
    p = pod.add_parser("inspect", help=summary("inspect", "pod"))
    p.add_argument("-f", "--format", default="", help="json, or a Go template")
    p.add_argument("pods", nargs="+", metavar="POD")
    p.set_defaults(func=cmd_inspect)


# -- registration ----------------------------------------------------------------------


def _multi(p: argparse.ArgumentParser, handler: Callable[..., int], verb: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="act on every pod")
    p.add_argument("pods", nargs="*", metavar="POD")
    p.set_defaults(func=handler, verb=verb)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod pod`` commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`); each command's parser is made by the
    ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "pods", sub, groups, want, group="pod")
