"""Pod commands, as podman's: ``pypod pod create|start|stop|kill|restart|pause|unpause|
rm|ps|inspect|exists|top|prune``.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.  This
module is imported whenever its commands are parsed, so it imports nothing heavy at
module level (argparse, the errors, the small cli.output): handlers import what they use.
"""

from __future__ import annotations

import argparse
import json
import os
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
    mode, networks = (None, ()) if args.network is None else opt.parse_network(
        args.network, ctx.runtime.rootless)
    if opt.slirp_options(args.network):
        raise InvalidArgError("pod create --network slirp4netns:OPTIONS: options are not "
                              "supported for pods by pypod (use --network slirp4netns)")
    etc = opt.dns_fields(args.dns, args.dns_search, args.dns_option, args.add_host,
                         args.no_hosts)
    aliases = _network_aliases(args, infra, mode, networks, ctx)
    if args.name is not None and args.pod_name is not None:
        raise InvalidArgError("cannot specify --name and NAME at the same time")
    if args.pod_id_file and os.path.exists(args.pod_id_file):
        raise InvalidArgError(f"pod id file exists. Ensure another pod is not using it or "
                              f"delete {args.pod_id_file}")
    command = None if args.infra_command is None else \
        opt.parse_entrypoint(args.infra_command)
    name = args.name if args.name is not None else args.pod_name
    if args.replace:
        _replace(ctx, name)
    pod = ctx.runtime.create_pod(
        name=name,
        labels=opt.parse_labels(args.label), ports=ports, share=share,
        infra=infra, network_mode=mode, networks=networks, hostname=args.hostname,
        infra_name=args.infra_name, infra_image=args.infra_image, infra_command=command,
        exit_policy=args.exit_policy, network_options=aliases, **etc)
    if args.pod_id_file:
        with open(args.pod_id_file, "w") as f:
            f.write(pod.id)
    ctx.out(pod.id)
    return 0


def _network_aliases(args: argparse.Namespace, infra: bool, mode: str | None,
                     networks: tuple[str, ...], ctx: CLIContext) -> tuple[Any, ...]:
    """``--network-alias``: the infra container's network options (podman's checks)."""
    if not args.network_alias:
        return ()
    if not infra:
        raise InvalidArgError("cannot set --network-alias without infra container")
    from pypod_core.cli.containers import network_alias_options  # lazy: pod create only

    return network_alias_options(args.network_alias, mode or "bridge", networks, ctx)


def _replace(ctx: CLIContext, name: str | None) -> None:
    """``pod create --replace``: the pod of that name (if any) is removed first, its
    containers stopped and removed with it, as podman's."""
    if not name:
        raise InvalidArgError("cannot replace pod without --name being set")
    try:
        old = ctx.runtime.lookup_pod(name)
    except NoSuchPodError:
        return
    if old.name == name:  # not a pod whose id begins so
        ctx.runtime.remove_pod(old, force=True)


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
    p.add_argument("--network-alias", action="append", default=[], metavar="NAME",
                   help="more names of the pod on each of its networks (those with DNS "
                        "resolve them); comma-separated or repeated")
    p.add_argument("--hostname", default="", help="the pod's host name (default: its name)")
    p.add_argument("--infra-name", default="", metavar="NAME",
                   help="the infra container's name (default: <pod id>-infra)")
    p.add_argument("--infra-image", default="", metavar="IMAGE",
                   help="the infra container's image, or a root filesystem directory "
                        "(default: config infra_image)")
    p.add_argument("--infra-command", default=None, metavar="COMMAND",
                   help="the infra container's command: a path, or a JSON array "
                        "(default: config infra_command, or the image's entrypoint)")
    p.add_argument("--pod-id-file", default="", metavar="FILE",
                   help="write the pod's id to this file (which must not exist)")
    p.add_argument("--replace", action="store_true",
                   help="remove the pod of the same name first, with its containers")
    p.add_argument("--exit-policy", default="continue", metavar="POLICY",
                   help="continue (the default), or stop: the infra container stops "
                        "when the pod's last other container exits")
    from pypod_core.cli.containers import add_etc_flags  # lazy: only pod create (~0.3 ms)

    add_etc_flags(p, "pod")
    p.add_argument("pod_name", nargs="?", default=None, metavar="NAME",
                   help="the pod's name (as --name)")
    p.set_defaults(func=cmd_create)


# -- one verb on many pods -------------------------------------------------------------


def _each(args: argparse.Namespace, ctx: CLIContext, act: Callable[[Pod], Any],
          **for_each_options: Any) -> int:
    """Apply ``act`` to each named pod (or all with ``--all``) and print its id; on an
    error, report it and exit 125 after trying the rest (``for_each_options``: see
    :func:`for_each`)."""
    if getattr(args, "all", False) and (args.pods or args.latest):
        raise InvalidArgError("--all, --latest and pods cannot be used together")
    if args.latest and args.pods:
        raise InvalidArgError("--latest and pods cannot be used together")
    if getattr(args, "all", False):
        names = [p.id for p in ctx.runtime.pods()]
    elif args.latest:
        pods = ctx.runtime.pods()
        if not pods:
            raise NoSuchPodError("no pods to act on: no latest pod")
        names = [max(pods, key=lambda p: p.config.created).id]
    elif args.pods or args.pod_id_file:
        names = list(args.pods) + _pod_id_files(args, bool(for_each_options.get("ignore")))
    else:
        raise InvalidArgError(f"pod {args.verb}: at least one pod name or id is required")
    if getattr(args, "time", None) is not None:
        # lazy: the engine, not for parsing
        from pypod_core.engine.validate import check_stop_timeout

        check_stop_timeout(args.time, "--time")
    return for_each(names, ctx.runtime.lookup_pod, act, lambda name, pod, _: pod.id, ctx.out,
                    **for_each_options)


def _pod_id_files(args: argparse.Namespace, ignore: bool) -> list[str]:
    """The ids in the ``--pod-id-file`` files (as ``pod create --pod-id-file`` writes
    them); a missing file is an error, or skipped with ``--ignore``."""
    ids = []
    for path in args.pod_id_file:
        try:
            with open(path) as f:
                ids.append(f.read().strip())
        except FileNotFoundError:
            if not ignore:
                raise InvalidArgError(f"reading pod ID file: open {path}: no such file or "
                                      "directory") from None
    return ids


def cmd_start(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod start``."""
    return _each(args, ctx, lambda p: p.start())


def _add_start(pod: Any) -> None:
    _multi(pod.add_parser("start", help=summary("start", "pod")), cmd_start, "start")


def cmd_stop(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod stop [-t N] [-i]``: a missing pod is no error with ``--ignore``."""
    return _each(args, ctx, lambda p: p.stop(args.time),
                 ignore=(NoSuchPodError, PodRemovedError) if args.ignore else ())


def _add_stop(pod: Any) -> None:
    p = pod.add_parser("stop", help=summary("stop", "pod"))
    p.add_argument("-t", "--time", type=int, default=None,
                   help="seconds before SIGKILL (default: each container's stop timeout)")
    p.add_argument("-i", "--ignore", action="store_true",
                   help="no error for a pod that does not exist")
    _multi(p, cmd_stop, "stop")


def cmd_kill(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod kill [-s SIGNAL]``."""
    from pypod_core.cli.options import parse_signal  # lazy: only pod kill (~0.4 ms)

    number = parse_signal(args.signal)
    return _each(args, ctx, lambda p: p.kill(number))


def _add_kill(pod: Any) -> None:
    p = pod.add_parser("kill", help=summary("kill", "pod"))
    p.dash_values = frozenset({"-s", "--signal"})  # pod kill -s -INT, as podman's
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
    """``pypod pod ps [-q] [--no-trunc] [-f F] [--sort K] [--noheading] [--format F]``."""
    template = parse_format(args.format, "json")  # before any work, as Go's
    pairs = _ps_pairs(ctx.runtime.pods())
    if args.filter or args.sort:
        from pypod_core.cli import pod_filters  # lazy: only --filter, --sort

        match = pod_filter_or_all(args.filter)
        pairs = [pair for pair in pairs if match(pair[0])]
        if args.sort:
            pairs.sort(key=pod_filters.sort_key(pod_filters.check_sort(args.sort)))
    entries = [entry for entry, _ in pairs]
    if args.quiet and not args.format:
        for entry in entries:
            ctx.out(entry["Id"] if args.no_trunc else entry["Id"][:12])
        return 0
    if args.format == "json":
        ctx.out(json.dumps(entries, indent=2))
    elif template is not None:
        for entry in entries:
            ctx.out(template.render(_template_view(entry, args.no_trunc)))
    else:
        _table(ctx, pairs, args.no_trunc, heading=not args.noheading)
    return 0


def _ps_pairs(pods: list[Pod]) -> list[tuple[dict[str, Any], float]]:
    """Each pod's ps entry with its creation time; a pod removed by another process
    since it was listed is left out (as podman leaves it out), not an error."""
    pairs = []
    for pod in pods:
        try:
            pairs.append((pod.ps_entry(), pod.config.created))
        except NoSuchPodError:
            continue
    return pairs


def pod_filter_or_all(specs: list[str]) -> Callable[[dict[str, Any]], bool]:
    """The predicate of ``--filter``s over pod ps entries (true for all without any)."""
    from pypod_core.cli.pod_filters import pod_filter  # lazy: only --filter

    return pod_filter(specs) if specs else (lambda entry: True)


def _add_ps(pod: Any, verb: str = "ps") -> None:
    p = pod.add_parser(verb, help=summary(verb, "pod"))
    p.add_argument("-q", "--quiet", action="store_true", help="print ids only")
    p.add_argument("--no-trunc", action="store_true", help="full ids")
    p.add_argument("--format", default="", help="json, or a Go template")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="only the pods that match: id, name, label, status, network, "
                        "ctr-names, ctr-ids, ctr-status, ctr-number")
    p.add_argument("--sort", default="", metavar="KEY",
                   help="created (the default), id, name, number or status")
    p.add_argument("--noheading", action="store_true", help="no header line")
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
           no_trunc: bool, heading: bool = True) -> None:
    from pypod_core.engine.inspect import ago  # lazy: the engine, not for parsing

    now = time.time()
    header = ("POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS")
    rows = [header]
    for e, created in entries:
        rows.append((e["Id"] if no_trunc else e["Id"][:12], e["Name"], e["Status"],
                     f"{ago(now - created)} ago",
                     e["InfraId"] if no_trunc else e["InfraId"][:12],
                     str(len(e["Containers"]))))
    table(rows if heading else rows[1:], ctx.out)


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


# -- exists, top, prune ----------------------------------------------------------------


def cmd_exists(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod exists POD``: exit 0 if it does, 1 if not (podman's)."""
    try:
        ctx.runtime.lookup_pod(args.pod)
    except NoSuchPodError:
        return 1
    return 0


def _add_exists(pod: Any) -> None:
    p = pod.add_parser("exists", help=summary("exists", "pod"))
    p.add_argument("pod", metavar="POD")
    p.set_defaults(func=cmd_exists)


def cmd_top(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod top POD [DESCRIPTORS...]``: as ``top``, for every running container
    of the pod."""
    from pypod_core.cli.container_tools import tab_rows  # lazy: only pod top

    tab_rows(ctx.runtime.lookup_pod(args.pod).top(args.descriptors), ctx.out)
    return 0


def _add_top(pod: Any) -> None:
    p = pod.add_parser("top", help=summary("top", "pod"))
    p.add_argument("pod", metavar="POD")
    p.add_argument("descriptors", nargs="*", metavar="DESCRIPTOR",
                   help="as top's (default: user, pid, ppid, pcpu, etime, tty, time, args)")
    p.set_defaults(func=cmd_top)


def cmd_prune(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pod prune [-f]``: remove every stopped or exited pod, printing its id."""
    from pypod_core.cli.container_tools import confirm, print_pruned  # lazy: only prune

    if not args.force and not confirm(ctx, "WARNING! This will remove all stopped/exited "
                                           "pods.."):
        return 0
    return print_pruned(ctx, ctx.runtime.prune_pods())


def _add_prune(pod: Any) -> None:
    p = pod.add_parser("prune", help=summary("prune", "pod"))
    p.add_argument("-f", "--force", action="store_true", help="do not ask first")
    p.set_defaults(func=cmd_prune)


# -- registration ----------------------------------------------------------------------


def _multi(p: argparse.ArgumentParser, handler: Callable[..., int], verb: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="act on every pod")
    p.add_argument("-l", "--latest", action="store_true", help="act on the latest pod created")
    p.add_argument("--pod-id-file", action="append", default=[], metavar="FILE",
                   help="read the pod's id from this file (repeatable)")
    p.add_argument("pods", nargs="*", metavar="POD")
    p.set_defaults(func=handler, verb=verb)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod pod`` commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`); each command's parser is made by the
    ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "pods", sub, groups, want, group="pod")
