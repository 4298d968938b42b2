"""Building a runtime: libpod's ``makeRuntime`` as an ordered tuple of stages.

Each stage is a ``firstresult`` hook ``pypod_<stage>(runtime)``; its result, if the
stage produces something, is stored on the runtime under the attribute named beside it.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime

#: (stage, attribute of the runtime that receives its result, or None), in order.
STAGES: Final[tuple[tuple[str, str | None], ...]] = (
    ("find_runtime_path", "runtime_binary"),
    ("find_conmon_path", "conmon_binary"),
    ("prepare_static_dir", None),
    ("make_state", "state"),
    ("apply_db_config", None),
    ("set_namespace", None),
    ("make_storage", "storage"),
    ("prepare_tmp_dir", None),
    ("make_oci_runtime", "oci_runtime"),
    ("prepare_lock_dir", "lock_dir"),
    ("make_network", "network"),
    ("make_firewall", "firewall"),
    ("refresh_after_reboot", None),
)


def make_runtime(runtime: Runtime) -> None:
    """Run every stage in order, then tell every plugin the runtime is ready."""
    for stage, attribute in STAGES:
        start = time.perf_counter()
        hook = f"pypod_{stage}"
        result = getattr(runtime.plugins.hook, hook)(runtime=runtime)
        elapsed_ms = (time.perf_counter() - start) * 1000
        served_by = runtime.plugins.served_by(hook) if result is not None else ""
        runtime.stage_timings.append((stage, served_by, elapsed_ms))
        if runtime.trace:
            print(f"pypod: stage {stage:<22} {served_by:<24} {elapsed_ms:8.2f} ms",
                  file=sys.stderr)
        if attribute is not None:
            setattr(runtime, attribute, result if result is not False else None)
    runtime.valid = True
    runtime.plugins.hook.pypod_runtime_ready(runtime=runtime)
