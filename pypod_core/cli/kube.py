"""``play kube`` and ``kube play``/``kube down``, as podman's: pods, containers and
volumes from Kubernetes YAML (:mod:`pypod_core.engine.kube`), and back.

The flags are those of ``podman kube play`` that pypod builds; the others it refuses by
name (``--configmap``, ``--ip``, ``--mac-address``, ``--build``, ...).  The parsers
(``_add_<command>``) sit beside their handlers; the table is
:mod:`pypod_core.cli.commands`'s.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.engine.kube import KubeDownReport, PlayKubeReport

#: podman's flags that pypod does not build: each is refused by name when given.
REFUSED = {"configmap": "ConfigMaps are not supported by pypod",
           "ip": "pods with a static IP address are not supported by pypod's play kube",
           "mac_address": "static MAC addresses are not supported by pypod",
           "build": "pypod builds no images", "context_dir": "pypod builds no images",
           "seccomp_profile_root": "Kubernetes seccomp profiles are not supported by pypod",
           "userns": "user namespaces are not supported by pypod",
           "cert_dir": "certificate directories are not supported by pypod"}


def _yaml(args: argparse.Namespace) -> str:
    """The YAML's path, or the YAML read from stdin for ``-``."""
    if args.file == "-":
        return sys.stdin.read() + "\n"  # text, never taken for a path
    return args.file


def _print_down(ctx: CLIContext, report: KubeDownReport) -> None:
    ctx.out("Pods stopped:")
    for pod_id in report.stopped:
        ctx.out(pod_id)
    ctx.out("Pods removed:")
    for pod_id in report.removed:
        ctx.out(pod_id)


def _print_play(ctx: CLIContext, report: PlayKubeReport) -> None:
    """podman's report: the claims' volumes, then each pod and its containers."""
    if report.replaced is not None:
        _print_down(ctx, report.replaced)
    if report.volumes:
        ctx.out("Volumes:")
        for name in report.volumes:
            ctx.out(name)
    for pod in report.pods:
        ctx.out("Pod:")
        ctx.out(pod.id)
        if pod.containers:
            ctx.out("Container:" if len(pod.containers) == 1 else "Containers:")
            for ctr_id in pod.containers:
                ctx.out(ctr_id)
        ctx.out()


def _play_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Runtime.play_kube``'s options from the flags (refused ones refused)."""
    from pypod_core.cli import options as opt  # lazy: only play kube (~0.4 ms)

    for flag, why in REFUSED.items():
        if getattr(args, flag) not in (None, [], False):
            raise InvalidArgError(f"--{flag.replace('_', '-')}: {why}")
    mode, networks = (None, ()) if not args.network else \
        opt.parse_network(",".join(args.network))
    progress = None
    if not args.quiet:
        from pypod_core.cli.pull_progress import PullProgress  # lazy: only a pull

        progress = PullProgress(sys.stderr)
    return {"start": args.start, "replace": args.replace, "network_mode": mode,
            "networks": networks, "no_hosts": args.no_hosts, "log_driver": args.log_driver,
            "log_fields": opt.parse_log_opts(args.log_opt),
            "annotations": opt.parse_labels(args.annotation), "authfile": args.authfile,
            "creds": args.creds, "tls_verify": args.tls_verify, "progress": progress}


def cmd_play(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod play kube FILE|-`` (``kube play``): make and start what the YAML
    describes; with ``--down``, as ``kube down``."""
    if args.down:
        if args.replace:
            raise InvalidArgError("--down and --replace cannot be used together")
        return cmd_down(args, ctx)
    _print_play(ctx, ctx.runtime.play_kube(_yaml(args), **_play_options(args)))
    return 0


def cmd_down(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod kube down FILE|-``: stop and remove the YAML's pods."""
    _print_down(ctx, ctx.runtime.kube_down(_yaml(args)))
    return 0


def _play_parser(group: Any, verb: str) -> None:
    from pypod_core.cli.pull_options import go_bool  # lazy: only play kube (~0.2 ms)

    p = group.add_parser(verb, help=summary(verb, "play" if verb == "kube" else "kube"))
    p.add_argument("file", metavar="FILE|-", help="the YAML file, or - for stdin")
    p.add_argument("--down", action="store_true",
                   help="stop and remove the pods of the YAML (as kube down)")
    p.add_argument("--replace", action="store_true",
                   help="remove the pods of a previous play kube of the YAML first")
    p.add_argument("--start", nargs="?", const=True, default=True, type=go_bool,
                   metavar="BOOL", help="start the pods (default true)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines when images are pulled")
    p.add_argument("--network", "--net", action="append", default=[],
                   help="the pods' network: bridge, none, host or network names")
    p.add_argument("--no-hosts", action="store_true",
                   help="make no /etc/hosts: the image's is used")
    p.add_argument("--log-driver", default="", help="k8s-file (default), json-file or none")
    p.add_argument("--log-opt", action="append", default=[], metavar="NAME=VALUE",
                   help="path= or max-size= of every container's log")
    p.add_argument("--annotation", action="append", default=[], metavar="KEY=VALUE",
                   help="an annotation of every container")
    p.add_argument("--authfile", default="", help="the auth file for the pulls")
    p.add_argument("--creds", default="", metavar="USER[:PASSWORD]",
                   help="credentials for the registry")
    p.add_argument("--tls-verify", nargs="?", const=True, default=None, type=go_bool,
                   metavar="BOOL", help="require HTTPS and verified certificates")
    for flag in REFUSED:
        name = f"--{flag.replace('_', '-')}"
        if flag == "build":
            # --build=false is podman's "never build": what pypod does anyway
            p.add_argument(name, nargs="?", const=True, default=None, type=go_bool,
                           help=argparse.SUPPRESS)
        else:
            p.add_argument(name, action="append", default=[], help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_play)


def _add_kube(play: Any) -> None:
    _play_parser(play, "kube")


def _add_play(kube: Any) -> None:
    _play_parser(kube, "play")


def _add_down(kube: Any) -> None:
    p = kube.add_parser("down", help=summary("down", "kube"))
    p.add_argument("file", metavar="FILE|-", help="the YAML file, or - for stdin")
    p.set_defaults(func=cmd_down)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod play kube`` and ``pypod kube play|down`` parsers the command
    line needs."""
    add_parsers(globals(), "kube", sub, groups, want, group="play")
    add_parsers(globals(), "kube", sub, groups, want, group="kube")
