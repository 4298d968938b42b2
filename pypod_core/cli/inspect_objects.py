"""``pypod inspect``'s lookups of each object type, in podman's order for ``--type all``:
a container, an image, a volume, a network, a pod.

Each finder returns the object's inspect document (the one its own ``inspect`` verb
prints) or raises its type's NoSuch error, which ``--type all`` takes as "try the next
type"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pypod_core.errors import (
    NoSuchCtrError,
    NoSuchImageError,
    NoSuchNetworkError,
    NoSuchPodError,
    NoSuchVolumeError,
)

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext

#: The errors that say "no object of this type has that name".
NOT_FOUND = (NoSuchCtrError, NoSuchImageError, NoSuchVolumeError, NoSuchNetworkError,
             NoSuchPodError)


def find_container(ctx: CLIContext, name: str) -> dict[str, Any]:
    """The container's document (podman's keys)."""
    return ctx.runtime.lookup_container(name).sync().inspect()


def find_image(ctx: CLIContext, name: str) -> dict[str, Any]:
    """The image's document, as ``image inspect``'s."""
    from pypod_core.engine.image_inspect import inspect_image  # lazy: only images

    runtime = ctx.runtime
    return inspect_image(runtime.image_store, runtime.graph_driver, runtime.get_image(name))


def find_volume(ctx: CLIContext, name: str) -> dict[str, Any]:
    """The volume's document, as ``volume inspect``'s."""
    return ctx.runtime.inspect_volume(ctx.runtime.lookup_volume(name))


def find_network(ctx: CLIContext, name: str) -> dict[str, Any]:
    """The network's config list, as ``network inspect``'s (rootless pypod has no
    network backend, so no network has any name)."""
    network = ctx.runtime.network
    if not network:
        raise NoSuchNetworkError(f'unable to find network with name or ID {name}: '
                                 'network not found')
    return dict(network.inspect(name).config)


def find_pod(ctx: CLIContext, name: str) -> dict[str, Any]:
    """The pod's document, as ``pod inspect``'s."""
    return ctx.runtime.lookup_pod(name).inspect()


#: ``inspect --type`` values and their finders; ``all`` tries them in this order.
FINDERS: dict[str, Callable[[CLIContext, str], dict[str, Any]]] = {
    "container": find_container, "image": find_image, "volume": find_volume,
    "network": find_network, "pod": find_pod}


def find_any(ctx: CLIContext, name: str) -> dict[str, Any] | None:
    """The document of the first object of any type that has ``name``, or None."""
    for finder in FINDERS.values():
        try:
            return finder(ctx, name)
        except NOT_FOUND:
            continue
    return None
