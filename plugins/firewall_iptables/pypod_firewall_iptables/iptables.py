"""The ``iptables`` firewall: the seed's rules (libpod's ``pkg/firewall``, the CNI
firewall plugin's iptables backend), for IPv4 with ``iptables`` and IPv6 with
``ip6tables``.

In the filter table: chains ``CNI-FORWARD`` and ``CNI-ADMIN``; ``FORWARD`` jumps to
``CNI-FORWARD`` first, whose first rule jumps to ``CNI-ADMIN`` (where an administrator
puts overrides); per container address, in ``CNI-FORWARD``::

    -d IP -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -s IP -j ACCEPT

Other tools insert their own jumps first in ``FORWARD`` too (podman's netavark, docker):
each ``add`` moves pypod's jump back to the top when it finds it lower, so that their
rules never decide on pypod's containers' traffic.

For networks that leave masquerading to the firewall (pypod's own bridge networks), in
the nat table: ``POSTROUTING`` jumps to ``PYPOD-MASQ``, which holds per subnet::

    -s SUBNET -d SUBNET -j RETURN
    -s SUBNET ! -d 224.0.0.0/4 -j MASQUERADE

Every command runs with ``-w`` (wait for the xtables lock).  Reading the table once
(``-S``) and then adding only the missing rules keeps ``add`` idempotent at two or three
commands; a lock file under the runtime's tmp dir keeps two pypod processes from both
adding a rule they both found missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pypod_core.errors import FirewallError
from pypod_core.host.locks import FileLock, LockTimeout
from pypod_core.plugin.firewall import Firewall, container_ips

if TYPE_CHECKING:
    import ipaddress

    from pypod_core.plugin import RuntimeView as Runtime

    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIV_CHAIN = "CNI-FORWARD"
ADMIN_CHAIN = "CNI-ADMIN"
TABLE = "filter"
_FORWARD_JUMP = ["-m", "comment", "--comment", "CNI firewall plugin rules", "-j", PRIV_CHAIN]
_ADMIN_JUMP = ["-m", "comment", "--comment", "CNI firewall plugin admin overrides",
               "-j", ADMIN_CHAIN]
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")

MASQ_CHAIN = "PYPOD-MASQ"
_MASQ_JUMP = ["-m", "comment", "--comment", "pypod masquerade", "-j", MASQ_CHAIN]
_MULTICAST = {4: "224.0.0.0/4", 6: "ff00::/8"}

#: How long one command may take, waiting for the xtables lock included (``-w`` alone
#: waits for ever: a process stuck holding the lock must not hang pypod).
COMMAND_TIMEOUT = 60.0


def masquerade_rules(subnet: str) -> list[list[str]]:
    """The two rules of one subnet, as arguments after ``-A PYPOD-MASQ``."""
    import ipaddress  # lazy: only adding or removing a masquerade (~1 ms)

    net = ipaddress.ip_network(subnet, strict=False)
    return [
        ["-s", str(net), "-d", str(net), "-j", "RETURN"],
        ["-s", str(net), "!", "-d", _MULTICAST[net.version], "-j", "MASQUERADE"],
    ]


def per_ip_rules(ip: IPAddress) -> list[list[str]]:
    """The two rules of one container address, as arguments after ``-A CNI-FORWARD``."""
    cidr = f"{ip}/{ip.max_prefixlen}"
    return [
        ["-d", cidr, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ["-s", cidr, "-j", "ACCEPT"],
    ]


def rule_line(chain: str, args: list[str]) -> str:
    """A rule as ``iptables -S`` prints it (arguments with spaces are double-quoted)."""
    words = [f'"{a}"' if " " in a else a for a in args]
    return " ".join(["-A", chain, *words])


def find_tool(name: str) -> str | None:
    """The path of ``iptables``/``ip6tables``, also where $PATH lacks the sbin dirs."""
    return shutil.which(name) or next(
        (p for d in _SBIN_DIRS if os.access(p := os.path.join(d, name), os.X_OK)), None
    )


class IptablesFirewall(Firewall):
    """Per-address accept rules in the filter table, for both IP families."""

    name = "iptables"

    def __init__(self, lock_path: str | None = None):
        self._lock_path = lock_path
        self._tools: dict[str, str] = {}

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> IptablesFirewall:
        """The firewall of a runtime: its lock lives in the runtime's tmp dir."""
        return cls(lock_path=os.path.join(runtime.config.tmp_dir, "iptables.lock"))

    def add(self, result: dict[str, Any]) -> None:
        """Make the chains and jumps if missing, then each address's missing rules."""
        for version, ips in _by_family(result):
            wanted = [("-A", PRIV_CHAIN, args) for ip in ips for args in per_ip_rules(ip)]
            self._ensure(version, TABLE, _SETUP, wanted)

    def delete(self, result: dict[str, Any]) -> None:
        """Delete each address's rules that exist; leave chains and jumps (shared)."""
        for version, ips in _by_family(result):
            self._remove(version, TABLE,
                         [(PRIV_CHAIN, args) for ip in ips for args in per_ip_rules(ip)])

    def masquerade(self, subnets: list[str]) -> None:
        """Make the nat chain and its jump if missing, then each subnet's missing rules."""
        for version, nets in _subnets_by_family(subnets):
            wanted = [("-A", MASQ_CHAIN, args) for net in nets for args in masquerade_rules(net)]
            self._ensure(version, "nat", _MASQ_SETUP, wanted)

    def unmasquerade(self, subnets: list[str]) -> None:
        """Delete each subnet's rules that exist; the chain and jump stay (shared)."""
        for version, nets in _subnets_by_family(subnets):
            self._remove(version, "nat",
                         [(MASQ_CHAIN, args) for net in nets for args in masquerade_rules(net)])

    def masqueraded(self) -> list[str]:
        """The subnets with a MASQUERADE rule in ``PYPOD-MASQ``, IPv4 then IPv6."""
        found = []
        for version in (4, 6):
            if version == 6 and find_tool("ip6tables") is None:
                continue
            for line in sorted(self._dump(version, "nat")):
                words = line.split()
                if words[:2] == ["-A", MASQ_CHAIN] and words[-1] == "MASQUERADE":
                    found.append(words[3])
        return found

    def rules(self, result: dict[str, Any]) -> list[str]:
        """The per-address rules of ``result`` that exist now, as ``iptables -S`` lines;
        a rule present twice is listed twice (so that a non-idempotent add shows)."""
        found = []
        for version, ips in _by_family(result):
            present = Counter(self._run(version, "-S").splitlines())
            for ip in ips:
                for args in per_ip_rules(ip):
                    line = rule_line(PRIV_CHAIN, args)
                    found += [line] * present[line]
        return found

    def _ensure(self, version: int, table: str, setup: list[tuple[str, str, list[str]]],
                wanted: list[tuple[str, str, list[str]]]) -> None:
        """Read the table once, then apply what is missing of ``setup`` (chains, jumps)
        and ``wanted`` (rules) in one ``iptables-restore``; a rule another process added
        in between makes it fail as a whole, and it is done again from a fresh read."""
        with self._locked():
            for attempt in range(3):
                lines = self._run(version, "-S", table=table).splitlines()
                present = set(lines)
                ops = []
                for op, chain, args in [*setup, *wanted]:
                    line = rule_line(chain, args)
                    if op == "-N":
                        if f"-N {chain}" not in present:
                            ops.append(f"-N {chain}")
                    elif op == "-I" and _first_rule(lines, chain) != line:
                        # Missing, or no longer first: another tool (podman's netavark,
                        # docker) inserted its own jump above it since.  Moved back to
                        # the top, so that no rule of theirs decides on pypod's traffic.
                        if line in present:
                            ops.append(_op_line("-D", chain, args))
                        ops.append(_op_line(op, chain, args))
                    elif op != "-I" and line not in present:
                        ops.append(_op_line(op, chain, args))
                if not ops:
                    return
                try:
                    self._restore(version, table, ops)
                    return
                except FirewallError:
                    if attempt == 2:
                        raise

    def _remove(self, version: int, table: str, rules: list[tuple[str, list[str]]]) -> None:
        """Delete ``rules`` in one ``iptables-restore``; where some are gone already (it
        fails as a whole), read the table and delete those still there."""
        ops = [_op_line("-D", chain, args) for chain, args in rules]
        with self._locked():
            try:
                self._restore(version, table, ops)
                return
            except FirewallError:
                pass
            present = self._dump(version, table)
            ops = [_op_line("-D", chain, args) for chain, args in rules
                   if rule_line(chain, args) in present]
            if ops:
                self._restore(version, table, ops)

    def _dump(self, version: int, table: str = TABLE) -> set[str]:
        """Every line of ``iptables -S`` for ``table``."""
        return set(self._run(version, "-S", table=table).splitlines())

    def _tool(self, version: int, suffix: str = "") -> str:
        name = ("iptables" if version == 4 else "ip6tables") + suffix
        if name not in self._tools:
            path = find_tool(name)
            if path is None:
                raise FirewallError(f"{name} not found: install Debian's iptables package")
            self._tools[name] = path
        return self._tools[name]

    def _run(self, version: int, *args: str, table: str = TABLE) -> str:
        return _checked([self._tool(version), "-w", "-t", table, *args])

    def _restore(self, version: int, table: str, ops: list[str]) -> None:
        text = "\n".join([f"*{table}", *ops, "COMMIT", ""])
        _checked([self._tool(version, "-restore"), "-w", "--noflush"], text)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        lock = FileLock(self._lock_path)
        try:
            lock.acquire(timeout=COMMAND_TIMEOUT)
        except LockTimeout:
            raise FirewallError(f"{self._lock_path}: another pypod held the firewall lock "
                                f"for {COMMAND_TIMEOUT:g}s") from None
        try:
            yield
        finally:
            lock.release()


#: What ``add`` makes first in each family: the chains, FORWARD's jump to CNI-FORWARD and
#: its jump to CNI-ADMIN, both inserted first as the seed does, so that no earlier rule of
#: the host drops the containers' traffic before pypod's accept rules see it.  ``-I``
#: means "first in the chain": a jump found below another tool's is moved back up.
_SETUP: list[tuple[str, str, list[str]]] = [
    ("-N", PRIV_CHAIN, []),
    ("-N", ADMIN_CHAIN, []),
    ("-I", "FORWARD", _FORWARD_JUMP),
    ("-I", PRIV_CHAIN, _ADMIN_JUMP),
]
_MASQ_SETUP: list[tuple[str, str, list[str]]] = [
    ("-N", MASQ_CHAIN, []),
    ("-A", "POSTROUTING", _MASQ_JUMP),
]


def _first_rule(lines: list[str], chain: str) -> str:
    """The first rule of ``chain`` in ``iptables -S`` output, or ""."""
    prefix = f"-A {chain} "
    return next((line for line in lines if line.startswith(prefix)), "")


def _op_line(op: str, chain: str, args: list[str]) -> str:
    """One line of ``iptables-restore`` input (``-I`` inserts at position 1)."""
    line = rule_line(chain, args)[len("-A "):]
    if op == "-I":
        head, _, rest = line.partition(" ")
        return f"-I {head} 1 {rest}"
    return f"{op} {line}"


def _checked(cmd: list[str], stdin: str | None = None) -> str:
    """Run an iptables command; its output, or FirewallError with its last error line."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin,
                              timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise FirewallError(f"{' '.join(cmd)}: no answer within {COMMAND_TIMEOUT:g}s "
                            "(xtables lock held by another process?)") from None
    except OSError as exc:
        raise FirewallError(f"{cmd[0]}: cannot run: {exc.strerror}") from None
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise FirewallError(f"{' '.join(cmd)}: {err[0]}")
    return proc.stdout


def _subnets_by_family(subnets: list[str]) -> Iterator[tuple[int, list[str]]]:
    import ipaddress  # lazy: only adding or removing a masquerade (~1 ms)

    nets = [ipaddress.ip_network(s, strict=False) for s in subnets]
    for version in (4, 6):
        chosen = [str(n) for n in nets if n.version == version]
        if chosen:
            yield version, chosen


def _by_family(result: dict[str, Any]) -> Iterator[tuple[int, list[IPAddress]]]:
    ips = container_ips(result)
    for version in (4, 6):
        chosen = [ip for ip in ips if ip.version == version]
        if chosen:
            yield version, chosen
