"""The engine's pull from a local registry into a fresh store: pypod's
``runtime.pull_image`` (a whole Python process: runtime, image store, overlay layers)
against ``podman pull`` (a fresh ``--root`` each run), side by side.

    .venv/bin/python bench/bench_pull.py [--runs 7] [--baseline CHECKOUT]

The two images of bench_pull_fetch.py, built here offline and pushed to a
docker-registry on 127.0.0.1: ``busybox`` (busybox-static's rootfs, one gzip layer) and
``big`` (busybox plus four layers of 20 MiB random data, gzip -1, ~85 MB in five
layers: random data does not compress away).  The runners take turns within each
round; each run is a whole process, timed from outside; peak RSS is the process's own
and its waited-for children's (wait4), so pypod's forked extraction children count.
Prints medians and the pypod/podman ratios against the targets (<= 0.7x podman's wall
time, <= 40 MB peak RSS); asserts nothing.  ``--baseline CHECKOUT`` adds a third
runner: the same pull with another checkout's ``pypod_core`` and plugins first on the
path (this venv's entry points), for before/after figures of a change taken in turns.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "plugins", "image_registry", "tests"))
sys.path.insert(0, os.path.join(REPO, "bench"))

from bench_pull_fetch import run  # noqa: E402
from bench_run import podman_env, pypod_env  # noqa: E402
from registry_helpers import run_registry  # noqa: E402

PYTHON = os.path.join(REPO, ".venv", "bin", "python")

#: What an integrator runs: a runtime on a fresh store, one pull.
PYPOD_PULL = r"""
import os, sys
from pypod_core.engine.runtime import new_runtime

ref, work, policy = sys.argv[1:4]
runtime = new_runtime(config_path=os.devnull, graph_root=f"{work}/root",
                      run_root=f"{work}/run", netns="none", signature_policy=policy,
                      registries_conf=f"{work}/none.conf")
image = runtime.pull_image(ref, tls_verify=False)
runtime.shutdown()
print(image.id)
"""

PYPOD = "pypod runtime.pull_image"
PODMAN = "podman pull"
BASELINE = "pypod baseline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also pull with this checkout's code (before/after)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="pbq-")  # podman wants a runroot under 50 characters
    try:
        policy = os.path.join(tmp, "policy.json")
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        with run_registry(os.path.join(tmp, "registry")) as registry:
            sizes = json.loads(subprocess.run(
                [PYTHON, os.path.join(REPO, "bench", "bench_pull_fetch.py"), "--push",
                 registry.host, tmp], check=True, capture_output=True).stdout)
            results = rounds(registry.host, tmp, policy, sizes, args.runs, args.baseline)
        report(results, sizes, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def baseline_env(checkout: str) -> dict[str, str]:
    """pypod's environment with ``checkout``'s core and plugins ahead of this one's."""
    plugins = os.path.join(checkout, "plugins")
    paths = [checkout, *(os.path.join(plugins, name) for name in sorted(os.listdir(plugins)))]
    return {**pypod_env(), "PYTHONPATH": os.pathsep.join(paths)}


def rounds(host: str, tmp: str, policy: str, sizes: dict[str, int], runs: int,
           baseline: str | None = None
           ) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    """``runs`` rounds: each image pulled by each runner into a fresh store."""
    p_env, y_env = podman_env(tmp), pypod_env()
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for n in range(runs):
        for image in sizes:
            ref = f"{host}/bench/{image}:latest"
            work = os.path.join(tmp, f"{image[0]}{n}")
            os.makedirs(work)
            podman = ["podman", "--root", f"{work}/podman", "--runroot", f"{work}/pr"]
            runners = {
                PYPOD: ([PYTHON, "-c", PYPOD_PULL, ref, f"{work}/pypod", policy], y_env),
                PODMAN: ([*podman, "pull", "-q", "--tls-verify=false", ref], p_env),
            }
            if baseline:
                runners[BASELINE] = ([PYTHON, "-c", PYPOD_PULL, ref, f"{work}/base", policy],
                                     baseline_env(baseline))
            # Alternate who goes first: the second run finds the registry's files cached.
            order = list(runners) if n % 2 == 0 else list(reversed(runners))
            for name in order:
                argv, env = runners[name]
                results.setdefault((image, name), []).append(run(argv, env))
            subprocess.run([*podman, "system", "reset", "-f"], env=p_env,
                           capture_output=True)
            shutil.rmtree(work, ignore_errors=True)
    return results


def report(results: dict[tuple[str, str], list[tuple[float, float, float]]],
           sizes: dict[str, int], runs: int) -> None:
    print(f"runs: {runs}; image sizes (compressed): " + ", ".join(
        f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
    print(f"{'image':8} {'runner':26} {'wall s':>8} {'CPU s':>7} {'peak RSS MB':>12}")
    for (image, name), values in results.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[2] for v in values)
        rss = max(v[1] for v in values)
        print(f"{image:8} {name:26} {wall:8.3f} {cpu:7.3f} {rss:12.1f}")
    for image in sizes:
        if (image, BASELINE) in results:
            print(f"{image}: pypod / baseline = " + ", ".join(
                f"{what} {_paired(results, image, BASELINE, k):.2f}x"
                for what, k in (("wall", 0), ("CPU", 2))) + " (paired, median)")
        ours = statistics.median(v[0] for v in results[(image, PYPOD)])
        theirs = statistics.median(v[0] for v in results[(image, PODMAN)])
        # Paired: each round's two runs saw the same load; the median of their ratios.
        pairs = zip(results[(image, PYPOD)], results[(image, PODMAN)], strict=True)
        paired = statistics.median(a[0] / b[0] for a, b in pairs)
        rss = max(v[1] for v in results[(image, PYPOD)])
        print(f"{image}: pypod / podman = {ours / theirs:.2f}x wall (of the medians), "
              f"{paired:.2f}x (paired, median) (target <= 0.7x); pypod peak RSS "
              f"{rss:.1f} MB (target <= 40 MB)")


def _paired(results: dict[tuple[str, str], list[tuple[float, float, float]]], image: str,
            other: str, k: int) -> float:
    """The median over rounds of pypod's figure ``k`` over ``other``'s."""
    pairs = zip(results[(image, PYPOD)], results[(image, other)], strict=True)
    return statistics.median(a[k] / b[k] for a, b in pairs)


if __name__ == "__main__":
    main()
