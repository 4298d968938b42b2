"""Start-up costs: `pypod info`, building a runtime in-process, plugin discovery, and
where the import time of pypod_core goes.  Prints medians; asserts nothing.

    .venv/bin/python bench/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def in_fresh_process(code: str, fields: int = 1) -> Any:
    """Run ``code`` in a new interpreter; it prints ``fields`` floats (ms); return them
    (one float when ``fields`` is 1)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    values = [float(v) for v in out.strip().splitlines()[-1].split()]
    return values[0] if fields == 1 else values


def import_breakdown() -> list[tuple[str, int]]:
    """Cumulative import time (us) of the heaviest modules under the runtime's import."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c",
                          "import pypod_core.engine.runtime"],
                         capture_output=True, text=True, check=True).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(3)) <= 3:  # top-level imports only
            rows.append((m.group(4), int(m.group(2))))
    return sorted(rows, key=lambda r: -r[1])[:8]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    tmp = tempfile.mkdtemp(prefix="pypod-bench-")
    try:
        measure(runs, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(runs: int, tmp: str) -> None:
    """Take and print the figures, with every store under ``tmp``."""
    flags = ["--config", os.devnull, "--root", f"{tmp}/root", "--runroot", f"{tmp}/run"]

    info_ms = median_ms(lambda: subprocess.run([PYPOD, *flags, "info"], check=True,
                                               capture_output=True), runs)
    python_ms = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
                          runs)
    # Discovery proper (reading the entry points), then loading the plugin modules and
    # collecting their declarations, in a process that has imported the core already.
    phases = [in_fresh_process(
        "import time; from pypod_core.plugin import entrypoints, manager as plugins;"
        "t0=time.perf_counter();"
        "eps=entrypoints.entry_points(plugins.ENTRY_POINT_GROUP);"
        "t1=time.perf_counter(); m=plugins.PluginManager().load(); m.backends('state');"
        "t2=time.perf_counter(); print((t1-t0)*1000, (t2-t1)*1000)", fields=2)
        for _ in range(runs)]
    discovery = [p[0] for p in phases]
    loading = [p[1] for p in phases]
    import_core = [in_fresh_process(
        "import time; t=time.perf_counter(); import pypod_core.engine.runtime;"
        "print((time.perf_counter()-t)*1000)") for _ in range(runs)]

    sys.path.insert(0, REPO)
    from pypod_core.engine.runtime import new_runtime

    def build() -> None:
        new_runtime(config_path=os.devnull, graph_root=f"{tmp}/root",
                    run_root=f"{tmp}/run").shutdown()

    build()
    build_ms = median_ms(build, runs)

    print(f"pypod start-up, median of {runs} runs (ms)")
    print(f"  `pypod info` (whole process)           {info_ms:8.1f}")
    print(f"  bare `python -c pass`                  {python_ms:8.1f}")
    print(f"  import pypod_core.engine.runtime              {statistics.median(import_core):8.1f}")
    found, loaded = statistics.median(discovery), statistics.median(loading)
    print(f"  plugin discovery (entry points)        {found:8.1f}   ({found / info_ms:.0%} of"
          " `pypod info`)")
    print(f"  loading the 5 plugins + declarations   {loaded:8.1f}   ({loaded / info_ms:.0%})")
    print(f"  build a runtime in-process (sqlite)    {build_ms:8.1f}")
    print("import time of pypod_core.engine.runtime, heaviest top-level imports (ms):")
    for module, micros in import_breakdown():
        print(f"  {module:<40} {micros / 1000:8.1f}")


if __name__ == "__main__":
    main()
