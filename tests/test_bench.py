"""The benchmarks that need nothing but pypod still run (and print their figures): a
refactoring that renames what one measures must not leave it broken until the next
`make bench`.  bench_run and bench_net drive podman and take minutes: they run with
`make bench` (bench_volumes runs here, with --pypod-only)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def _bench(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", script), *args],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bench_startup_prints_its_phases() -> None:
    out = _bench("bench_startup.py", "--runs", "2")
    for label in ("`pypod info` (whole process)", "plugin discovery (entry points)",
                  "loading the 5 plugins + declarations", "import pypod_core.engine.runtime"):
        line = next(line for line in out.splitlines() if label in line)
        assert float(line.split(label)[1].split()[0]) > 0


def test_bench_state_prints_both_backends() -> None:
    out = _bench("bench_state.py", "--sizes", "10", "--lookups", "5")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["memory"],
                                                                              ["sqlite"])]
    assert sorted(row[0] for row in rows) == ["memory", "sqlite"]
    assert all(row[1] == "10" for row in rows)


def test_bench_logs_prints_memory_and_every_byte() -> None:
    out = _bench("bench_logs.py", "--mb", "2")
    rows = [line for line in out.splitlines() if line.startswith(("full lines", "one line"))]
    assert len(rows) == 4 and "printed" not in out.split("\n", 1)[1], out
    assert all(float(row.split()[-7]) > 0 for row in rows)  # max RSS MB


def test_bench_volumes_prints_each_operation() -> None:
    out = _bench("bench_volumes.py", "--volumes", "3", "--ls-runs", "1", "--pypod-only")
    for label in ("volume create x3 (total)", "volume ls (3 volumes)", "volume rm -a (3)"):
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert float(line.split()[-1]) > 0


def test_bench_images_prints_its_rows_without_podman() -> None:
    out = _bench("bench_images.py", "--pypod-only", "--runs", "1", "--images", "3",
                 "--move-runs", "1")
    for label in ("images (1 image)", "images (3 images)", "images --format json (3)",
                  "image inspect", "tag", "rmi (its layer too)"):
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert float(line[len(label):].split()[1]) > 0, line
    assert "pull busybox (fresh store)" in out and "run --rm --network none IMAGE" in out
    for fmt in ("oci-archive", "docker-archive"):
        assert f"save {fmt} (85 MB)" in out and f"load {fmt} (85 MB)" in out


def test_bench_attach_prints_throughput_and_echo_time() -> None:
    out = _bench("bench_attach.py", "--mb", "1", "--keys", "5", "--pypod-only")
    row = next(line.split() for line in out.splitlines() if line.startswith("pypod"))
    assert float(row[1]) > 0 and float(row[2]) > 0


def test_bench_secrets_prints_every_operation() -> None:
    out = _bench("bench_secrets.py", "--pypod-only", "--secrets", "3", "--ls-runs", "1")
    for label in ("secret create x3 (total)", "secret ls (3 secrets)", "secret rm -a (3)"):
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert float(line[len(label):].split()[1]) > 0


def test_bench_stats_prints_a_row_per_count() -> None:
    out = _bench("bench_stats.py", "--runs", "1", "--containers", "2")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(float(row[1]) > 0 and float(row[2]) > 0 for row in rows)
