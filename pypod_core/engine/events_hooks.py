"""The core's event hooks, registered with its default stages: each event of a runtime
goes to its events log (:mod:`pypod_core.engine.events`), as podman's libpod writes one
for each container, pod, image and volume event.

The statuses are podman's: a container's ``create``, ``start``, ``died`` (with its exit
code) and ``remove``; a pod's ``create`` and ``remove``; an image's ``pull`` and
``remove``; a volume's ``create`` and ``remove``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pypod_core.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from pypod_core.model import Image, Volume


def _write(runtime: Any, **fields: Any) -> None:
    """Log one event happening now (the log's module is loaded by the first event:
    every runtime registers these hooks, few commands make an event)."""
    # lazy: only an event to write (~1.8 ms)
    from pypod_core.engine.events import Event, now_ns, write_event

    if runtime.config.events_logger == "file":
        write_event(runtime.config, Event(time_ns=now_ns(), **fields))


def _container_event(runtime: Any, container: Any, status: str,
                     exit_code: int | None = None) -> None:
    if runtime.config.events_logger == "file":
        # lazy: only an event to write (~1.8 ms)
        from pypod_core.engine.events import container_event, write_event

        write_event(runtime.config, container_event(container.config, status, exit_code))


@hookimpl
def pypod_container_created(runtime: Any, container: Any) -> None:
    """Log the container's ``create``."""
    _container_event(runtime, container, "create")


@hookimpl
def pypod_container_started(runtime: Any, container: Any) -> None:
    """Log the container's ``start``."""
    _container_event(runtime, container, "start")


@hookimpl
def pypod_container_exited(runtime: Any, container: Any) -> None:
    """Log the container's ``died``, with its exit code."""
    _container_event(runtime, container, "died", container.state.exit_code)


@hookimpl
def pypod_container_removed(runtime: Any, container: Any) -> None:
    """Log the container's ``remove``."""
    _container_event(runtime, container, "remove")


def _pod_event(runtime: Any, pod: Any, status: str) -> None:
    _write(runtime, type="pod", status=status, id=pod.id, name=pod.name)


@hookimpl
def pypod_pod_created(runtime: Any, pod: Any) -> None:
    """Log the pod's ``create``."""
    _pod_event(runtime, pod, "create")


@hookimpl
def pypod_pod_removed(runtime: Any, pod: Any) -> None:
    """Log the pod's ``remove``."""
    _pod_event(runtime, pod, "remove")


@hookimpl
def pypod_image_pulled(runtime: Any, image: Image) -> None:
    """Log the image's ``pull``, named as it was pulled."""
    _write(runtime, type="image", status="pull", id=image.id,
           name=image.names[0] if image.names else "")


@hookimpl
def pypod_image_removed(runtime: Any, image: Image) -> None:
    """Log the image's ``remove``."""
    _write(runtime, type="image", status="remove", id=image.id,
           name=image.names[0] if image.names else "")


@hookimpl
def pypod_volume_created(runtime: Any, volume: Volume) -> None:
    """Log the volume's ``create``."""
    _write(runtime, type="volume", status="create", name=volume.name)


@hookimpl
def pypod_volume_removed(runtime: Any, volume: Volume) -> None:
    """Log the volume's ``remove``."""
    _write(runtime, type="volume", status="remove", name=volume.name)
