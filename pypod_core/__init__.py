"""pypod: a daemonless container runtime built from pluggy plugins.

The public API: build a :class:`Runtime` with :func:`new_runtime`, declare backends with
the declaration types, write hooks with :data:`hookimpl`.
"""

from __future__ import annotations

from pypod_core.host import attrs_code

# Before any attrs class of pypod's is made: their compiled methods are kept between
# processes (~12 ms of compiling every command would pay; docs/performance.md).
attrs_code.install()

from pypod_core.plugin.declarations import (  # noqa: E402
    FirewallBackend,
    GraphDriverBackend,
    ImageTransportBackend,
    NetworkBackend,
    OCIRuntimeBackend,
    SecretDriverBackend,
    StateBackend,
    VolumeDriverBackend,
)
from pypod_core.plugin.hookspecs import hookimpl  # noqa: E402

__all__ = [
    "FirewallBackend",
    "GraphDriverBackend",
    "ImageTransportBackend",
    "NetworkBackend",
    "OCIRuntimeBackend",
    "Runtime",
    "SecretDriverBackend",
    "StateBackend",
    "VolumeDriverBackend",
    "hookimpl",
    "new_runtime",
    "new_runtime_from_config",
]


def __getattr__(name: str):
    # The runtime is imported lazily: a plugin module imports pypod_core for hookimpl
    # and the declaration types, and must not pay for the whole core.
    if name in ("Runtime", "new_runtime", "new_runtime_from_config"):
        from pypod_core.engine import runtime  # lazy: ~27 ms a plugin module does not need

        return getattr(runtime, name)
    raise AttributeError(f"module 'pypod_core' has no attribute {name!r}")
