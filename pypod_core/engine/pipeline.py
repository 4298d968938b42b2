"""Building a runtime: libpod's ``makeRuntime`` as an ordered tuple of stages.

Each stage is a ``firstresult`` hook ``pypod_<stage>(runtime)``; its result, if the
stage produces something, is stored on the runtime under the attribute named beside it.

The stages in :data:`DEFERRED` build a backend that many commands never use (``ps``
needs the state alone): :func:`make_runtime` does not run them.  Each runs, through
pluggy like every stage and at most once per runtime, when its attribute is first read
(:class:`DeferredStage`); ``--trace-plugins`` prints it then, marked ``(deferred)``.
A plugin serving or wrapping such a stage sees the same call, only later.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Final

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

#: Stages run at the first read of their attribute instead of while the runtime is
#: built (importing and building the OCI runtime, network and firewall backends costs
#: ~15 ms that ``ps``, ``inspect`` or ``info`` do not need).
DEFERRED: Final[frozenset[str]] = frozenset(
    {"make_storage", "make_oci_runtime", "make_network", "make_firewall"})


def make_runtime(runtime: Runtime) -> None:
    """Run every stage not deferred in order, then tell every plugin the runtime is
    ready."""
    for stage, attribute in STAGES:
        if stage in DEFERRED:
            if runtime.trace:
                print(f"pypod: stage {stage:<22} deferred to first use", file=sys.stderr)
            continue
        result = run_stage(runtime, stage)
        if attribute is not None:
            setattr(runtime, attribute, result)
    runtime.valid = True
    runtime.plugins.hook.pypod_runtime_ready(runtime=runtime)


def run_stage(runtime: Runtime, stage: str, deferred: bool = False) -> Any:
    """Call the stage's hook, record (and with tracing print) who served it and how
    long it took; its result, None for False (a stage's "nothing here")."""
    start = time.perf_counter()
    hook = f"pypod_{stage}"
    result = getattr(runtime.plugins.hook, hook)(runtime=runtime)
    elapsed_ms = (time.perf_counter() - start) * 1000
    served_by = runtime.plugins.served_by(hook) if result is not None else ""
    runtime.stage_timings.append((stage, served_by, elapsed_ms))
    if runtime.trace:
        print(f"pypod: stage {stage:<22} {served_by:<24} {elapsed_ms:8.2f} ms"
              + (" (deferred)" if deferred else ""), file=sys.stderr)
    return result if result is not False else None


class DeferredStage:
    """The runtime attribute a deferred stage fills in: the first read runs the stage
    (once, under the runtime's stage lock, as two threads of one command may both reach
    for the network); later reads return what it made; assigning sets it outright."""

    def __init__(self, stage: str):
        assert stage in DEFERRED, stage
        self.stage = stage
        self.attribute = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    def __get__(self, runtime: Any, owner: type | None = None) -> Any:
        if runtime is None:
            return self
        values = runtime.__dict__
        if self.attribute not in values:
            with runtime.stage_lock:
                if self.attribute not in values:
                    values[self.attribute] = run_stage(runtime, self.stage, deferred=True)
        return values[self.attribute]

    def __set__(self, runtime: Any, value: Any) -> None:
        runtime.__dict__[self.attribute] = value

    def built(self, runtime: Any) -> bool:
        """Whether the stage has run (or the attribute was set) on ``runtime``."""
        return self.attribute in runtime.__dict__
