"""Declares the ``runc`` and ``crun`` OCI runtimes: one implementation, two binaries."""

from __future__ import annotations

from pypod_core.plugin import OCIRuntimeBackend, hookimpl


def _factory(name: str):
    def make(runtime):
        from pypod_oci_runc.runtime import ConmonOCIRuntime  # lazy: only when the backend is built

        return ConmonOCIRuntime.for_runtime(runtime, name)

    return make


@hookimpl
def pypod_oci_runtimes():
    """``runc`` and ``crun``, each run under conmon."""
    for name in ("runc", "crun"):
        yield OCIRuntimeBackend(
            name=name, factory=_factory(name), description=f"{name} under conmon"
        )
