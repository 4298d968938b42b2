"""A stand-in namespace for DEL when the container's own namespace is gone.

CNI's bridge plugin learns which addresses to un-masquerade by reading them off the
container's interface; with the namespace gone (removed by hand, or a crash between
the two steps of teardown) it finds none, and its ``nat`` rules stay behind forever.
Given a namespace holding an interface of the same name with the cached addresses, its
DEL finds them and removes the rules, as if the container's namespace were still there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from pypod_core.errors import NetworkError
from pypod_core.host.netns import create_netns, remove_netns, run_in_netns
from pypod_core.plugin.network import result_addresses
from pypod_net_cni.cache import CacheEntry


def make_standin(directory: str, entry: CacheEntry) -> str:
    """A namespace with ``entry.ifname`` (one end of a veth pair) holding the cached addresses;
    "" where there is nothing to stand in for or ``ip`` is missing."""
    addresses = result_addresses(entry.result or {})
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not addresses or ip is None:
        return ""
    name = discard_standin(directory, entry)
    path = create_netns(directory, name)
    # A veth pair, not a dummy link: veth is always there where CNI's bridge works.
    peer = "standin0" if entry.ifname != "standin0" else "standin1"
    commands = [[ip, "link", "add", entry.ifname, "type", "veth", "peer", "name", peer]]
    commands += [[ip, "addr", "add", a, "dev", entry.ifname] for a in addresses]

    def populate() -> None:
        # A child forked from this thread starts in the thread's (the stand-in) netns.
        for cmd in commands:
            subprocess.run(cmd, check=True, capture_output=True)

    try:
        run_in_netns(path, populate)
    except (subprocess.CalledProcessError, OSError, NetworkError):
        remove_netns(path)
        return ""
    return path


def needs_standin(plugins: Iterable[dict[str, Any]]) -> bool:
    """Whether a DEL without the container's namespace would leave something behind: a
    plugin that masquerades (``ipMasq``, as bridge and ptp) reads the addresses to
    un-masquerade off the interface.  The others release what they hold elsewhere."""
    return any(plugin.get("ipMasq") is True for plugin in plugins)


def discard_standin(directory: str, entry: CacheEntry) -> str:
    """Remove the stand-in a process killed in the middle of DEL left behind (it would make
    create_netns fail, "exists already", in every later teardown); return its name."""
    name = f"standin-{entry.container_id[:16]}-{entry.ifname}"
    remove_netns(os.path.join(directory, name))
    return name


def drop_standin(path: str) -> None:
    """Remove a stand-in namespace (the kernel deletes its links with it)."""
    if path:
        remove_netns(path)
