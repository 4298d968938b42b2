"""``pypod network ls|inspect|create|rm|exists|prune|connect|disconnect``: the networks
of the runtime's network backend, and containers joining and leaving them.

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.output import parse_format
from pypod_core.errors import InvalidArgError, NetworkError, NoSuchNetworkError, PypodError
from pypod_core.model import NetworkOptions

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted


def _network(ctx: CLIContext) -> Any:
    network = ctx.runtime.network
    if not network:
        raise NetworkError("this runtime has no network backend (rootless pypod has none)")
    return network


def cmd_ls(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network ls``: NETWORK ID, NAME, DRIVER (podman's columns), JSON, or a Go
    template for each network (see _template_view); sorted by name, as podman's."""
    template = parse_format(args.format, "json")
    infos = sorted(_network(ctx).networks(), key=lambda i: i.name)
    if args.format.strip() == "json":
        ctx.out(json.dumps([_summary(i) for i in infos], indent=2))
    elif args.quiet:
        for info in infos:
            ctx.out(info.name)
    elif template is not None:
        for info in infos:
            ctx.out(template.render(_template_view(info)))
    else:
        rows = [] if args.noheading else [("NETWORK ID", "NAME", "DRIVER")]
        rows += [(network_id(i.name)[:None if args.no_trunc else 12], i.name, i.driver)
                 for i in infos]
        width = [max((len(r[c]) for r in rows), default=0) for c in range(2)]
        for row in rows:
            ctx.out(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}".rstrip())
    return 0


def network_id(name: str) -> str:
    """A network's id: the sha256 of its name, as podman's CNI backend derives it (a CNI
    config list has no id of its own)."""
    import hashlib  # lazy: only network ls (hashlib is off the other commands' path)

    return hashlib.sha256(name.encode()).hexdigest()


def _add_ls(group: Any, verb: str = "ls") -> None:
    p = group.add_parser(verb, help=summary(verb, "network"))
    p.add_argument("--format", "-f", default="", help="json, or a Go template")
    p.add_argument("-q", "--quiet", action="store_true", help="names only")
    p.add_argument("-n", "--noheading", action="store_true", help="no header line")
    p.add_argument("--no-trunc", action="store_true", help="whole network ids")
    p.set_defaults(func=cmd_ls)


def _add_list(group: Any) -> None:
    _add_ls(group, "list")


def _template_view(info: Any) -> dict[str, Any]:
    """podman's ``network ls`` template fields that a CNI network has: ``.ID``, ``.Name``,
    ``.Driver``, ``.NetworkInterface``, ``.Subnets``, ``.DNSEnabled``; plus
    ``.Default``, ``.Path``, ``.CNIVersion`` and ``.Plugins``."""
    summary = _summary(info)
    return {"ID": network_id(info.name), "Name": info.name, "Driver": info.driver,
            "NetworkInterface": info.interface, "DNSEnabled": info.dns_enabled,
            "Subnets": list(info.subnets), "Default": info.default, "Path": info.path,
            "CNIVersion": summary["cniVersion"], "Plugins": summary["plugins"]}


def _summary(info: Any) -> dict[str, Any]:
    return {"name": info.name, "driver": info.driver, "subnets": list(info.subnets),
            "interface": info.interface, "default": info.default, "path": info.path,
            "dns_enabled": info.dns_enabled,
            "cniVersion": info.config.get("cniVersion", ""),
            "plugins": [p["type"] for p in info.config.get("plugins", [])]}


def cmd_inspect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network inspect NAME...``: each network's config list, and beside its
    keys podman 4's summary of the network (``id``, ``driver``, ``network_interface``,
    ``subnets``, ``dns_enabled``...), which scripts read."""
    network = _network(ctx)
    ctx.out(json.dumps([_inspect_view(network.inspect(name)) for name in args.names],
                       indent=2))
    return 0


def _inspect_view(info: Any) -> dict[str, Any]:
    """The config list (CNI's keys are camelCase, podman 4's snake_case: none clash
    but ``name``, the same in both) with podman 4's keys added."""
    ipams = [p.get("ipam") or {} for p in info.config.get("plugins", [])]
    gateways = {r.get("subnet"): r.get("gateway") for ipam in ipams
                for range_set in ipam.get("ranges") or [] for r in range_set
                if isinstance(r, dict)}
    subnets = [{"subnet": s, "gateway": gateways.get(s) or _first_host(s)}
               for s in info.subnets]
    ipam = [i.get("type") for i in ipams]
    return {**info.config, "name": info.name, "id": network_id(info.name),
            "driver": info.driver, "network_interface": info.interface,
            "subnets": subnets, "ipv6_enabled": any(":" in s for s in info.subnets),
            "internal": False, "dns_enabled": info.dns_enabled,
            "ipam_options": {"driver": next((t for t in ipam if t), "")}}


def _first_host(subnet: str) -> str:
    """host-local's default gateway: the subnet's first address."""
    import ipaddress  # lazy: only network inspect (~1 ms)

    try:
        return str(next(ipaddress.ip_network(subnet, strict=False).hosts()))
    except (ValueError, StopIteration):
        return ""


def _add_inspect(group: Any) -> None:
    p = group.add_parser("inspect", help=summary("inspect", "network"))
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_inspect)


def cmd_create(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network create [--subnet CIDR] [--disable-dns] NAME``: print its name, as
    podman does (``network ls --format {{.Path}}`` shows its config file).  Its
    containers resolve each other's names unless ``--disable-dns`` (podman's default)."""
    from pypod_core.plugin.declarations import contract_at_least  # lazy: create (~0 ms, loaded)

    network = _network(ctx)
    decl = ctx.runtime.plugins.backend("network", ctx.runtime.config.network_backend)
    if contract_at_least(decl.contract, "1.6"):
        info = network.create(args.name, subnet=args.subnet, dns=not args.disable_dns)
    else:  # written before networks had DNS: it makes none, as --disable-dns asks
        info = network.create(args.name, subnet=args.subnet)
    ctx.out(info.name)
    return 0


def _add_create(group: Any) -> None:
    p = group.add_parser("create", help=summary("create", "network"))
    p.add_argument("--subnet", default="", help="subnet in CIDR notation (default: a free /24)")
    p.add_argument("--disable-dns", action="store_true",
                   help="no name resolution between the network's containers")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_create)


def cmd_rm(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network rm [-f] [-t T] NAME...``: refuse while containers are configured
    to join it; ``-f`` removes them first, and a missing network is then no error
    (podman's)."""
    from pypod_core.engine.networking import remove_network  # lazy: only network rm (~4 ms)

    code = 0
    for name in args.names:
        try:
            remove_network(ctx.runtime, name, force=args.force, timeout=args.time)
            ctx.out(name)
        except PypodError as exc:
            if args.force and isinstance(exc, NoSuchNetworkError):
                continue
            print(f"Error: {exc}", file=sys.stderr)
            # podman's exit codes: 1 for a network that does not exist, else 125
            failed = 1 if isinstance(exc, NoSuchNetworkError) else 125
            code = failed if code == 0 else min(code, failed)
    return code


def _add_rm(group: Any) -> None:
    p = group.add_parser("rm", help=summary("rm", "network"))
    p.add_argument("-f", "--force", action="store_true",
                   help="remove the containers that use it first; no error if missing")
    p.add_argument("-t", "--time", type=int, default=None, metavar="SECONDS",
                   help="seconds before a running container is killed (with -f)")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_rm)


def cmd_exists(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network exists NAME``: exit 0 if it does, 1 if not (podman's)."""
    from pypod_core.errors import NoSuchNetworkError  # lazy: only network exists

    try:
        _network(ctx).inspect(args.name)
    except NoSuchNetworkError:
        return 1
    return 0


def _add_exists(group: Any) -> None:
    p = group.add_parser("exists", help=summary("exists", "network"))
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_exists)


def cmd_prune(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network prune [-f]``: remove every network no container is configured
    to join (the default network stays), printing each name."""
    from pypod_core.cli.container_tools import confirm, print_pruned  # lazy: only prune

    if args.filter:
        raise InvalidArgError("network prune --filter: not supported by pypod (its "
                              "networks have no labels nor creation times to filter on)")
    _network(ctx)
    if not args.force and not confirm(ctx, "WARNING! This will remove all networks not "
                                           "used by at least one container."):
        return 0
    return print_pruned(ctx, ctx.runtime.prune_networks())


def _add_prune(group: Any) -> None:
    p = group.add_parser("prune", help=summary("prune", "network"))
    p.add_argument("-f", "--force", action="store_true", help="do not ask first")
    p.add_argument("--filter", action="append", default=[], metavar="K=V",
                   help="refused: pypod's networks have no labels nor creation times")
    p.set_defaults(func=cmd_prune)


def cmd_connect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network connect [--alias A] [--ip IP] [--ip6 IP] [--mac-address MAC]
    NETWORK CONTAINER``: the container joins the network (at once if it runs)."""
    ips = tuple(_ip(value, flag) for value, flag in ((args.ip, "--ip"), (args.ip6, "--ip6"))
                if value)
    aliases = tuple(a for given in args.alias for a in given.split(",") if a)
    options = NetworkOptions(network=args.network, aliases=aliases, static_ips=ips,
                             static_mac=_mac(args.mac_address) if args.mac_address else "")
    ctr = ctx.runtime.lookup_container(args.container)
    ctx.runtime.connect_network(ctr, args.network, options)
    return 0


def _ip(value: str, flag: str) -> str:
    """An address given to ``flag``, canonical; podman's words for a bad one."""
    import ipaddress  # lazy: only network connect --ip (~1 ms)

    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidArgError(f'invalid argument "{value}" for "{flag}" flag: invalid '
                              f"string being converted to IP address: {value}") from None


def _mac(value: str) -> str:
    """A 6-byte MAC address (``:`` or ``-`` between the bytes) as ``aa:bb:...``; Go's
    words for a bad one, as podman's."""
    parts = value.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF"
                                                      for c in p) for p in parts):
        raise InvalidArgError(f"address {value}: invalid MAC address")
    return ":".join(parts).lower()


def _add_connect(group: Any) -> None:
    p = group.add_parser("connect", help=summary("connect", "network"))
    p.add_argument("--alias", action="append", default=[], metavar="NAME",
                   help="a network-scoped alias of the container (for DNS plugins)")
    p.add_argument("--ip", default="", help="a static IPv4 address on the network")
    p.add_argument("--ip6", default="", help="a static IPv6 address on the network")
    p.add_argument("--mac-address", default="", metavar="MAC",
                   help="a static MAC address of the container's interface on the network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_connect)


def cmd_disconnect(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network disconnect [-f] NETWORK CONTAINER``: the container leaves the
    network (at once if it runs).  ``-f`` is podman's, which disconnects the same way
    with or without it (a running container needs no forcing)."""
    ctr = ctx.runtime.lookup_container(args.container)
    ctx.runtime.disconnect_network(ctr, args.network)
    return 0


def _add_disconnect(group: Any) -> None:
    p = group.add_parser("disconnect", help=summary("disconnect", "network"))
    p.add_argument("-f", "--force", action="store_true",
                   help="accepted as podman's: it disconnects the same without it")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_disconnect)


def cmd_reload(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod network reload [--all] CONTAINER...``: each running bridged container's
    firewall and port rules made again (after a firewall reload or an iptables flush);
    prints each container's id, as podman.  ``--all``: every running container on a
    bridge network.  Errors are reported per container (exit 125)."""
    from pypod_core.engine.networking import reload_network  # lazy: only network reload
    from pypod_core.model import ContainerStatus  # lazy: only network reload

    if args.all and args.containers:
        raise InvalidArgError("--all and container names cannot be given together")
    if not args.all and not args.containers:
        raise InvalidArgError("network reload: name at least one container, or --all")
    runtime = ctx.runtime
    if args.all:
        ctrs = [c for c in runtime.containers() if c.config.network_mode == "bridge"
                and c.state.state == ContainerStatus.RUNNING]
    else:
        ctrs = [runtime.lookup_container(name) for name in args.containers]
    errors = []
    for ctr in ctrs:
        try:
            with ctr.locked():  # synced: a container that exited meanwhile is refused
                reload_network(runtime, ctr)
        except PypodError as exc:
            errors.append(f"{ctr.config.name}: {exc}")
            continue
        ctx.out(ctr.config.id)
    for message in errors:
        print(f"Error: {message}", file=sys.stderr)
    return 125 if errors else 0


def _add_reload(group: Any) -> None:
    p = group.add_parser("reload", help=summary("reload", "network"))
    p.add_argument("-a", "--all", action="store_true",
                   help="every running container on a bridge network")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.set_defaults(func=cmd_reload)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add the ``pypod network`` commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`); each command's parser is made by the
    ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "networks", sub, groups, want, group="network")
