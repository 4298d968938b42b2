"""The infra container's root filesystem and its pause process (podman's pause image).

A pod's namespaces belong to its infra container, whose only job is to exist: its
process waits for a signal and exits cleanly on SIGTERM, as podman's ``catatonit -P``.
pypod needs no image registry for it: the first pod of a graph root builds a busybox
root filesystem (:mod:`pypod_core.host.rootfs`, from Debian's busybox-static) under
``<graph_root>/infra/<infra_image>`` holding the pause script ``/bin/pypod-pause``, the
default ``infra_command``.  Every infra container runs from that one directory,
read-only.  An absolute ``infra_image`` names a root filesystem directory of your own
instead (its ``infra_command`` must exist in it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from pypod_core.errors import ConfigError, ImageInUseError, InvalidArgError
from pypod_core.host.rootfs import make_busybox_rootfs

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig

#: Where the pause script lives in pypod's infra root filesystem.
PAUSE_PATH = "/bin/pypod-pause"

#: The pause process.  It blocks on a FIFO it holds open for reading and writing (no
#: child process, no timer); the trap makes SIGTERM, SIGINT and SIGHUP end it with 0.
#: A PID 1 ignores signals it has no handler for, hence the explicit trap.  Should the
#: FIFO not be possible, it falls back to waiting on a long sleep.
PAUSE_SCRIPT = """#!/bin/sh
# pypod-pause: the process of a pod's infra container. It holds the pod's namespaces
# and waits; SIGTERM, SIGINT or SIGHUP end it with status 0.
trap 'exit 0' TERM INT HUP
fifo=/run/pypod-pause.fifo
if [ -p "$fifo" ] || mkfifo "$fifo" 2>/dev/null; then
    while :; do read -r _ <> "$fifo"; done
fi
while :; do sleep 2147483647 & wait $!; done
"""


def infra_rootfs(config: RuntimeConfig, image: str = "") -> str:
    """The root filesystem directory of infra containers (``image``, default config
    ``infra_image``), built on first use.

    The build happens in a private directory renamed into place, so that processes
    creating their first pods at the same moment never see a half-made tree."""
    image = image or config.infra_image
    if os.path.isabs(image):
        if not os.path.isdir(image):
            raise InvalidArgError(f"infra_image {image}: not a directory")
        return image
    if not image or "/" in image or image in (".", ".."):
        raise InvalidArgError(f"infra_image {image!r}: a name or an absolute directory")
    target = os.path.join(config.graph_root, "infra", image)
    if os.path.isdir(target):
        return target
    os.makedirs(os.path.dirname(target), 0o700, exist_ok=True)
    building = f"{target}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        make_busybox_rootfs(building)
        pause = os.path.join(building, PAUSE_PATH.lstrip("/"))
        with open(pause, "w") as f:
            f.write(PAUSE_SCRIPT)
        os.chmod(pause, 0o755)
        os.rename(building, target)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(building, ignore_errors=True)
        if not os.path.isdir(target):  # not merely beaten to it by another process
            raise ConfigError(f"infra_image {image}: cannot build the infra root filesystem "
                              f"at {target}: {exc} (or set infra_image to a root "
                              "filesystem directory)") from None
    return target


def infra_source(runtime: Any, image: str, command: list[str] | None) -> dict[str, Any]:
    """create_container's root filesystem and command for a pod's infra container.

    ``image`` ("": config ``infra_image``) is an absolute root filesystem directory, an
    image of the store (podman's ``--infra-image``: ``command`` replaces its entrypoint,
    and without one its own runs; a reference with a registry or tag that the store
    lacks is pulled first), or a name for pypod's pause root filesystem (built
    under ``graph_root/infra``).  ``command`` (None: config ``infra_command``) runs in a
    directory."""
    config: RuntimeConfig = runtime.config
    image = image or config.infra_image  # containers.conf's [engine] infra_image too
    if image and not os.path.isabs(image) and ("/" in image or ":" in image) \
            and not runtime.image_exists(image):
        # As podman: an infra image missing from the store is pulled (its errors are
        # the pull's, "initializing source docker://...").
        runtime.pull_image(image, policy="missing")
    if image and not os.path.isabs(image) and runtime.image_exists(image):
        return {"image": image, "command": (),
                **({"entrypoint": command} if command else {})}
    rootfs = infra_rootfs(config, image)
    return {"rootfs": rootfs, "command": command or config.infra_command}


# -- podman's name for it ----------------------------------------------------------------

#: podman names the pause image it builds locally ``localhost/podman-pause:VERSION-BUILT``
#: (its ``version``'s Version and Built); scripts remove it by that name.
PAUSE_IMAGE_REPO = "localhost/podman-pause"


def build_time() -> int:
    """When pypod was installed (its package's time): ``version``'s ``Built``."""
    import pypod_core  # lazy: loaded already; only its file's time is read (~0 ms)

    return int(os.stat(pypod_core.__file__).st_mtime)


def pause_image_name() -> str:
    """pypod's infra root filesystem under podman's name for its pause image."""
    from pypod_core.plugin.entrypoints import version  # lazy: only rmi and version (~1 ms)

    return f"{PAUSE_IMAGE_REPO}:{version('pypod') or 'unknown'}-{build_time()}"


def remove_pause_rootfs(runtime: Any) -> bool:
    """``rmi`` of :func:`pause_image_name`: delete pypod's built infra root filesystem
    (the next pod builds it again), as podman's rmi of its pause image.  False if it was
    not built; ImageInUseError naming an infra container that runs from it."""
    config: RuntimeConfig = runtime.config
    if os.path.isabs(config.infra_image):
        return False  # a directory of the user's own: never pypod's to delete
    target = os.path.join(config.graph_root, "infra", config.infra_image)
    if not os.path.isdir(target):
        return False
    for ctr in runtime.containers():
        if ctr.config.is_infra and ctr.config.rootfs == target:
            raise ImageInUseError(
                f"image used by {ctr.config.id}: image is in use by a container: remove "
                f"pod {ctr.config.pod} first")
    shutil.rmtree(target)
    return True
