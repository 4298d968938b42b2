"""Running one CNI plugin binary, as the CNI spec says (libcni's ``invoke`` package).

The plugin gets the operation in ``CNI_*`` environment variables and its network
configuration on stdin; it prints a result (ADD) or an error object on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

import attrs

from pypod_core.errors import NetworkError

#: Plugins call iptables, ip, sysctl...: their PATH must hold the sbin directories even
#: where pypod itself was started with a bare one.
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: How long one plugin may take: a hung plugin (a stuck lock, a DHCP server that never
#: answers) must not hang pypod, which holds the container's lock meanwhile.
PLUGIN_TIMEOUT = 60.0


@attrs.frozen(kw_only=True)
class Invocation:
    """What one CNI operation passes every plugin of a list (the ``CNI_*`` variables)."""

    command: str
    container_id: str
    netns: str
    ifname: str
    args: str = ""
    plugin_dirs: tuple[str, ...] = ()
    #: ``XDG_RUNTIME_DIR`` of the plugins, "" for ours: where ``dnsname`` keeps each
    #: network's dnsmasq files (``<dir>/containers/cni/dnsname/<network>``), fixed so
    #: that a DEL from another shell finds what the ADD made, and apart from podman's.
    runtime_dir: str = ""

    def environ(self) -> dict[str, str]:
        """The plugin's environment: ours plus the ``CNI_*`` variables."""
        env = dict(os.environ)
        env["PATH"] = ":".join(p for p in (env.get("PATH", ""), _SYSTEM_PATH) if p)
        if self.runtime_dir:
            env["XDG_RUNTIME_DIR"] = self.runtime_dir
        env.update({
            "CNI_COMMAND": self.command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": self.args,
            "CNI_PATH": ":".join(self.plugin_dirs),
        })
        return env


def find_plugin(kind: str, plugin_dirs: Sequence[str]) -> str | None:
    """The first executable file named ``kind`` in ``plugin_dirs``."""
    if "/" in kind or kind in ("", ".", ".."):
        return None
    for directory in plugin_dirs:
        path = os.path.join(directory, kind)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def exec_plugin(binary: str, config: dict[str, Any], inv: Invocation) -> dict[str, Any] | None:
    """Run ``binary`` with ``config`` on stdin; return its parsed result (None when it
    prints nothing, as DEL and CHECK do).  NetworkError, one line, on failure."""
    kind = os.path.basename(binary)
    try:
        proc = _run(binary, json.dumps(config).encode(), inv.environ())
    except OSError as exc:
        raise NetworkError(f"CNI plugin {binary}: cannot run: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise NetworkError(f"CNI plugin {kind} {inv.command}: no answer within "
                           f"{PLUGIN_TIMEOUT:g}s (killed)") from None
    out = proc.stdout.strip()
    if proc.returncode != 0:
        raise NetworkError(f"CNI plugin {kind} {inv.command} failed: {_error_text(proc)}")
    if not out:
        return None
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        raise NetworkError(
            f"CNI plugin {kind} {inv.command}: not a JSON result: {out[:200]!r}"
        ) from None
    if not isinstance(result, dict):
        raise NetworkError(f"CNI plugin {kind} {inv.command}: result is not a JSON object")
    return result


def _run(binary: str, stdin: bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run a plugin; TimeoutExpired after PLUGIN_TIMEOUT, its whole process group killed
    (a child it left, iptables say, would otherwise hold the pipes and block us)."""
    with subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=PLUGIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess([binary], proc.returncode, out, err)


def _error_text(proc: subprocess.CompletedProcess[bytes]) -> str:
    """One line from a plugin's error object (``msg: details``), else its stderr."""
    try:
        err = json.loads(proc.stdout)
        text = err.get("msg") or ""
        if err.get("details"):
            text = f"{text}: {err['details']}" if text else str(err["details"])
        if text:
            return " ".join(str(text).split())
    except (json.JSONDecodeError, AttributeError):
        pass
    stderr = proc.stderr.decode(errors="replace").strip()
    return " ".join(stderr.split()) or f"exit status {proc.returncode}"
