"""Declares the ``cni`` network backend; the implementation is imported by its factory."""

from __future__ import annotations

from pypod_core.plugin import NetworkBackend, hookimpl


def _make_network(runtime):
    from pypod_net_cni.network import CNINetwork  # lazy: only when the backend is built

    return CNINetwork.for_runtime(runtime)


@hookimpl
def pypod_network_backends():
    """``cni``: CNI plugins in a network namespace per container."""
    yield NetworkBackend(
        name="cni", factory=_make_network, description="CNI plugins in network namespaces"
    )
