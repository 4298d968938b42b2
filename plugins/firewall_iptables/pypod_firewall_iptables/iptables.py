"""The ``iptables`` firewall: the seed's rules (libpod's ``pkg/firewall``, the CNI
firewall plugin's iptables backend), for IPv4 with ``iptables`` and IPv6 with
``ip6tables``.

In the filter table: chains ``CNI-FORWARD`` and ``CNI-ADMIN``; ``FORWARD`` jumps to
``CNI-FORWARD`` first, whose first rule jumps to ``CNI-ADMIN`` (where an administrator
puts overrides); per container address, in ``CNI-FORWARD``::

    -d IP -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -s IP -j ACCEPT

Every command runs with ``-w`` (wait for the xtables lock).  Reading the table once
(``-S``) and then adding only the missing rules keeps ``add`` idempotent at two or three
commands; a lock file under the runtime's tmp dir keeps two pypod processes from both
adding a rule they both found missing.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from pypod_core.errors import FirewallError
from pypod_core.firewall import Firewall, container_ips

if TYPE_CHECKING:
    from pypod_core.runtime import Runtime

PRIV_CHAIN = "CNI-FORWARD"
ADMIN_CHAIN = "CNI-ADMIN"
TABLE = "filter"
_FORWARD_JUMP = ["-m", "comment", "--comment", "CNI firewall plugin rules", "-j", PRIV_CHAIN]
_ADMIN_JUMP = ["-m", "comment", "--comment", "CNI firewall plugin admin overrides",
               "-j", ADMIN_CHAIN]
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
        self._tools: dict[int, str] = {}

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> IptablesFirewall:
        """The firewall of a runtime: its lock lives in the runtime's tmp dir."""
        return cls(lock_path=os.path.join(runtime.config.tmp_dir, "iptables.lock"))

    def add(self, result: dict[str, Any]) -> None:
        """Make the chains and jumps if missing, then each address's missing rules."""
        for version, ips in _by_family(result):
            with self._locked():
                present = self._dump(version)
                self._ensure_chains(version, present)
                for ip in ips:
                    for args in per_ip_rules(ip):
                        if rule_line(PRIV_CHAIN, args) not in present:
                            self._run(version, "-A", PRIV_CHAIN, *args)

    def delete(self, result: dict[str, Any]) -> None:
        """Delete each address's rules that exist; leave chains and jumps (shared)."""
        for version, ips in _by_family(result):
            with self._locked():
                present = self._dump(version)
                for ip in ips:
                    for args in per_ip_rules(ip):
                        if rule_line(PRIV_CHAIN, args) in present:
                            self._run(version, "-D", PRIV_CHAIN, *args, tolerate_missing=True)

    def rules(self, result: dict[str, Any]) -> list[str]:
        """The per-address rules of ``result`` that exist now, as ``iptables -S`` lines."""
        found = []
        for version, ips in _by_family(result):
            present = self._dump(version)
            for ip in ips:
                found += [line for args in per_ip_rules(ip)
                          if (line := rule_line(PRIV_CHAIN, args)) in present]
        return found

    def _ensure_chains(self, version: int, present: set[str]) -> None:
        for chain in (PRIV_CHAIN, ADMIN_CHAIN):
            if f"-N {chain}" not in present:
                self._run(version, "-N", chain, tolerate_exists=True)
        # Inserted first, as the seed does, so that no earlier rule of the host drops
        # the containers' traffic before pypod's accept rules see it.
        if rule_line("FORWARD", _FORWARD_JUMP) not in present:
            self._run(version, "-I", "FORWARD", "1", *_FORWARD_JUMP)
        if rule_line(PRIV_CHAIN, _ADMIN_JUMP) not in present:
            self._run(version, "-I", PRIV_CHAIN, "1", *_ADMIN_JUMP)

    def _dump(self, version: int) -> set[str]:
        """Every line of ``iptables -S`` for the filter table."""
        return set(self._run(version, "-S").splitlines())

    def _tool(self, version: int) -> str:
        if version not in self._tools:
            name = "iptables" if version == 4 else "ip6tables"
            path = find_tool(name)
            if path is None:
                raise FirewallError(f"{name} not found: install Debian's iptables package")
            self._tools[version] = path
        return self._tools[version]

    def _run(self, version: int, *args: str, tolerate_missing: bool = False,
             tolerate_exists: bool = False) -> str:
        cmd = [self._tool(version), "-w", "-t", TABLE, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            err = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            if tolerate_missing and ("does a matching rule exist" in err[0] or
                                     "No chain" in err[0] or "Bad rule" in err[0]):
                return ""
            if tolerate_exists and "already exists" in err[0]:
                return ""
            raise FirewallError(f"{' '.join(cmd)}: {err[0]}")
        return proc.stdout

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        with FileLock(self._lock_path):
            yield


def _by_family(result: dict[str, Any]) -> Iterator[tuple[int, list[IPAddress]]]:
    ips = container_ips(result)
    for version in (4, 6):
        chosen = [ip for ip in ips if ip.version == version]
        if chosen:
            yield version, chosen
