"""Declares the ``docker`` image transport (registries); imports nothing heavy."""

from __future__ import annotations

from pypod_core.plugin import ImageTransportBackend, hookimpl


def _factory(runtime):
    # lazy: only when the backend is built
    from pypod_image_registry.transport import DockerTransport

    return DockerTransport(registries_conf=runtime.config.registries_conf)


@hookimpl
def pypod_image_transports():
    """``docker``: images in registries that speak the OCI distribution spec."""
    yield ImageTransportBackend(name="docker", factory=_factory,
                                description="container registries (docker://)")
