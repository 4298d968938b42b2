"""podman's ``run``/``create`` flags beyond the basics of :mod:`pypod_core.cli.containers`:
the resource limits (``--memory``, ``--cpus``, ``--pids-limit``...), ``--device``,
``--timeout``, ``--tz``, ``--restart``, ``--secret``, ``--systemd``, ``--sysctl``, ``--group-add``,
``--pid``/``--ipc``/``--uts``, ``--annotation``, ``--env-file``, ``--label-file``,
``--env-host``, ``--log-driver``, ``--conmon-pidfile``, ``--cidfile``, ``--replace``,
``--pod new:NAME`` and, for ``run`` only, ``--rmi`` and ``--preserve-fds``.

:func:`add_flags` adds them to a parser, :func:`config_fields` turns them into
ContainerConfig fields (the engine checks the values), and the ``before_create`` /
``after_create`` steps do what happens around the create (the cid file, the
replaced container, the new pod).  Sizes are read as podman reads them (``512m``,
``1g``: binary units).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.errors import InvalidArgError, NoSuchCtrError, PypodError

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext
    from pypod_core.engine.container import Container

#: podman's size syntax (go-units' RAMInBytes): a number, a unit, an optional i and b.
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_ram(text: str) -> int:
    """Bytes from ``512m``, ``1g``, ``1.5GiB``, ``100`` (binary units, as podman);
    InvalidArgError ``invalid size: 'TEXT'`` otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidArgError(f"invalid size: '{text}'")
    return int(float(match[1]) * _UNITS[(match[2] or "").lower()])


def _memory(text: str | None, what: str = "invalid value for memory") -> int:
    if text is None:
        return 0
    try:
        return parse_ram(text)
    except InvalidArgError as exc:
        raise InvalidArgError(f"{what}: {exc}") from None


def _integer(text: str | None, flag: str) -> int:
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise InvalidArgError(f'invalid argument "{text}" for "{flag}" flag: strconv.'
                              f'ParseInt: parsing "{text}": invalid syntax') from None


def add_flags(p: argparse.ArgumentParser, run: bool) -> None:
    """The flags, on ``run``'s parser (``run``) or ``create``'s."""
    _add_resource_flags(p)
    a = p.add_argument
    a("--device", action="append", default=[], metavar="HOST[:CTR[:PERMS]]",
      help="a host device node (or directory of nodes) in the container")
    a("--device-cgroup-rule", action="append", default=[], metavar="'TYPE MAJ:MIN ACCESS'",
      help="allow a device in the container's device cgroup")
    a("--timeout", default=None, metavar="SECONDS",
      help="kill the container after this many seconds")
    a("--tz", default=None, help="the container's time zone (a zoneinfo name, or local)")
    a("--restart", default=None, metavar="POLICY",
      help="no, on-failure[:N], always or unless-stopped")
    a("--systemd", default="true", metavar="MODE",
      help="systemd mode: true (for an init command), false or always")
    a("--sysctl", action="append", default=[], metavar="NAME=VALUE")
    a("--group-add", action="append", default=[], metavar="GROUP")
    for kind in ("pid", "ipc", "uts"):
        a(f"--{kind}", default=None, metavar="MODE",
          help=f"the {kind} namespace: private, host or container:NAME")
    a("--annotation", action="append", default=[], metavar="KEY=VALUE")
    a("--env-file", action="append", default=[], metavar="FILE")
    a("--secret", action="append", default=[],
      metavar="NAME[,type=mount|env,target=,uid=,gid=,mode=]",
      help="give the container a secret: a file under /run/secrets, or a variable")
    a("--label-file", action="append", default=[], metavar="FILE")
    a("--env-host", action="store_true", help="pass on this process's environment")
    a("--unsetenv", action="append", default=[], metavar="NAME",
      help="leave out this default or image variable (PATH, TERM, container...)")
    a("--unsetenv-all", action="store_true",
      help="leave out every default and image variable (-e ones stay)")
    a("--http-proxy", nargs="?", const="true", default="true", metavar="BOOL",
      help="pass on this process's proxy variables (http_proxy...; default true)")
    a("--log-driver", default="k8s-file", metavar="DRIVER", help="k8s-file (json-file) or none")
    a("--conmon-pidfile", default="", metavar="FILE", help="where conmon writes its pid")
    a("--cidfile", default="", metavar="FILE", help="write the container's id to FILE")
    a("--replace", action="store_true",
      help="remove a container of the same --name first")
    if run:
        a("--rmi", action="store_true",
          help="remove the image once the container exited (implies --rm)")
        a("--preserve-fds", default=None, metavar="N",
          help="hand fds 3 to 3+N-1 on to the container's process")


def _add_resource_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("-m", "--memory", default=None, metavar="SIZE", help="memory limit (512m, 1g)")
    a("--memory-reservation", default=None, metavar="SIZE", help="memory soft limit")
    a("--memory-swap", default=None, metavar="SIZE",
      help="memory plus swap limit (-1: unlimited; default twice --memory)")
    a("--cpus", default=None, metavar="N", help="CPUs (a fraction: 1.5)")
    a("-c", "--cpu-shares", default=None, metavar="SHARES", help="relative CPU weight")
    a("--cpu-period", default=None, metavar="US", help="CFS period (microseconds)")
    a("--cpu-quota", default=None, metavar="US", help="CFS quota (microseconds)")
    a("--cpuset-cpus", default="", metavar="CPUS", help="CPUs allowed (0-3, 0,1)")
    a("--cpuset-mems", default="", metavar="NODES", help="memory nodes allowed")
    a("--pids-limit", default=None, metavar="N", help="process limit (-1: unlimited)")
    a("--blkio-weight", default=None, metavar="WEIGHT", help="block I/O weight (10-1000)")
    a("--oom-score-adj", default=None, metavar="N", help="-1000 to 1000")
    a("--shm-size", default=None, metavar="SIZE", help="size of /dev/shm (default 64m)")
    for flag, what in (("read-bps", "bytes per second read (1mb)"),
                       ("write-bps", "bytes per second written (1mb)"),
                       ("read-iops", "reads per second"), ("write-iops", "writes per second")):
        a(f"--device-{flag}", action="append", default=[], metavar="PATH:RATE",
          help=f"limit a block device's {what}")
    a("--kernel-memory", default=None, metavar="SIZE",
      help="a no-op, as podman's (the kernel dropped kernel memory limits): warns")


def resource_fields(args: argparse.Namespace) -> dict[str, Any]:
    """ContainerConfig fields of the resource flags given."""
    fields: dict[str, Any] = {
        "memory": _memory(args.memory), "memory_reservation": _memory(args.memory_reservation),
        "cpu_shares": _integer(args.cpu_shares, "--cpu-shares"),
        "cpu_period": _integer(args.cpu_period, "--cpu-period"),
        "cpu_quota": _integer(args.cpu_quota, "--cpu-quota"),
        "cpuset_cpus": args.cpuset_cpus, "cpuset_mems": args.cpuset_mems,
        "pids_limit": _integer(args.pids_limit, "--pids-limit"),
        "oom_score_adj": _integer(args.oom_score_adj, "--oom-score-adj"),
    }
    if args.memory_swap is not None:
        fields["memory_swap"] = -1 if args.memory_swap == "-1" else _memory(args.memory_swap)
    if args.cpus is not None:
        try:
            cpus = float(args.cpus)
        except ValueError:
            raise InvalidArgError(f'invalid argument "{args.cpus}" for "--cpus" flag: '
                                  f'strconv.ParseFloat: parsing "{args.cpus}": invalid '
                                  'syntax') from None
        if cpus < 0:
            raise InvalidArgError(f"invalid --cpus {args.cpus}: cannot be negative")
        if cpus > 0:  # --cpus sets the CFS pair, unless they are given themselves
            fields["cpu_period"] = fields["cpu_period"] or 100000
            fields["cpu_quota"] = fields["cpu_quota"] or int(cpus * 100000)
    if args.blkio_weight is not None:
        if not args.blkio_weight.isdigit() or int(args.blkio_weight) > 65535:
            raise InvalidArgError(f'invalid value for blkio-weight: strconv.ParseUint: '
                                  f'parsing "{args.blkio_weight}": invalid syntax')
        fields["blkio_weight"] = int(args.blkio_weight)
    if args.shm_size is not None:
        fields["shm_size"] = _memory(args.shm_size, "unable to translate --shm-size")
    if args.kernel_memory is not None:  # podman's warning, and nothing else, as podman
        print("WARN: The --kernel-memory flag is no longer supported. This flag is a noop.",
              file=sys.stderr, flush=True)
    throttle = [_throttle(kind, item) for kind in ("read_bps", "write_bps", "read_iops",
                                                   "write_iops")
                for item in getattr(args, f"device_{kind}")]
    if throttle:
        fields["device_throttle"] = tuple(throttle)
    return fields


def _throttle(kind: str, item: str) -> str:
    """``--device-read-bps /dev/sda:1mb`` as ``read_bps:/dev/sda:1048576`` (sizes in
    podman's binary units; iops a whole number); podman's errors otherwise."""
    path, colon, rate = item.rpartition(":")
    if not colon or not path.startswith("/"):
        raise InvalidArgError(f"bad format for device: {item}")
    try:
        number = parse_ram(rate) if kind.endswith("bps") else int(rate)
    except (InvalidArgError, ValueError):
        what = "rate" if kind.endswith("bps") else "IOps"
        raise InvalidArgError(f"invalid {what} for device: {item}. The correct format is "
                              "<device-path>:<number>[<unit>]. Number must be a positive "
                              "integer. Unit is optional and can be kb, mb, or gb") from None
    if number < 0:
        raise InvalidArgError(f"invalid rate for device: {item}. The correct format is "
                              "<device-path>:<number>[<unit>]. Number must be a positive "
                              "integer. Unit is optional and can be kb, mb, or gb")
    return f"{kind}:{path}:{number}"


def config_fields(args: argparse.Namespace, ctx: CLIContext) -> dict[str, Any]:
    """ContainerConfig fields of every flag of this module (besides the CLI-only ones)."""
    from pypod_core.engine.resources import parse_device  # lazy: only create, run
    from pypod_core.engine.run_options import parse_restart  # lazy: only --restart (~0.4 ms)

    fields = resource_fields(args)
    fields.update(
        devices=tuple(parse_device(d) for d in args.device),
        device_cgroup_rules=tuple(args.device_cgroup_rule),
        timeout=_integer(args.timeout, "--timeout"), tz=args.tz or "",
        systemd=args.systemd.lower(), sysctls=_sysctls(args.sysctl),
        group_add=tuple(g for value in args.group_add for g in value.split(",") if g),
        annotations=_annotations(args.annotation), log_driver=args.log_driver,
        unset_env=tuple(args.unsetenv), unset_env_all=args.unsetenv_all,
        conmon_pidfile=os.path.abspath(args.conmon_pidfile) if args.conmon_pidfile else "")
    if args.secret:
        fields["secrets"] = tuple(args.secret)  # the engine parses and looks them up
    if args.restart is not None:
        fields["restart_policy"], fields["restart_retries"] = parse_restart(args.restart)
    fields.update(_namespace_fields(args, ctx))
    return fields


#: The proxy variables ``--http-proxy`` passes on (podman's list).
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ftp_proxy",
              "FTP_PROXY", "no_proxy", "NO_PROXY")


def proxy_env(http_proxy: str) -> dict[str, str]:
    """``--http-proxy[=BOOL]``: this process's proxy variables that are set (none with
    false); podman's error for a value that is no boolean."""
    value = http_proxy.lower()
    if value not in ("true", "false", "1", "0", "t", "f"):
        raise InvalidArgError(f'invalid argument "{http_proxy}" for "--http-proxy" flag: '
                              f'strconv.ParseBool: parsing "{http_proxy}": invalid syntax')
    if value in ("false", "0", "f"):
        return {}
    return {k: os.environ[k] for k in PROXY_VARS if k in os.environ}


def _sysctls(items: list[str]) -> dict[str, str]:
    result = {}
    for value in items:
        for item in value.split(","):
            name, eq, setting = item.partition("=")
            if not eq or not name:
                raise InvalidArgError(f"{item!r} is not a valid sysctl format")
            if name != name.strip() or setting != setting.strip():
                raise InvalidArgError(f"'{item}' is invalid, extra spaces found")
            result[name] = setting
    return result


def _annotations(items: list[str]) -> dict[str, str]:
    result = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InvalidArgError(f"invalid --annotation {item!r}: annotations must be "
                                  "formatted KEY=VALUE")
        result[key] = value
    return result


def _namespace_fields(args: argparse.Namespace, ctx: CLIContext) -> dict[str, Any]:
    """``--pid``, ``--ipc``, ``--uts``: host, private (the default) or
    ``container:NAME`` (its namespace joined)."""
    host: list[str] = []
    shared: dict[str, str] = {}
    for kind in ("pid", "ipc", "uts"):
        mode = getattr(args, kind)
        if mode in (None, "", "private") or (kind == "ipc" and mode == "shareable"):
            continue
        if mode == "host":
            host.append(kind)
        elif mode.startswith("container:") and mode[len("container:"):]:
            shared[kind] = ctx.runtime.lookup_container(mode[len("container:"):]).id
        elif mode.startswith("ns:"):
            raise InvalidArgError(f"--{kind} {mode}: not supported by pypod (joining a "
                                  "namespace by path)")
        else:
            raise InvalidArgError(f"invalid --{kind} {mode!r}: private, host or "
                                  "container:NAME")
    fields: dict[str, Any] = {}
    if host:
        fields["host_namespaces"] = tuple(host)
    if shared:
        fields["shared_namespaces"] = shared
    return fields


def read_env_files(paths: list[str]) -> dict[str, str]:
    """``--env-file``: ``KEY=VALUE`` lines (``KEY`` alone: this process's value, if
    set); blank lines and ``#`` comments are skipped."""
    env: dict[str, str] = {}
    for path in paths:
        for number, line in _lines(path):
            key, eq, value = line.partition("=")
            if not key or key != key.strip() or " " in key:
                raise InvalidArgError(f"{path}:{number}: invalid environment variable "
                                      f"{line!r}")
            if eq:
                env[key] = value
            elif key in os.environ:
                env[key] = os.environ[key]
    return env


def read_label_files(paths: list[str]) -> dict[str, str]:
    """``--label-file``: ``KEY=VALUE`` lines (``KEY`` alone: an empty value)."""
    labels: dict[str, str] = {}
    for path in paths:
        for number, line in _lines(path):
            key, _, value = line.partition("=")
            if not key.strip():
                raise InvalidArgError(f"{path}:{number}: invalid label {line!r}")
            labels[key.strip()] = value
    return labels


def _lines(path: str) -> list[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise InvalidArgError(f"{path}: {exc.strerror}") from None
    return [(n, line.lstrip()) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]


# -- around the create -----------------------------------------------------------------


def before_create(args: argparse.Namespace, ctx: CLIContext) -> None:
    """What comes before the create: the cid file must not exist, ``--preserve-fds``'s
    fds must be open, ``--replace`` removes the container of the same name,
    ``--pod new:NAME`` makes the pod (``args.pod`` becomes its name)."""
    if args.cidfile and os.path.exists(args.cidfile):
        raise InvalidArgError(f"container id file exists. Ensure another container is not "
                              f"using it or delete {args.cidfile}")
    check_preserve_fds(getattr(args, "preserve_fds", None))
    if args.replace:
        if not args.name:
            raise InvalidArgError("cannot replace container without --name being set")
        try:
            old = ctx.runtime.lookup_container(args.name)
        except NoSuchCtrError:
            pass
        else:
            if old.name == args.name:  # not a container whose id begins so
                ctx.runtime.remove_container(old, force=True, volumes=True)
    if args.pod.startswith("new:"):
        name = args.pod[len("new:"):]
        if not name:
            raise InvalidArgError("new pod name must be at least one character")
        ctx.runtime.create_pod(name=name, **_new_pod_fields(args, ctx))
        args.pod = name


def _new_pod_fields(args: argparse.Namespace, ctx: CLIContext) -> dict[str, Any]:
    """``--pod new:NAME``: as podman's, the container's host name and network flags
    (``--network``, ``-p``, the DNS and hosts flags) are the new pod's, since its
    containers share the pod's UTS and network namespaces; they are taken off the
    container's flags."""
    from pypod_core.cli import options as opt  # lazy: only new pods (~0.4 ms)

    fields: dict[str, Any] = {"hostname": args.hostname, **opt.dns_fields(
        args.dns, args.dns_search, args.dns_option, args.add_host, args.no_hosts)}
    if args.network is not None:
        fields["network_mode"], fields["networks"] = opt.parse_network(
            args.network, ctx.runtime.rootless)
    fields["ports"] = tuple(m for spec in args.publish for m in opt.parse_publish(spec))
    args.hostname, args.network, args.publish = "", None, []
    args.dns, args.dns_search, args.dns_option, args.add_host = [], [], [], []
    args.no_hosts = False
    return fields


def check_preserve_fds(text: str | None) -> int:
    """``--preserve-fds N``: N, once fds 3 to 3+N-1 are known open (podman's error
    otherwise).  Checked before pypod opens any file of its own."""
    if text is None:
        return 0
    count = _integer(text, "--preserve-fds")
    if count < 0:
        raise InvalidArgError(f"invalid --preserve-fds {count}: must be 0 or more")
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise InvalidArgError(f"file descriptor {fd} is not available - the "
                                  "preserve-fds option requires that all file descriptors "
                                  "must be passed") from None
    return count


def after_create(args: argparse.Namespace, ctr: Container) -> None:
    """Write the cid file; hand ``--preserve-fds`` to the container's start."""
    if args.cidfile:
        try:
            with open(args.cidfile, "x") as f:
                f.write(ctr.id)
        except OSError as exc:
            raise InvalidArgError(f"opening cidfile {args.cidfile}: {exc.strerror}") \
                from None
    count = check_preserve_fds(getattr(args, "preserve_fds", None))
    if count:
        ctr.preserve_fds = count  # type: ignore[attr-defined]  # read by the OCI backend


def remove_image(ctx: CLIContext, image_id: str) -> None:
    """``--rmi``: remove the image the container ran (by the name it ran as: another
    name of it stays), unless another container uses it (podman says nothing then)."""
    if not image_id:
        return
    try:
        ctx.runtime.remove_image(image_id)
    except PypodError:
        pass  # in use by another container, or removed meanwhile
