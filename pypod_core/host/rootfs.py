"""Make a busybox root filesystem from the host's static busybox (Debian's busybox-static).

pypod runs containers from a root filesystem directory (``--rootfs``); this is how the
README's first command and the test suite get one without an image registry.

    python -m pypod_core.host.rootfs DIR
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "run", "var/tmp", "home")
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def find_busybox() -> str:
    """The host's busybox binary; FileNotFoundError naming the package if missing."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            return path
    raise FileNotFoundError("busybox not found: install Debian's busybox-static")


def make_busybox_rootfs(target: str) -> str:
    """Create (or complete) a busybox root filesystem at ``target``; return its path."""
    busybox = find_busybox()
    for d in _DIRS:
        os.makedirs(os.path.join(target, d), exist_ok=True)
    # The container's "/": a non-root user must be able to enter it (mkdtemp makes 0700).
    os.chmod(target, 0o755)
    os.chmod(os.path.join(target, "tmp"), 0o1777)
    bin_busybox = os.path.join(target, "bin", "busybox")
    if not os.path.exists(bin_busybox):
        shutil.copy2(busybox, bin_busybox)
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        link = os.path.join(target, "bin", applet)
        if applet != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    for name, text in (("passwd", _PASSWD), ("group", _GROUP), ("hostname", "pypod\n")):
        path = os.path.join(target, "etc", name)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(text)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m pypod_core.host.rootfs DIR")
    print(make_busybox_rootfs(sys.argv[1]))
