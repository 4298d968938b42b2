"""Container commands, as podman's: ``create``, ``run``, ``start``, ``stop``, ``kill``,
``rm``, ``ps``, ``logs``, ``wait``, ``inspect``, ``exec``, ``attach``, ``pause``,
``unpause``, ``restart`` and ``container cleanup``; each also as ``pypod container VERB``.
Attached sessions (``-i``, ``-t``, ``attach``) are :mod:`pypod_core.cli.attaching`'s.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.  This
module is imported whenever its commands are parsed, so it imports nothing heavy at
module level (argparse, the errors, the small cli.output): handlers import the engine's
modules they use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import container_verbs, sub_commands, summary
from pypod_core.cli.output import for_each, parse_format, table
from pypod_core.errors import (
    CtrRemovedError,
    CtrStateInvalidError,
    InvalidArgError,
    NetworkError,
    NoSuchCtrError,
    NoSuchPodError,
    OCIRuntimeError,
    PypodError,
)

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted
    from pypod_core.engine.container import Container
    from pypod_core.model import NetworkOptions

Handler = Callable[[argparse.Namespace, "CLIContext"], int]

#: ``--pull`` policies (podman's).
PULL_POLICIES = ("missing", "always", "newer", "never")


# -- create and run ------------------------------------------------------------------


def _add_create_flags(p: argparse.ArgumentParser, run: bool = False) -> None:
    from pypod_core.cli import run_flags  # lazy: create, run

    # As podman's, -h is --hostname here: --help alone asks for help.
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("--name", help="assign a name to the container")
    # Its own dest: the global --runtime's value must survive this parser's default.
    p.add_argument("--runtime", dest="ctr_runtime", default=None, metavar="NAME|PATH",
                   help="the OCI runtime: a backend (runc, crun) or a binary's path")
    p.add_argument("--rootfs", action="store_true",
                   help="the first argument is a root file system directory, not an image "
                        "(DIR:O: an overlay over it, DIR left as it is)")
    from pypod_core.cli.pull_options import add_pull_flags  # lazy: create, run (~0.2 ms)

    p.add_argument("--pull", default="missing", metavar="POLICY",
                   help="pull the image: missing (default), always, newer or never")
    add_pull_flags(p)
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines when the image is pulled")
    p.add_argument("--entrypoint", default=None,
                   help="replace the image's entrypoint: a command, or a JSON array")
    p.add_argument("--image-volume", default=None, metavar="MODE",
                   help="the image's volumes: bind (anonymous volumes, the default), "
                        "tmpfs or ignore")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V")
    p.add_argument("-w", "--workdir", default=None,
                   help="working directory inside (default: the image's, else /)")
    p.add_argument("-u", "--user", default=None,
                   help="user[:group] or uid[:gid] (default: the image's, else root)")
    p.add_argument("-h", "--hostname", default="")
    _add_volume_flags(p)
    p.add_argument("--stop-signal", default=None,
                   help="default: the image's, else SIGTERM")
    p.add_argument("--stop-timeout", type=int, default=10)
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--ulimit", action="append", default=[], metavar="NAME=SOFT[:HARD]")
    p.add_argument("--network", "--net", default=None,
                   help="bridge, none, host, or network names (comma-separated); "
                        "default: config netns (bridge when rootful)")
    p.add_argument("--ip", default="", help="static IPv4 address on the network")
    p.add_argument("--network-alias", action="append", default=[], metavar="NAME",
                   help="more names of the container on each of its networks (those "
                        "with DNS resolve them); comma-separated or repeated")
    p.add_argument("-p", "--publish", action="append", default=[],
                   metavar="[IP:][HOST:]CTR[/PROTO]")
    p.add_argument("-P", "--publish-all", action="store_true",
                   help="publish the image's exposed ports on random host ports")
    p.add_argument("--pod", default="", help="run in this pod")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="keep the container's stdin open (attached: ours goes to it)")
    p.add_argument("-t", "--tty", action="store_true",
                   help="give the container a pseudo-terminal (TERM=xterm unless set)")
    _add_security_flags(p)
    add_etc_flags(p, "container")
    p.add_argument("--log-opt", action="append", default=[], metavar="NAME=VALUE",
                   help="path=FILE or max-size=SIZE (10mb) of the k8s-file log")
    run_flags.add_flags(p, run)
    p.add_argument("target", metavar="IMAGE", help="an image (with --rootfs: a directory)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")


def _add_volume_flags(p: argparse.ArgumentParser) -> None:
    """``-v``, ``--mount``, ``--tmpfs``, ``--volumes-from`` (pypod_core.engine.volumes)."""
    p.add_argument("-v", "--volume", action="append", default=[],
                   metavar="[SRC:]CTR[:OPTS]",
                   help="a bind (/host:/ctr), a named volume (NAME:/ctr) or an anonymous "
                        "one (/ctr); OPTS: ro, rw, z, Z, U, nocopy, [r]shared...")
    p.add_argument("--mount", action="append", default=[], metavar="type=TYPE,...",
                   help="type=bind|volume|tmpfs|image|devpts,source=,target=[,ro,...]")
    p.add_argument("--tmpfs", action="append", default=[], metavar="CTR[:OPTS]",
                   help="a tmpfs at CTR (OPTS: size=, mode=, ro, noexec...)")
    p.add_argument("--volumes-from", action="append", default=[], metavar="CTR[:OPTS]",
                   help="the volumes and binds of another container (OPTS: ro, rw, z)")


def _volume_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The create_container keywords of the volume flags given (the engine parses
    them; a container without any imports none of it)."""
    fields: dict[str, Any] = {}
    if args.tmpfs:
        from pypod_core.engine.mount_specs import parse_tmpfs  # lazy: only --tmpfs (~1.4 ms)

        fields["mounts"] = [*args.mount, *(parse_tmpfs(t) for t in args.tmpfs)]
    elif args.mount:
        fields["mounts"] = list(args.mount)
    if args.volume:
        fields["volumes"] = list(args.volume)
    if args.volumes_from:
        fields["volumes_from"] = list(args.volumes_from)
    return fields


def _add_security_flags(p: argparse.ArgumentParser) -> None:
    """Capabilities, ``--security-opt`` and ``--init`` (pypod_core.engine.security)."""
    p.add_argument("--cap-add", action="append", default=[], metavar="CAP",
                   help="add a capability (NET_ADMIN, CAP_NET_ADMIN, ALL)")
    p.add_argument("--cap-drop", action="append", default=[], metavar="CAP",
                   help="drop a capability (or ALL)")
    p.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                   help="seccomp=unconfined|PATH, apparmor=PROFILE, no-new-privileges, "
                        "mask=PATHS, unmask=ALL|PATHS, label=disable")
    p.add_argument("--init", action="store_true",
                   help="run an init (catatonit) as PID 1 that reaps and forwards signals")
    p.add_argument("--init-path", default="", help="the init binary for --init")


def _security_fields(args: argparse.Namespace) -> dict[str, Any]:
    """ContainerConfig fields from the security flags (checked at create)."""
    from pypod_core.cli import options as opt  # lazy: only create and run (~0.4 ms)

    fields: dict[str, Any] = {"cap_add": tuple(args.cap_add),
                              "cap_drop": tuple(args.cap_drop),
                              **opt.parse_security_opts(args.security_opt)}
    if args.init or args.init_path:
        fields.update(init=args.init, init_path=args.init_path)
    return fields


def add_etc_flags(p: argparse.ArgumentParser, what: str) -> None:
    """``--dns``, ``--dns-search``, ``--dns-option``, ``--add-host``, ``--no-hosts``
    (``create``, ``run`` and ``pod create``)."""
    p.add_argument("--dns", action="append", default=[], metavar="IP",
                   help="DNS servers (replace the host's); none: no resolv.conf")
    p.add_argument("--dns-search", action="append", default=[], metavar="DOMAIN",
                   help="DNS search domains ('.' for none)")
    p.add_argument("--dns-option", "--dns-opt", action="append", default=[], metavar="OPTION",
                   help="resolv.conf options (--dns-opt: podman's alias)")
    p.add_argument("--add-host", action="append", default=[], metavar="HOST:IP",
                   help="add a line to /etc/hosts")
    p.add_argument("--no-hosts", action="store_true",
                   help=f"do not make /etc/hosts for the {what} (the rootfs's own is used)")


def config_fields(args: argparse.Namespace, ctx: CLIContext) -> dict[str, Any]:
    """ContainerConfig fields from create/run flags."""
    from pypod_core.cli import options as opt  # lazy: only create and run (~0.4 ms)

    mode: str | None
    joined = _joined_network(args, ctx)
    mode, networks = ("none", ()) if joined else opt.parse_network(args.network,
                                                                   ctx.runtime.rootless)
    ports = tuple(m for spec in args.publish for m in opt.parse_publish(spec))
    if args.network is None:
        # As podman: -p, -P or --ip put the container on the default network; else the
        # runtime picks (config netns, or the pod's namespace for a pod's container,
        # where -P publishes nothing: the pod's ports are the pod's).
        mode = "bridge" if ports or args.ip or (args.publish_all and not args.pod) else None
        if args.network_alias and not args.pod:
            mode = "bridge"  # podman's: an alias puts the container on the default network
    if ports and mode in ("host", "none"):
        # podman's warning, bare as podman prints it; the container runs without them
        print("Port mappings have been discarded as one of the Host, Container, Pod, "
              "and None network modes are in use", file=sys.stderr, flush=True)
        ports = ()
    if args.ip and mode not in ("bridge", None):
        raise InvalidArgError(f"--ip needs a network; --network is {mode}")
    # A pod's container is on the pod's network: its aliases are given at pod create.
    options = network_alias_options(args.network_alias, None if args.pod else mode,
                                    networks, ctx)
    aliases = {"network_options": options} if options else {}
    from pypod_core.cli import run_flags  # lazy: create, run

    # podman's order: the host's proxy variables, the host's environment, then the env
    # files, then -e.
    env = {**run_flags.proxy_env(args.http_proxy),
           **(dict(os.environ) if args.env_host else {}),
           **run_flags.read_env_files(args.env_file), **opt.parse_env(args.env)}
    fields: dict[str, Any] = {
        "env": env,
        "labels": {**run_flags.read_label_files(args.label_file),
                   **opt.parse_labels(args.label)},
        "hostname": args.hostname,
        "rlimits": tuple(opt.parse_ulimit(u) for u in args.ulimit),
        "stop_timeout": args.stop_timeout,
        "read_only": args.read_only, "privileged": args.privileged,
        "auto_remove": args.rm or getattr(args, "rmi", False),
        "network_mode": mode, "networks": networks,
        "slirp_options": opt.slirp_options(args.network),
        "static_ip": args.ip, "port_mappings": ports, **aliases,
        "terminal": args.tty, "stdin": args.interactive,
        **opt.dns_fields(args.dns, args.dns_search, args.dns_option, args.add_host,
                         args.no_hosts),
    }
    fields.update(_security_fields(args))
    fields.update(_volume_fields(args))
    fields.update(opt.parse_log_opts(args.log_opt))
    fields.update(run_flags.config_fields(args, ctx))
    if joined:
        fields["shared_namespaces"] = {**fields.get("shared_namespaces", {}), "net": joined}
    if args.pod:
        fields["pod"] = ctx.runtime.state.lookup_pod(args.pod).config.id
    if mode is None:
        del fields["network_mode"]
    # Given or not: the image's (or the built-in default) applies when not given.
    if args.workdir is not None:
        fields["workdir"] = args.workdir
        fields["create_workdir"] = False  # as podman: the user's must exist
    if args.user is not None:
        fields["user"] = args.user
    if args.stop_signal is not None:
        fields["stop_signal"] = opt.parse_signal(args.stop_signal)
    return fields


def network_alias_options(given: list[str], mode: str | None, networks: tuple[str, ...],
                          ctx: CLIContext) -> tuple[NetworkOptions, ...]:
    """``--network-alias`` (of run, create and pod create): the network options giving
    every network (the default one if none is named) those aliases, as podman's."""
    aliases = tuple(a for text in given for a in text.split(",") if a)
    if not aliases:
        return ()
    if mode != "bridge":
        # podman's words
        raise InvalidArgError("--network-alias can only be set when the network mode "
                              "is bridge")
    from pypod_core.model import NetworkOptions  # lazy: only --network-alias (~0 ms, loaded)

    names = networks or (_default_network(ctx),)
    return tuple(NetworkOptions(network=n, aliases=aliases) for n in names)


def _default_network(ctx: CLIContext) -> str:
    if not ctx.runtime.network:
        raise NetworkError("--network-alias: this runtime has no network backend "
                           "(rootless pypod has none)")
    return str(ctx.runtime.network.default_network())


def _joined_network(args: argparse.Namespace, ctx: CLIContext) -> str:
    """``--network container:NAME``: the id of the container whose network namespace
    (and /etc/hosts, /etc/resolv.conf) this one joins; "" for any other mode."""
    value = args.network or ""
    if not value.startswith("container:"):
        return ""
    name = value[len("container:"):]
    if not name:
        raise InvalidArgError("--network container: needs a container name or id")
    return ctx.runtime.lookup_container(name).id


def _create(args: argparse.Namespace, ctx: CLIContext) -> Container:
    from pypod_core.cli import options as opt  # lazy: only create and run (~0.4 ms)
    from pypod_core.cli import run_flags  # lazy: create, run

    if args.pull not in PULL_POLICIES:
        raise InvalidArgError(f'unsupported pull policy "{args.pull}"')
    if args.ctr_runtime is not None:  # podman's global flag, given after the verb
        ctx.args.runtime = args.ctr_runtime
    run_flags.before_create(args, ctx)
    fields = config_fields(args, ctx)
    entrypoint = None if args.entrypoint is None else opt.parse_entrypoint(args.entrypoint)
    source: dict[str, Any] = rootfs_source(args.target) if args.rootfs else \
        {"image": _image_to_run(args, ctx)}
    ctr = ctx.runtime.create_container(
        command=args.command, entrypoint=entrypoint, publish_all=args.publish_all,
        image_volume=args.image_volume, name=args.name, **source, **fields)
    run_flags.after_create(args, ctr)
    return ctr


def rootfs_source(target: str) -> dict[str, Any]:
    """``--rootfs DIR[:O]`` as ``create_container``'s arguments: ``:O`` (podman's, the
    last colon's suffix) makes an overlay over DIR; the options later podmans take there
    (``idmap``) are refused by name."""
    path, colon, suffix = target.rpartition(":")
    options = suffix.split(",") if colon else []
    if options and all(o == "O" or o.split("=")[0] == "idmap" for o in options):
        for option in options:
            if option != "O":
                raise InvalidArgError(f'--rootfs option "{option}" is not supported by '
                                      f"pypod (only :O)")
        return {"rootfs": path, "rootfs_overlay": True}
    return {"rootfs": target}


def _image_to_run(args: argparse.Namespace, ctx: CLIContext) -> str:
    """The image ``args.target`` names, pulled first as ``--pull`` says (podman's):
    ``missing`` when the store has none, ``newer`` when the registry's differs,
    ``always`` every time, ``never`` not at all (a missing image is then ``REF: image not
    known``); with a platform, ``missing`` asks the registry (the engine's rule).  A
    local image is used without loading any registry code."""
    from pypod_core.cli.pull_options import has_platform  # lazy: create, run (~0.2 ms)

    ref, policy = args.target, args.pull
    if not has_platform(args) and (
            policy == "never" or (policy == "missing" and ctx.runtime.image_exists(ref))):
        return ref
    return _pull(args, ctx)


def _pull(args: argparse.Namespace, ctx: CLIContext) -> str:
    """Pull the image for ``run``/``create`` as ``pypod pull`` does (its progress on
    stderr unless ``-q``); the image's id."""
    # lazy: only a pull (images: the short-name prompt; pull_options ~0.2 ms)
    from pypod_core.cli.images import choose_image
    from pypod_core.cli.pull_options import pull_arguments

    progress = None
    if not args.quiet:
        from pypod_core.cli.pull_progress import PullProgress  # lazy: only pull (~0.2 ms)

        progress = PullProgress(sys.stderr)
    image = ctx.runtime.pull_image(args.target, policy=args.pull, progress=progress,
                                   tty=sys.stdin.isatty() and sys.stdout.isatty(),
                                   choose=choose_image, **pull_arguments(args))
    return image.id


def cmd_create(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod create``: print the new container's id."""
    ctx.out(_create(args, ctx).id)
    return 0


def _add_create(sub: Any) -> None:
    p = sub.add_parser("create", help=summary("create"), add_help=False, allow_abbrev=False)
    _add_create_flags(p)
    p.set_defaults(func=cmd_create)


def cmd_run(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod run``: create, start, stream the output (and with ``-i`` our input), exit
    with the container's code."""
    from pypod_core.cli.run_flags import check_preserve_fds  # lazy: run
    from pypod_core.engine.detach_keys import parse_detach_keys  # lazy: the engine, not for parsing

    # Before pypod opens a file of its own: fds 3.. are the caller's.
    check_preserve_fds(args.preserve_fds)
    parse_detach_keys(args.detach_keys)  # a bad value is refused before anything is made
    _attach_streams(args.attach)
    if args.attach and args.detach:
        raise InvalidArgError("--attach and --detach cannot be used together")
    ctr = _create(args, ctx)
    if args.detach:
        try:
            ctr.start()
        except BaseException as exc:
            _remove_quietly(ctx, ctr, args.rm or args.rmi)
            if isinstance(exc, (OCIRuntimeError, NetworkError)):  # podman's 126 (or 127)
                return _attaching().start_failed(exc)
            raise
        ctx.out(ctr.id)
        return 0
    streams = _attach_streams(args.attach)
    if "stdout" not in streams and "stderr" not in streams:
        ctx.out(ctr.id)  # as podman's: no output attached, so the id tells what runs
    code = _attaching().start_attached(ctr, args.interactive and "stdin" in streams,
                                       args.detach_keys, streams)  # removes an --rm one
    if args.rmi:
        from pypod_core.cli.run_flags import remove_image  # lazy: run --rmi

        remove_image(ctx, ctr.config.image_name or ctr.config.image_id)
    return code


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help=summary("run"), add_help=False, allow_abbrev=False)
    _add_create_flags(p, run=True)
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("-a", "--attach", action="append", default=[], metavar="STREAM",
                   help="attach only these: stdin, stdout, stderr (repeatable)")
    add_detach_keys_flag(p)
    p.set_defaults(func=cmd_run)


def _attach_streams(names: list[str]) -> frozenset[str]:
    """``run --attach``'s streams (all three when none is named); podman's error for
    a name that is none of them."""
    if not names:
        return frozenset({"stdin", "stdout", "stderr"})
    for name in names:
        if name.lower() not in ("stdin", "stdout", "stderr"):
            raise InvalidArgError(f'invalid stream "{name}" for --attach - must be one of '
                                  "stdin, stdout, or stderr: invalid argument")
    return frozenset(n.lower() for n in names)


def _attaching() -> Any:
    from pypod_core.cli import attaching  # lazy: only attached sessions (~2 ms)

    return attaching


def _attached(ctr: Container, interactive: bool, detach_keys: str) -> int:
    """Start ``ctr`` attached (see :mod:`pypod_core.cli.attaching`)."""
    from pypod_core.cli import attaching  # lazy: only attached sessions (~2 ms)

    return attaching.start_attached(ctr, interactive, detach_keys)


def add_detach_keys_flag(p: argparse.ArgumentParser) -> None:
    """``--detach-keys`` (run, start, attach, exec)."""
    from pypod_core.engine.detach_keys import DEFAULT_DETACH_KEYS  # lazy: only run/exec.. (~0.2 ms)

    p.add_argument("--detach-keys", default=DEFAULT_DETACH_KEYS, metavar="KEYS",
                   help="the keys that detach, e.g. ctrl-p,ctrl-q (the default); '' for none")


def _remove_quietly(ctx: CLIContext, ctr: Container, wanted: bool) -> None:
    if not wanted:
        return
    try:
        ctx.runtime.remove_container(ctr, force=True, timeout=0, volumes=True)
    except NoSuchCtrError:
        pass  # the exit command's cleanup removed it first


# -- one verb on many containers -------------------------------------------------------


def _each(args: argparse.Namespace, ctx: CLIContext, act: Callable[[Container], Any],
          show: Callable[[str, Container, Any], str | None] | None = None,
          **for_each_options: Any) -> int:
    """Apply ``act`` to each container the command line names (see :func:`_targets`);
    print each name as given (or ``show(name, container, act's result)``); on errors,
    report each and exit 125 after trying the rest (``for_each_options``: see
    :func:`for_each`)."""
    _check_time(args)
    names = _targets(args, ctx, for_each_options.get("ignore", ()))
    return for_each(names, ctx.runtime.lookup_container, act,
                    show or (lambda name, ctr, result: name), ctx.out, **for_each_options)


def _targets(args: argparse.Namespace, ctx: CLIContext,
             ignore: tuple[type[Exception], ...] = ()) -> list[str]:
    """The containers a command acts on, as podman's: those named and those whose ids
    ``--cidfile`` files hold; or every one (``--all``) or the newest (``--latest``);
    with ``--filter``, only those (of the named, or of all) that match.  ``--all`` and
    ``--all``-like selections print ids; named containers print as given."""
    names = list(args.containers) + _cidfile_ids(args, bool(ignore))
    # restart --running: every running container, as podman's
    every = getattr(args, "all", False) or getattr(args, "running", False)
    latest = getattr(args, "latest", False)
    specs = getattr(args, "filter", None) or []
    # a --cidfile skipped by --ignore names nothing, and that is no error
    _check_selection(args.verb, names, every, latest,
                     bool(specs) or bool(getattr(args, "cidfile", None)))
    if latest:
        ctrs = ctx.runtime.containers(all=True)
        if not ctrs:
            raise NoSuchCtrError("no containers to act on: no latest container")
        return [max(ctrs, key=lambda c: c.config.created).id]
    if not specs:
        return names if not every else [c.id for c in _every(args, ctx)]
    from pypod_core.cli.ctr_filters import container_filter  # lazy: only --filter

    match = container_filter(specs, ctx.runtime)
    if names:
        return [n for n in names if _matches(ctx, n, match)]
    return [c.id for c in _every(args, ctx) if match(c)]


#: What ``--all`` means to the verbs for which it is not every container (podman's):
#: the states of the containers it takes.
_ALL_STATES = {
    "start": ("configured", "created", "exited", "stopped"),
    "pause": ("running",),
    "unpause": ("paused",),
}


def _every(args: argparse.Namespace, ctx: CLIContext) -> list[Container]:
    """The containers ``--all`` (or ``--filter`` alone) takes for this verb."""
    states = _ALL_STATES.get(args.verb)
    if getattr(args, "running", False):
        states = ("running",)
    ctrs = ctx.runtime.containers(all=True)
    return ctrs if states is None else [c for c in ctrs if c.state.state.value in states]


def _matches(ctx: CLIContext, name: str, match: Callable[[Container], bool]) -> bool:
    """Whether the named container matches a filter; a missing one is kept, for the
    command to report."""
    try:
        return match(ctx.runtime.lookup_container(name))
    except NoSuchCtrError:
        return True


def _check_selection(verb: str, names: list[str], every: bool, latest: bool,
                     selected: bool) -> None:
    """podman's rules: names, --all and --latest exclude each other; something must be
    named unless --filter or --cidfile selects."""
    if every and latest:
        raise InvalidArgError("--all and --latest cannot be used together")
    if names and latest:
        raise InvalidArgError("--latest and containers cannot be used together")
    if names and every:
        if verb == "start":
            raise InvalidArgError("either start all containers or the container(s) "
                                  "provided in the arguments")
        raise InvalidArgError("no arguments are needed with --all")
    if not (names or every or latest or selected):
        raise InvalidArgError(f"{verb}: at least one container name or id is required")


def _cidfile_ids(args: argparse.Namespace, ignore: bool) -> list[str]:
    """The ids in the ``--cidfile`` files (one each, as ``run --cidfile`` writes it);
    a file that does not exist is an error, or skipped with ``--ignore``."""
    ids = []
    for path in getattr(args, "cidfile", None) or ():
        try:
            with open(path) as f:
                ids.append(f.read().strip())
        except FileNotFoundError:
            if ignore:
                continue
            raise InvalidArgError(f"reading CIDFile: open {path}: no such file or "
                                  "directory") from None
    return ids


def _add_selection(p: argparse.ArgumentParser, cidfile: bool = False,
                   filters: bool = False) -> None:
    """``--latest`` and, for the verbs that have them, ``--cidfile`` and ``--filter``."""
    p.add_argument("-l", "--latest", action="store_true",
                   help="act on the latest container created")
    if cidfile:
        p.add_argument("--cidfile", action="append", default=[], metavar="FILE",
                       help="read the container's id from this file (repeatable)")
    if filters:
        p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                       help="only the containers that match (as ps --filter)")


def _check_time(args: argparse.Namespace) -> None:
    """``-t/--time``: 0 to MAX_STOP_TIMEOUT seconds, checked before any container is."""
    if getattr(args, "time", None) is not None:
        # lazy: the engine, not for parsing
        from pypod_core.engine.validate import check_stop_timeout

        check_stop_timeout(args.time, "--time")


def _missing() -> tuple[type[Exception], ...]:
    """The errors of a container that does not exist, or no longer: another process
    removed it after this one looked it up."""
    return (NoSuchCtrError, CtrRemovedError)


def _rm_exit_code(exc: Exception) -> int:
    """podman's ``rm`` exit codes: 1 a container does not exist, 2 one is running or
    paused (and no --force), 125 any other error."""
    if isinstance(exc, _missing()):
        return 1
    return 2 if isinstance(exc, CtrStateInvalidError) else 125


def cmd_start(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod start [-a]``: attached, the container's exit code (one running already is
    attached to, as podman's).  As podman's, ``-i`` cannot override what the container
    was made with: stdin is passed on to one made with ``-i`` or ``-t``."""
    if args.attach:
        from pypod_core.engine.detach_keys import parse_detach_keys  # lazy: not for parsing

        if args.all:
            raise InvalidArgError("you cannot start and attach all containers at once")
        if len(args.containers) != 1:
            raise InvalidArgError("start --attach takes exactly one container")
        parse_detach_keys(args.detach_keys)
        ctr = ctx.runtime.lookup_container(args.containers[0]).sync()
        interactive = ctr.config.stdin or ctr.config.terminal
        if ctr.state.state.value in ("running", "paused"):
            from pypod_core.cli import attaching  # lazy: only attached sessions (~2 ms)

            attaching.attach(ctr, interactive, args.detach_keys, newline=False)
            return ctr.wait()
        return _attached(ctr, interactive, args.detach_keys)
    return _each(args, ctx, lambda c: c.start(),
                 show=lambda name, c, _: name if args.containers else c.id)


def _add_start(sub: Any) -> None:
    p = sub.add_parser("start", help=summary("start"))
    p.add_argument("-a", "--attach", action="store_true", help="attach to the output")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="as podman's: stdin goes to a container made with -i or -t")
    add_detach_keys_flag(p)
    _add_selection(p, filters=True)
    _multi(p, cmd_start, "start", all_flag=True)


def cmd_stop(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod stop [-t N] [-i]``."""
    return _each(args, ctx, lambda c: c.stop(args.time),
                 ignore=_missing() if args.ignore else ())


def _add_stop(sub: Any) -> None:
    p = sub.add_parser("stop", help=summary("stop"))
    # --timeout: podman's old spelling of --time, still taken
    p.add_argument("-t", "--time", "--timeout", type=int, default=None,
                   help="seconds before SIGKILL")
    p.add_argument("-i", "--ignore", action="store_true",
                   help="no error for a container that does not exist")
    _add_selection(p, cidfile=True, filters=True)
    _multi(p, cmd_stop, "stop", all_flag=True)


def cmd_kill(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod kill [-s SIGNAL]``."""
    from pypod_core.cli.options import parse_signal  # lazy: only kill (~0.4 ms)

    number = parse_signal(args.signal)
    return _each(args, ctx, lambda c: c.kill(number))


def _add_kill(sub: Any) -> None:
    p = sub.add_parser("kill", help=summary("kill"))
    p.dash_values = frozenset({"-s", "--signal"})  # kill -s -INT, as podman's
    p.add_argument("-s", "--signal", default="SIGKILL")
    _add_selection(p, cidfile=True)
    _multi(p, cmd_kill, "kill", all_flag=True)


def cmd_rm(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod rm [-f] [-i] [-a] [-t N] [-v]``: print the removed containers' ids.  As
    podman's: ``--force`` implies ``--ignore`` (a container that does not exist, or
    that another process removes meanwhile, is no error), ``--time`` needs
    ``--force``, and the exit code says what failed (see _rm_exit_code)."""
    if args.time is not None and not args.force:
        raise InvalidArgError("--force option must be specified to use the --time option")
    ignore = _missing() if args.force or args.ignore else ()
    _check_time(args)
    names = _targets(args, ctx, ignore)
    if args.depend:
        names = _with_dependents(ctx, names)
    elif args.all:
        names = _infra_first(ctx, names)
    return for_each(names, ctx.runtime.lookup_container, lambda c: _remove(args, ctx, c),
                    _removed_text, ctx.out, ignore=ignore, exit_code=_rm_exit_code)


def _removed_text(name: str, ctr: Container, removed: bool | list[str]) -> str | None:
    """What rm prints for a removal: the name as the user typed it (``--all`` and
    ``--depend`` type ids), or each container of a pod that went with its infra one."""
    if isinstance(removed, list):
        return "\n".join(removed)
    return name if removed else None


def _remove(args: argparse.Namespace, ctx: CLIContext, ctr: Container) -> bool | list[str]:
    """Remove one container; with ``--depend`` or ``--all``, a pod's infra container
    takes its pod and every container of it, as podman's (the ids of those removed)."""
    if (args.depend or args.all) and ctr.config.is_infra and ctr.config.pod:
        try:
            pod = ctx.runtime.get_pod(ctr.config.pod)
        except NoSuchPodError:
            pass
        else:
            members = ctx.runtime.state.pod_containers_by_id(pod.id)
            ctx.runtime.remove_pod(pod, force=args.force, timeout=args.time)
            return members
    return bool(ctx.runtime.remove_container(ctr, force=args.force, timeout=args.time,
                                             volumes=args.volumes))


def _infra_first(ctx: CLIContext, ids: list[str]) -> list[str]:
    """``rm --all``: the infra containers first (each takes its pod's containers with
    it, as podman's), then the containers of no pod that went so."""
    infra = [c for c in ctx.runtime.containers(all=True)
             if c.id in ids and c.config.is_infra and c.config.pod]
    gone = {m for c in infra for m in ctx.runtime.state.pod_containers_by_id(c.config.pod)}
    return [c.id for c in infra] + [i for i in ids if i not in gone]


def _with_dependents(ctx: CLIContext, names: list[str]) -> list[str]:
    """``rm --depend``: each named container after those that depend on it (those that
    joined its namespaces), theirs first in turn; a name that is no container stays, for
    the removal to report."""
    ordered: list[str] = []

    def visit(ctr_id: str, seen: frozenset[str]) -> None:
        for user in ctx.runtime.state.container_in_use(ctr_id):
            if user not in seen:
                visit(user, seen | {user})
        if ctr_id not in ordered:
            ordered.append(ctr_id)

    for name in names:
        try:
            visit(ctx.runtime.lookup_container(name).id, frozenset())
        except NoSuchCtrError:
            ordered.append(name)
    return ordered


def _add_rm(sub: Any) -> None:
    p = sub.add_parser("rm", help=summary("rm"))
    p.add_argument("-f", "--force", action="store_true",
                   help="stop running ones first; implies --ignore")
    p.add_argument("-i", "--ignore", action="store_true",
                   help="no error for a container that does not exist")
    p.add_argument("-t", "--time", type=int, default=None, help="seconds before SIGKILL")
    p.add_argument("-v", "--volumes", action="store_true",
                   help="remove the container's anonymous volumes too")
    p.add_argument("--depend", action="store_true",
                   help="remove the containers that depend on it first")
    _add_selection(p, cidfile=True)
    _multi(p, cmd_rm, "rm", all_flag=True)


def cmd_pause(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod pause``."""
    return _each(args, ctx, lambda c: c.pause())


def _add_pause(sub: Any) -> None:
    p = sub.add_parser("pause", help=summary("pause"))
    _add_selection(p)
    _multi(p, cmd_pause, "pause", all_flag=True)


def cmd_unpause(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod unpause``."""
    return _each(args, ctx, lambda c: c.unpause())


def _add_unpause(sub: Any) -> None:
    p = sub.add_parser("unpause", help=summary("unpause"))
    _add_selection(p)
    _multi(p, cmd_unpause, "unpause", all_flag=True)


def cmd_restart(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod restart [-t N]``."""
    return _each(args, ctx, lambda c: c.restart(args.time))


def _add_restart(sub: Any) -> None:
    p = sub.add_parser("restart", help=summary("restart"))
    p.add_argument("-t", "--time", type=int, default=None, help="seconds before SIGKILL")
    p.add_argument("--running", action="store_true", help="only the running containers")
    _add_selection(p)
    _multi(p, cmd_restart, "restart", all_flag=True)


def cmd_wait(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod wait [--condition C]... [-i INTERVAL]``: print each container's exit code
    (-1 for a condition that is a state, as podman's)."""
    if not args.condition and args.interval is None:
        return _each(args, ctx, lambda c: c.wait(), show=lambda name, c, code: str(code))
    from pypod_core.cli.options import parse_duration  # lazy: only --condition/-i

    # lazy: the engine, not for parsing (~0.2 ms)
    from pypod_core.engine.wait import DEFAULT_INTERVAL, parse_conditions

    conditions = parse_conditions(args.condition)
    interval = DEFAULT_INTERVAL
    if args.interval is not None:  # podman's: a Go duration, or milliseconds
        text = args.interval
        interval = parse_duration(text + "ms" if text.isdigit() else text)
    return _each(args, ctx, lambda c: c.wait_for(conditions, interval),
                 show=lambda name, c, code: str(code))


def _add_wait(sub: Any) -> None:
    p = sub.add_parser("wait", help=summary("wait"))
    p.add_argument("--condition", action="append", default=[], metavar="STATE",
                   help="stopped (the default), exited, running, paused, created, ...")
    p.add_argument("-i", "--interval", default=None, metavar="DURATION",
                   help="how often to look (default 250ms; a number: milliseconds)")
    _multi(p, cmd_wait, "wait")


def cmd_cleanup(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod container cleanup [--rm]``: what conmon's exit command runs."""
    from pypod_core.engine.container import LIVE  # lazy: the engine, not for parsing

    for name in args.containers:
        try:
            ctr = ctx.runtime.lookup_container(name)
            ctr.cleanup()
            if args.rm and ctr.state.state not in LIVE:  # --rm: anonymous volumes too
                ctx.runtime.remove_container(ctr, volumes=True)
            elif not args.rm:
                ctr.restart_if_due()  # --restart, as podman's exit command without systemd
        except NoSuchCtrError:
            continue  # removed already, by the process that ran it
    return 0


def _add_cleanup(sub: Any) -> None:
    p = sub.add_parser("cleanup", help=summary("cleanup"))
    p.add_argument("--rm", action="store_true", help="remove the container too")
    _multi(p, cmd_cleanup, "cleanup")


# -- looking at containers -------------------------------------------------------------


def cmd_ps(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod ps [-a] [-q] [-f F] [-n N|-l] [-s|--ns] [--sort K] [--format F]``."""
    from pypod_core.engine.inspect import ps_entry  # lazy: the engine, not for parsing

    template = parse_format(args.format, "json")  # before any work, as Go's
    _check_ps_flags(args)
    now = time.time()
    ctrs = _ps_containers(args, ctx)
    entries = [ps_entry(c, now) for c in ctrs]
    if args.sort or args.size or args.ns:
        _ps_extras(args, entries, ctrs)
    if args.quiet and not args.format:
        for e in entries:
            ctx.out(e["Id"] if args.no_trunc else e["Id"][:12])
        return 0
    if any(c.config.pod for c in ctrs):
        pod_names = {p.id: p.name for p in ctx.runtime.pods()}
        for entry in entries:
            entry["PodName"] = pod_names.get(entry["Pod"], "")
    if args.format == "json":
        ctx.out(json.dumps(entries, indent=2))
    elif template is not None:
        for entry in entries:
            ctx.out(template.render(_ps_template_view(entry, args.no_trunc)))
    else:
        _ps_table(ctx, entries, args)
    return 0


def _ps_extras(args: argparse.Namespace, entries: list[dict[str, Any]],
               ctrs: list[Container]) -> None:
    """``--size`` and ``--ns`` fill their fields of the entries; ``--sort`` sorts them."""
    from pypod_core.cli import ps_columns  # lazy: only --sort, --size, --ns (~1 ms)

    if args.sort:
        ps_columns.check_sort(args.sort)
    for entry, ctr in zip(entries, ctrs, strict=True):
        if args.size:
            entry["Size"] = ps_columns.container_size(ctr)
        if args.ns:
            live = ctr.state.state.value in ("running", "paused")
            entry["Namespaces"] = ps_columns.namespaces(ctr.state.pid if live else 0)
    if args.sort:
        entries.sort(key=ps_columns.sort_key(args.sort))


def _check_ps_flags(args: argparse.Namespace) -> None:
    """podman's exclusions among ps's flags."""
    if args.last is not None and args.last >= 0 and args.latest:
        raise InvalidArgError("last and latest are mutually exclusive")
    if args.quiet and (args.size or args.ns):
        raise InvalidArgError("quiet conflicts with size and namespace")
    if args.size and args.ns:
        raise InvalidArgError("size and namespace options conflict")


def _ps_containers(args: argparse.Namespace, ctx: CLIContext) -> list[Container]:
    """The containers ``ps`` lists: the running ones, or every one with ``-a``,
    ``--last``, ``--latest`` or a ``status`` filter (podman's, after docker's); those
    that match the filters; the newest (``--latest``) or the newest N (``--last N``)."""
    last = args.last if args.last is not None and args.last >= 0 else None
    every = args.all or last is not None or args.latest
    if args.filter:
        from pypod_core.cli.ctr_filters import container_filter, parse_filters  # lazy: only -f

        every = every or bool(parse_filters(args.filter).get("status"))
        match = container_filter(args.filter, ctx.runtime)
        ctrs = [c for c in ctx.runtime.containers(all=every) if match(c)]
    else:
        ctrs = ctx.runtime.containers(all=every)
    if args.latest:
        return sorted(ctrs, key=lambda c: c.config.created)[-1:]
    if last is not None:
        return sorted(ctrs, key=lambda c: c.config.created, reverse=True)[:last]
    return ctrs


def _add_ps(sub: Any) -> None:
    _ps_flags(sub.add_parser("ps", help=summary("ps")))


def _ps_template_view(entry: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """podman's ps template fields: ``.ID`` and ``.Pod`` (truncated unless ``no_trunc``),
    ``.Names`` as text, ``.Command`` joined."""
    from pypod_core.engine.inspect import ports_text  # lazy: the engine, not for parsing

    return {**entry, "ID": entry["Id"] if no_trunc else entry["Id"][:12],
            "Names": ",".join(entry["Names"]), "Command": " ".join(entry["Command"]),
            "CreatedHuman": entry["CreatedAt"], "Ports": ports_text(entry),
            "ImageID": entry["ImageID"] if no_trunc else entry["ImageID"][:12],
            "Pod": entry["Pod"] if no_trunc else entry["Pod"][:12]}


def _ps_table(ctx: CLIContext, entries: list[dict[str, Any]],
              args: argparse.Namespace) -> None:
    """podman's ps table; ``--pod``, ``--size`` and ``--ns`` add their columns
    (``--ns`` in place of the usual ones but the id and names, as podman's)."""
    from pypod_core.engine.inspect import ports_text  # lazy: the engine, not for parsing

    no_trunc = args.no_trunc
    short = (lambda i: i) if no_trunc else (lambda i: i[:12])
    ns_columns: list[str] = []
    if args.ns or args.size:
        from pypod_core.cli import ps_columns  # lazy: only --size, --ns (~1 ms)

        ns_columns = [column for column, _ in ps_columns.NS_COLUMNS]
    if args.ns:
        header: tuple[str, ...] = ("CONTAINER ID", "NAMES", "PID", *ns_columns)
    else:
        header = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
    header += ("SIZE",) if args.size else ()
    header += ("POD ID", "PODNAME") if args.pod else ()
    rows = [header]
    for e in entries:
        if args.ns:
            row: tuple[str, ...] = (short(e["Id"]), ",".join(e["Names"]), str(e["Pid"]),
                                    *(e["Namespaces"][c] for c in ns_columns))
        else:
            command = " ".join(e["Command"])
            if not no_trunc and len(command) > 17:
                command = command[:17] + "..."
            row = (short(e["Id"]), e["Image"], command, e["CreatedAt"], e["Status"],
                   ports_text(e), ",".join(e["Names"]))
        row += (ps_columns.size_text(e["Size"]),) if args.size else ()
        row += (short(e["Pod"]), e["PodName"]) if args.pod else ()
        rows.append(row)
    table(rows[1:] if args.noheading else rows, ctx.out)


def cmd_inspect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod inspect [--type container|image|volume|network|pod|all] [--format F]
    NAME...``: JSON (each type's own inspect document), or a Go template each.  As
    podman's, ``--type all`` (the default) takes the first of a container, an image, a
    volume, a network and a pod that has the name."""
    from pypod_core.cli.images import print_inspected  # lazy: only inspect (~0.8 ms)
    from pypod_core.cli.inspect_objects import FINDERS, find_any  # lazy: only inspect

    template = parse_format(args.format, "json", "{{json .}}")
    if args.type != "all" and args.type not in FINDERS:
        raise InvalidArgError(f'invalid type "{args.type}": must be "image", "container", '
                              f'"pod", "network", "volume", or "all"')
    docs: list[dict[str, Any]] = []
    errors: list[str] = []
    names = list(args.containers)
    if args.latest:
        if names:
            raise InvalidArgError("--latest and containers cannot be used together")
        ctrs = ctx.runtime.containers(all=True)
        if not ctrs:
            raise NoSuchCtrError("no containers to inspect: no latest container")
        names = [max(ctrs, key=lambda c: c.config.created).id]
    elif not names:
        raise InvalidArgError("no names or ids specified")
    for name in names:
        try:
            doc = find_any(ctx, name) if args.type == "all" else FINDERS[args.type](ctx, name)
        except PypodError as exc:
            errors.append(str(exc))
            continue
        if doc is None:
            errors.append(f'no such object: "{name}"')
        else:
            docs.append(doc)
    return print_inspected(ctx, docs, errors, template)


def _add_inspect(sub: Any) -> None:
    p = sub.add_parser("inspect", help=summary("inspect"))
    p.add_argument("-f", "--format", default="", help="json, or a Go template")
    p.add_argument("-t", "--type", default="all",
                   help="container, image, volume, network, pod, or all (the first "
                        "that has the name, in that order)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="the latest container created")
    p.add_argument("containers", nargs="*", metavar="NAME")
    p.set_defaults(func=cmd_inspect)


def cmd_logs(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod logs [-f] [-n] [-t] [--tail N] [--since T] [--until T] CTR...``: stdout
    lines on stdout, stderr on stderr; several containers' merged in time order (as
    they come with ``-f``), each line after its container's short id (``--names``: its
    name), as podman's."""
    from pypod_core.engine.logs_multi import container_logs, stamp_text  # lazy: only logs

    since, until = _log_time(args.since, "--since"), _log_time(args.until, "--until")
    ctrs = [ctx.runtime.lookup_container(name) for name in args.containers]
    tail = args.tail if args.tail is not None and args.tail >= 0 else None
    multi = len(ctrs) > 1
    out, err = sys.stdout.buffer, sys.stderr.buffer
    last = out
    for ctr, line in container_logs(ctrs, follow=args.follow, tail=tail, since=since,
                                    until=until):
        target = err if line.stream == "stderr" else out
        if target is not last:
            last.flush()  # what came first is shown first, on a shared terminal too
            last = target
        if multi:
            target.write(((ctr.name if args.names else ctr.id[:12]) + " ").encode())
        if args.timestamps:
            target.write((stamp_text(line) + " ").encode())
        target.write(line.data)
        if args.follow:
            target.flush()  # as it comes (a line costs a write: buffered otherwise)
    last.flush()
    return 0


def _log_time(text: str, flag: str) -> float | None:
    if not text:
        return None
    from pypod_core.cli.options import parse_since  # lazy: only --since/--until (~0.4 ms)

    try:
        return parse_since(text)
    except InvalidArgError as exc:
        raise InvalidArgError(f"{flag}: {exc}") from None


def _add_logs(sub: Any) -> None:
    p = sub.add_parser("logs", help=summary("logs"))
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--names", action="store_true",
                   help="with several containers, their names before the lines (not ids)")
    p.add_argument("-t", "--timestamps", action="store_true",
                   help="each line's time before it")
    p.add_argument("--tail", type=int, default=None, help="only the last N lines")
    p.add_argument("--since", default="", help="a time, or a duration such as 10m")
    p.add_argument("--until", default="", help="a time, or a duration such as 10m")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=cmd_logs)


def cmd_exec(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod exec [-i] [-t] [-e] [-u] [-w] CTR CMD...``: the command's exit code."""
    from pypod_core.cli.options import parse_env  # lazy: only exec (~0.4 ms)
    from pypod_core.engine.detach_keys import parse_detach_keys  # lazy: the engine, not for parsing

    if not args.command:
        raise InvalidArgError("exec: a command is required")
    parse_detach_keys(args.detach_keys)
    ctr = ctx.runtime.lookup_container(args.container)
    sys.stdout.flush()
    options = {"env": parse_env(args.env), "user": args.user, "workdir": args.workdir}
    if args.detach:
        ctx.out(ctr.exec_detached(args.command, terminal=args.tty, **options))
        return 0
    if args.interactive or args.tty:
        from pypod_core.cli import attaching  # lazy: only attached sessions (~2 ms)

        return attaching.exec_attached(ctr, args.command, args.interactive, args.tty,
                                       args.detach_keys, **options)
    return ctr.exec(args.command, **options)


def _add_exec(sub: Any) -> None:
    p = sub.add_parser("exec", help=summary("exec"))
    p.add_argument("-i", "--interactive", action="store_true",
                   help="our stdin goes to the command's")
    p.add_argument("-t", "--tty", action="store_true", help="run it on a pseudo-terminal")
    p.add_argument("-d", "--detach", action="store_true",
                   help="leave it running in the background; print its session's id")
    add_detach_keys_flag(p)
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    p.set_defaults(func=cmd_exec)


def cmd_attach(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod attach [--detach-keys K] [--no-stdin] CTR``: 0 when its output ends or
    the user detaches (as podman's)."""
    from pypod_core.cli import attaching  # lazy: only attached sessions (~2 ms)
    from pypod_core.engine.detach_keys import parse_detach_keys  # lazy: the engine, not for parsing

    parse_detach_keys(args.detach_keys)
    ctr = ctx.runtime.lookup_container(args.container)
    return attaching.attach(ctr, not args.no_stdin, args.detach_keys)


def _add_attach(sub: Any) -> None:
    p = sub.add_parser("attach", help=summary("attach"))
    add_detach_keys_flag(p)
    p.add_argument("--no-stdin", action="store_true", help="do not pass our stdin on")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_attach)


# -- registration ----------------------------------------------------------------------


def _multi(p: argparse.ArgumentParser, handler: Handler, verb: str,
           all_flag: bool = False) -> None:
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    if all_flag:
        # start's -a is --attach, as podman's
        short = () if verb == "start" else ("-a",)
        p.add_argument(*short, "--all", action="store_true", help="act on every container")
    p.set_defaults(func=handler, verb=verb)


def _ps_flags(p: argparse.ArgumentParser) -> None:
    """``ps`` and ``container ls``."""
    p.add_argument("-a", "--all", action="store_true", help="show every container")
    p.add_argument("-q", "--quiet", action="store_true", help="print ids only")
    p.add_argument("--no-trunc", action="store_true", help="full ids and commands")
    p.add_argument("--format", default="", help="json, or a Go template")
    p.add_argument("-p", "--pod", action="store_true", help="show each container's pod")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="only the containers that match: id, name, label, status, exited, "
                        "ancestor, pod, network, since, before, volume, health, "
                        "restart-policy")
    p.add_argument("--sort", default="", metavar="KEY",
                   help="command, created (the default), id, image, names, runningfor, "
                        "size or status")
    p.add_argument("--noheading", action="store_true", help="no header line")
    p.add_argument("-n", "--last", type=int, default=None, metavar="N",
                   help="the N containers created last (any state)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="the container created last (any state)")
    p.add_argument("-s", "--size", action="store_true",
                   help="a SIZE column: what the container wrote (virtual: with its image)")
    p.add_argument("--ns", action="store_true", help="the namespaces of running containers")
    p.add_argument("--external", action="store_true",
                   help="also containers of other tools in the store: pypod's store holds "
                        "only its own, so the list is the same")
    p.set_defaults(func=cmd_ps)


def _add_ls(sub: Any) -> None:
    _ps_flags(sub.add_parser("ls", help=summary("ls")))


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the container commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`), at the top level and under ``pypod container``;
    each command's parser is made by the ``_add_<command>`` beside its handler."""
    for verb in container_verbs():
        if want(verb):
            globals()[f"_add_{verb}"](sub)
    if "container" in groups:
        for verb in [*container_verbs(), *sub_commands("container", "containers")]:
            if want(verb, group="container"):
                globals()[f"_add_{verb}"](groups["container"])
