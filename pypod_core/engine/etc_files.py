"""A container's ``/etc/hosts`` and ``/etc/resolv.conf``, as podman 4.3 makes them
(containers/common's ``etchosts`` and ``resolvconf``).

Every container gets files of its own in its run dir, bind-mounted read-write: what
root in the container writes there never reaches the host's files.

``resolv.conf`` is built from the host's: its nameservers, search domains and options.
In a network namespace of its own (bridge) a container cannot reach the host's
loopback, so loopback nameservers are dropped (a lone systemd-resolved or
NetworkManager stub is replaced by the servers behind it first), IPv6 ones too when
the container has no IPv6 address, and Google's public servers stand in if none is
left.  ``--dns`` replaces the nameservers; ``--dns-search`` and ``--dns-option`` come
first (the host's follow unless ``--dns`` is given, as podman does); ``--dns none``
writes no file (the rootfs's own is used).  A container without a network (``none``)
gets no ``resolv.conf``.

``hosts`` is ``--add-host`` entries, then the host's ``/etc/hosts`` entries, then
``localhost``, ``host.containers.internal`` (the bridge's gateway, or the host's first
global address) and the container's own names on its address, each name only if no
line before has it.  ``--no-hosts`` writes no file.

A container sharing another's network namespace (a pod's member) mounts that
container's files instead; its names are added to the shared ``hosts`` on
``127.0.0.1`` while it runs.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.engine.names import hostname_of
from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig
    from pypod_core.engine.container import Container
    from pypod_core.model import ContainerConfig

HOST_RESOLV_CONF = "/etc/resolv.conf"
HOST_HOSTS = "/etc/hosts"
#: podman's stand-ins when no nameserver of the host is reachable (Google's).
DEFAULT_IPV4_DNS = ("8.8.8.8", "8.8.4.4")
DEFAULT_IPV6_DNS = ("2001:4860:4860::8888", "2001:4860:4860::8844")
#: Where the real servers are when the host's only nameserver is a local stub.
STUB_RESOLVERS = {"127.0.0.53": "/run/systemd/resolve/resolv.conf",
                  "127.0.0.1": "/run/NetworkManager/no-stub-resolv.conf"}
HOST_CONTAINERS_INTERNAL = "host.containers.internal"

#: The DNS and hosts fields of ContainerConfig that hold lists of text, and the flags.
LIST_FIELDS = ("dns_servers", "dns_search", "dns_options", "extra_hosts")
BOOL_FIELDS = ("no_resolv_conf", "no_hosts")
DNS_FIELDS = ("dns_servers", "dns_search", "dns_options")
#: The network modes that reach a network (and so get a resolv.conf).
WITH_NETWORK = ("host", "bridge", "slirp4netns")

#: podman's rule for a search domain (cmd/podman/parse), without its ``:?`` typos.
_DOMAIN = re.compile(r"^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*)\.?$")
_BAD_WORD = re.compile(r"[\s#]")
_SIOCGIFADDR = 0x8915


# -- validation (at create) ------------------------------------------------------------


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``create_container``'s DNS and hosts fields, checked and normalised (tuples,
    nameservers in canonical form); TypeError for a wrong type (ContainerConfig's, as
    :func:`~pypod_core.engine.validate.check_field` checks every field), InvalidArgError
    naming the bad value.  ``fields`` is not changed."""
    from pypod_core.engine.validate import check_field  # lazy: only create (~0.3 ms)

    result = dict(fields)
    for key in (*LIST_FIELDS, *BOOL_FIELDS):
        if key in result:
            result[key] = check_field(key, result[key])
    if result.get("dns_servers"):
        result["dns_servers"] = tuple(_nameserver(s) for s in result["dns_servers"])
    search = result.get("dns_search", ())
    if "." in search and len(search) > 1:
        raise InvalidArgError("invalid --dns-search: '.' (no search domains) cannot be "
                              "combined with other domains")
    for domain in search:
        if domain != "." and (not re.search("[a-zA-Z]", domain) or len(domain) >= 255
                              or not _DOMAIN.match(domain)):
            raise InvalidArgError(f"invalid --dns-search {domain!r}: not a valid domain")
    for option in result.get("dns_options", ()):
        if not option or _BAD_WORD.search(option):
            raise InvalidArgError(f"invalid --dns-option {option!r}: one word, no spaces")
    for entry in result.get("extra_hosts", ()):
        check_extra_host(entry)
    if result.get("no_resolv_conf") and any(result.get(k) for k in DNS_FIELDS):
        raise InvalidArgError("--dns none cannot be combined with DNS servers, "
                              "--dns-search or --dns-option")
    if result.get("no_hosts") and result.get("extra_hosts"):
        raise InvalidArgError("--no-hosts and --add-host cannot be used together")
    return result


def check_network(fields: Mapping[str, Any]) -> None:
    """Refuse DNS settings that would have no effect: on a container without a network
    (it gets no resolv.conf), or one sharing another's network namespace (it uses that
    one's files)."""
    dns = [k for k in DNS_FIELDS if fields.get(k)]
    joined = (fields.get("shared_namespaces") or {}).get("net")
    if joined and (dns or fields.get("extra_hosts")):
        raise InvalidArgError(f"the container shares the network namespace of container "
                              f"{joined[:12]}: set DNS servers, search domains, options and "
                              "extra hosts on that container")
    if dns and not joined and fields.get("network_mode", "none") == "none":
        raise InvalidArgError("--dns, --dns-search and --dns-option need a network: the "
                              "container's network mode is none (no resolv.conf is made)")


def _nameserver(text: str) -> str:
    import ipaddress  # lazy: only --dns (~1 ms)

    if text == "none":
        raise InvalidArgError("invalid DNS server 'none': --dns none stands alone (in "
                              "Python: no_resolv_conf=True)")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidArgError(f"invalid DNS server {text!r}: not an IP address") from None


def check_extra_host(entry: str) -> str:
    """An ``--add-host`` value, ``HOST:IP`` (the IP may be IPv6: split at the first
    colon), or InvalidArgError naming it."""
    import ipaddress  # lazy: only --add-host (~1 ms)

    name, colon, ip = entry.partition(":")
    if not colon or not name or _BAD_WORD.search(name):
        raise InvalidArgError(f"invalid --add-host {entry!r}: expected HOST:IP")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgError(f"invalid --add-host {entry!r}: {ip!r} is not an IP "
                              "address") from None
    return entry


# -- resolv.conf -----------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.partition("#")[0] for line in text.split("\n")]


def _nameservers(text: str) -> list[str]:
    found = []
    for line in _lines(text):
        words = line.split()
        if len(words) == 2 and words[0] == "nameserver" and _looks_like_ip(words[1]):
            found.append(words[1])
    return found


def _looks_like_ip(text: str) -> bool:
    if ":" in text:
        return re.fullmatch(r"([0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(%\w+)?", text) is not None
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def _last_list(text: str, keyword: str) -> list[str]:
    """The words of the last ``search`` or ``options`` line (the resolver's rule)."""
    words: list[str] = []
    for line in _lines(text):
        fields = line.split()
        if fields and fields[0] == keyword:
            words = fields[1:]
    return words


def _is_loopback(ip: str) -> bool:
    return ip == "::1" or re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}", ip) is not None


def reachable_nameservers(text: str, ipv6: bool) -> list[str]:
    """The host's nameservers a container in its own network namespace can use: no
    loopback ones, no IPv6 ones without ``ipv6``; Google's if none is left."""
    servers = [s for s in _nameservers(text)
               if not _is_loopback(s) and (ipv6 or ":" not in s)]
    if not servers:
        servers = [*DEFAULT_IPV4_DNS, *(DEFAULT_IPV6_DNS if ipv6 else ())]
    return servers


def host_resolv_text(own_netns: bool, path: str = HOST_RESOLV_CONF) -> str:
    """The host's resolv.conf ("" if none); for a container in a namespace of its own
    whose host's only nameserver is a local stub, the file naming the real servers."""
    text = _read(path)
    if own_netns:
        servers = _nameservers(text)
        if len(servers) == 1 and servers[0] in STUB_RESOLVERS:
            text = _read(STUB_RESOLVERS[servers[0]]) or text
    return text


def resolv_conf(host_text: str, *, own_netns: bool, ipv6: bool = False,
                servers: Sequence[str] = (), search: Sequence[str] = (),
                options: Sequence[str] = (), network_servers: Sequence[str] = (),
                network_search: Sequence[str] = ()) -> str:
    """The text of a container's resolv.conf, podman's way.

    ``servers``/``search``/``options`` are ``--dns``/``--dns-search``/``--dns-option``;
    ``network_*`` what the container's networks' DNS told (CNI results).  Without
    ``servers``, the networks' servers and then the host's are used, and the host's
    search domains and options follow the given ones.  A search list of ``.`` means
    none."""
    keep_host = not servers
    nameservers = list(servers) if servers else list(network_servers)
    wanted_search = list(search) if search else list(network_search) if keep_host else []
    searches = [] if "." in wanted_search else wanted_search
    if keep_host:
        nameservers += (reachable_nameservers(host_text, ipv6) if own_netns
                        else _nameservers(host_text))
    if not wanted_search or (keep_host and searches):
        searches += _last_list(host_text, "search")
    opts = list(options)
    if not opts or keep_host:
        opts += _last_list(host_text, "options")
    out = []
    if searches:
        out.append("search " + " ".join(searches))
    out += [f"nameserver {s}" for s in nameservers]
    if opts:
        out.append("options " + " ".join(opts))
    return "".join(line + "\n" for line in out)


# -- hosts -----------------------------------------------------------------------------


Entry = tuple[str, list[str]]


def parse_hosts(text: str) -> list[Entry]:
    """The (address, names) lines of a hosts file, comments dropped."""
    entries = []
    for line in _lines(text):
        fields = line.split()
        if len(fields) >= 2:
            entries.append((fields[0], fields[1:]))
    return entries


def _format(entries: Iterable[Entry]) -> str:
    return "".join(f"{ip}\t{' '.join(names)}\n" for ip, names in entries)


def _free(entries: Iterable[Entry], taken: set[str]) -> list[Entry]:
    """``entries`` with the names in ``taken`` left out (and entries left empty)."""
    result = []
    for ip, names in entries:
        free = [n for n in names if n not in taken]
        if free:
            result.append((ip, free))
    return result


def hosts_file(base_text: str, *, extra_hosts: Sequence[str] = (),
               own: Sequence[Entry] = (), host_ip: str = "") -> str:
    """The text of a container's hosts file: ``--add-host`` entries (``HOST:IP``), the
    base file's entries, then localhost, ``host.containers.internal`` on ``host_ip``
    and the container's ``own`` entries with only names not given before."""
    user = [(ip, [name]) for name, _, ip in (e.partition(":") for e in extra_hosts)]
    user += parse_hosts(base_text)
    special: list[Entry] = [("127.0.0.1", ["localhost"]), ("::1", ["localhost"])]
    if host_ip:
        special.append((host_ip, [HOST_CONTAINERS_INTERNAL]))
    taken = {name for _, names in user for name in names}
    return _format(user) + _format(_free([*special, *own], taken))


def host_address() -> str:
    """The host's first global unicast IPv4 address by interface order (podman's
    fallback for ``host.containers.internal``), else its first global IPv6 one, or ""."""
    try:
        interfaces = sorted(socket.if_nameindex())
    except OSError:
        interfaces = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in interfaces:
            try:
                raw = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR,
                                  struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address
            ip = socket.inet_ntoa(raw[20:24])
            if _global_ipv4(ip):
                return ip
    # /proc/net/if_inet6: address (32 hex), index, prefix, scope (00 global), flags, name
    for line in _read("/proc/net/if_inet6").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "00" and not fields[0].startswith("ff"):
            packed = bytes.fromhex(fields[0])
            return socket.inet_ntop(socket.AF_INET6, packed)
    return ""


def _global_ipv4(ip: str) -> bool:
    first, second = (int(p) for p in ip.split(".")[:2])
    return not (first in (0, 127) or first >= 224 or (first, second) == (169, 254))


# -- network results -------------------------------------------------------------------


def _addresses(status: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The container's addresses (no prefix) in its networks' CNI results."""
    return [ip["address"].partition("/")[0] for result in status.values()
            for ip in result.get("ips") or [] if ip.get("address")]


def _bridge_gateway(status: Mapping[str, Mapping[str, Any]]) -> str:
    """The first IPv4 (else IPv6) gateway of a network with an interface on the host
    (a bridge: podman takes bridge networks' only; a macvlan's is not the host)."""
    found = ""
    for result in status.values():
        if not any(not i.get("sandbox") for i in result.get("interfaces") or []):
            continue
        for ip in result.get("ips") or []:
            gateway = ip.get("gateway") or ""
            if gateway and ":" not in gateway:
                return str(gateway)
            found = found or gateway
    return found


def _network_dns(status: Mapping[str, Mapping[str, Any]], key: str) -> list[str]:
    return [item for result in status.values()
            for item in (result.get("dns") or {}).get(key) or []]


# -- the files of a container ----------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _write_in_place(path: str, text: str | None) -> None:
    """Write ``path`` keeping its inode (a container may have it bind-mounted), under
    an flock of the file against a pod member adding its names meanwhile; None makes
    an empty file, to be written later."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    with open(fd, "r+", encoding="utf-8") as f:
        if text is None:
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        if os.fstat(fd).st_size:  # a truncation costs milliseconds on some hosts
            f.truncate(0)
        f.write(text)


def write_files(config: ContainerConfig, run_dir: str,
                network_status: Mapping[str, Mapping[str, Any]] | None = None,
                defaults: RuntimeConfig | None = None) -> list[tuple[str, str]]:
    """Write the container's ``hosts`` and ``resolv.conf`` in ``run_dir`` (see the
    module's docstring); return the (host file, container path) pairs to bind-mount.
    ``defaults`` is the runtime's config: its ``dns_*``, ``base_hosts_file`` and
    ``host_containers_internal_ip`` (containers.conf's keys) apply to every container.

    A bridged container's files are made empty until its networks are attached: they
    are written with its ``network_status`` then (:func:`complete_network_files`), as
    its addresses and whether it has IPv6 are known only then."""
    files = managed_files(config, run_dir)
    if config.shared_namespaces.get("net"):
        return _join_files(config, files)
    pending = network_status is None and config.network_mode == "bridge"
    status = network_status or {}
    text = {"/etc/hosts": _hosts_text, "/etc/resolv.conf": _resolv_text}
    for ctr_path, host_file in files.items():
        _write_in_place(host_file,
                        None if pending else text[ctr_path](config, status, defaults))
    return [(host_file, ctr_path) for ctr_path, host_file in files.items()]


def managed_files(config: ContainerConfig, run_dir: str) -> dict[str, str]:
    """Container path -> host file of the ``/etc`` files a container gets (written or
    not): ``hosts`` unless ``--no-hosts``; ``resolv.conf`` unless ``--dns none``, for a
    container with a network (host or bridge).  A container joining another's network
    namespace gets that one's (in its run dir, a sibling of ``run_dir``)."""
    joined = config.shared_namespaces.get("net")
    base = os.path.join(os.path.dirname(run_dir), joined) if joined else run_dir
    files = {}
    if not config.no_hosts:
        files["/etc/hosts"] = os.path.join(base, "hosts")
    if not config.no_resolv_conf and (joined or config.network_mode in WITH_NETWORK):
        files["/etc/resolv.conf"] = os.path.join(base, "resolv.conf")
    return files


def _hosts_text(config: ContainerConfig, status: Mapping[str, Mapping[str, Any]],
                defaults: RuntimeConfig | None) -> str:
    names = [hostname_of(config), config.name]
    own: list[Entry] = []
    if config.network_mode == "bridge":
        own = [(ip, names) for ip in _addresses(status)]
        host_ip = _bridge_gateway(status) or host_address()
    elif config.network_mode == "slirp4netns":
        # slirp's gateway is the host only through user-mode NAT: podman names the
        # host's own address instead.
        own = [(_slirp().addresses(config).ip, names)]
        host_ip = host_address()
    else:
        host_ip = host_address()
        if config.network_mode == "none":
            own = [("127.0.0.1", names)]
    base = defaults.base_hosts_file if defaults else ""
    if defaults and defaults.host_containers_internal_ip:
        host_ip = defaults.host_containers_internal_ip
    base_text = "" if base == "none" else _read(base or HOST_HOSTS)
    return hosts_file(base_text, extra_hosts=config.extra_hosts, own=own, host_ip=host_ip)


def _resolv_text(config: ContainerConfig, status: Mapping[str, Mapping[str, Any]],
                 defaults: RuntimeConfig | None) -> str:
    own_netns = config.network_mode != "host"
    # containers.conf's DNS keys come first, the container's own flags after (podman's
    # order); together they replace what the networks and the host would give.
    servers, search, options = (list(getattr(defaults, key, ())) for key in
                                ("dns_servers", "dns_searches", "dns_options"))
    return resolv_conf(host_resolv_text(own_netns), own_netns=own_netns,
                       ipv6=any(":" in ip for ip in _addresses(status)),
                       servers=[*servers, *config.dns_servers],
                       search=[*search, *config.dns_search],
                       options=[*options, *config.dns_options],
                       network_servers=_network_dns(status, "nameservers") or (
                           [_slirp().addresses(config).dns]
                           if config.network_mode == "slirp4netns" else []),
                       network_search=_network_dns(status, "search"))


def _slirp() -> Any:
    from pypod_core.engine import slirp  # lazy: only slirp4netns containers (~1 ms)

    return slirp


def _join_files(config: ContainerConfig, files: Mapping[str, str]) -> list[tuple[str, str]]:
    """Of the ``files`` of the container whose network namespace ``config``'s joins,
    those it has; our names go into its hosts."""
    pairs = []
    hosts = files.get("/etc/hosts")
    if hosts:
        try:
            _add_member(hosts, config)
            pairs.append((hosts, "/etc/hosts"))
        except FileNotFoundError:
            pass  # that container makes none (--no-hosts), or it no longer runs
    resolv = files.get("/etc/resolv.conf")
    if resolv and os.path.exists(resolv):
        pairs.append((resolv, "/etc/resolv.conf"))
    return pairs


def _member_entry(config: ContainerConfig) -> Entry:
    # One namespace: the member is reached on loopback, as podman writes it.
    return ("127.0.0.1", [hostname_of(config), config.name])


def _add_member(path: str, config: ContainerConfig) -> None:
    with open(path, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        entries = parse_hosts(f.read())
        taken = {name for _, names in entries for name in names}
        f.write(_format(_free([_member_entry(config)], taken)))


def leave_shared_hosts(ctr: Container) -> None:
    """When a container that joined another's network namespace is cleaned up: remove
    the loopback line naming it from that container's hosts file (if still there)."""
    joined = ctr.config.shared_namespaces.get("net")
    if not joined or ctr.config.no_hosts:
        return
    path = managed_files(ctr.config, ctr.run_dir)["/etc/hosts"]
    try:
        f = open(path, "r+", encoding="utf-8")
    except FileNotFoundError:
        return  # that container's files went first
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        entries = parse_hosts(f.read())
        # Our name (unique) on loopback: never a line the owner or a user wrote for
        # another container.
        kept = [(ip, names) for ip, names in entries
                if not (ip == "127.0.0.1" and ctr.config.name in names)]
        if len(kept) != len(entries):
            f.seek(0)
            f.truncate()
            f.write(_format(kept))


def complete_network_files(ctr: Container) -> None:
    """Rewrite a bridged container's files in place with its networks' results (its
    addresses in hosts, the bridge as ``host.containers.internal``; IPv6 and the
    networks' DNS servers in resolv.conf), after its networks are attached and
    before its process starts."""
    config = ctr.config
    if config.network_mode != "bridge" or config.shared_namespaces.get("net"):
        return
    write_files(config, ctr.run_dir, ctr.state.network_status, ctr.runtime.config)


def _own_file(ctr: Container, ctr_path: str) -> str:
    """The host file behind ``ctr_path`` if pypod writes it for this container ("" if
    it has none, or it is another container's)."""
    if ctr.config.shared_namespaces.get("net"):
        return ""
    path = managed_files(ctr.config, ctr.run_dir).get(ctr_path, "")
    return path if path and os.path.exists(path) else ""


def _network_entries(ctr: Container, result: Mapping[str, Any]) -> list[Entry]:
    names = [hostname_of(ctr.config), ctr.config.name]
    return [(ip, names) for ip in _addresses({"": result})]


def add_network(ctr: Container, result: Mapping[str, Any]) -> None:
    """After ``network connect``: the container's names on its addresses on the new
    network appended to its hosts file; resolv.conf made again if that network has DNS
    servers of its own (its addresses may add IPv6 too)."""
    hosts = _own_file(ctr, "/etc/hosts")
    if hosts:
        with open(hosts, "a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(_format(_network_entries(ctr, result)))
    _renew_resolv_conf(ctr, result)


def remove_network(ctr: Container, result: Mapping[str, Any]) -> None:
    """After ``network disconnect``: the lines naming the container on that network's
    addresses removed from its hosts file (the rest as it is); resolv.conf made again
    if that network had DNS servers of its own."""
    hosts = _own_file(ctr, "/etc/hosts")
    if hosts:
        gone = {ip for ip, _ in _network_entries(ctr, result)}
        names = {hostname_of(ctr.config), ctr.config.name}
        with open(hosts, "r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            entries = parse_hosts(f.read())
            kept = [(ip, n) for ip, n in entries if not (ip in gone and names & set(n))]
            if len(kept) != len(entries):
                f.seek(0)
                f.truncate()
                f.write(_format(kept))
    _renew_resolv_conf(ctr, result)


def _renew_resolv_conf(ctr: Container, result: Mapping[str, Any]) -> None:
    resolv = _own_file(ctr, "/etc/resolv.conf")
    if resolv and (result.get("dns") or {}).get("nameservers"):
        _write_in_place(resolv, _resolv_text(ctr.config, ctr.state.network_status,
                                              ctr.runtime.config))


def managed_paths(ctr: Container) -> dict[str, str]:
    """Container path -> host file of the ``/etc`` files pypod manages for ``ctr``
    (for inspect's ``HostsPath`` and ``ResolvConfPath``), whether written yet or not."""
    return managed_files(ctr.config, ctr.run_dir)
