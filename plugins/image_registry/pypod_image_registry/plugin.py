"""Declares the ``docker`` image transport (registries); imports nothing heavy."""

from __future__ import annotations

from pypod_core.plugin import ImageTransportBackend, hookimpl


def _factory(runtime):
    # lazy: only when the backend is built
    import os

    # lazy: only when the backend is built (http.client, ssl ~55 ms)
    from pypod_image_registry.transport import DockerTransport

    # Which repositories have which blobs, for cross-repository mounts on push
    # (containers/image keeps its blob info cache beside its store, too).
    locations = os.path.join(runtime.config.graph_root, "cache", "blob-locations.json")
    return DockerTransport(registries_conf=runtime.config.registries_conf,
                           blob_locations=locations)


@hookimpl
def pypod_image_transports():
    """``docker``: images in registries that speak the OCI distribution spec."""
    yield ImageTransportBackend(name="docker", factory=_factory,
                                description="container registries (docker://)")
