"""podman's own system tests (BATS, podman v4.3.1's ``test/system``) as a yardstick:
the container-lifecycle files run against Debian's podman and against pypod on this
machine, each in a private store, and one table of passed/failed/skipped per file with
the first failing line of every failed test.

    .venv/bin/python bench/podman_system_tests.py [--tool podman|pypod|both]
        [--files 030-run,035-logs] [--src DIR] [--work DIR] [--save FILE.json]

No network is needed: the suite's test image (``quay.io/libpod/testimage``) is made
offline from the host's static busybox, with what the suite reads from it
(``/home/podman/testimage-id`` dated 2020-09-13, ``/home/podman/pause``, the labels
``created_by``/``created_at``, workdir ``/home/podman`` and its echo command), and put
into both stores under the suite's name: ``podman import`` for podman, pypod's
``import_image`` for pypod.  podman gets a containers.conf of its own (runc, ulimits
within the host's hard limits, a file events log, its own CNI directory) and a
storage.conf of its own; pypod a config file of its own.  Nothing of the host's stores
is touched.  The image is put back before each file (without a registry, a test that
removes it and pulls it again fails, and the rest of its file with it).  The suite's
sources come from the podman mirror's tag v4.3.1 (``--src``
names an extracted ``test/system`` instead).  ``bats`` is Debian's package; the script
asks for it if it is missing.  Prints the table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
PYPOD = os.path.join(REPO, ".venv", "bin", "pypod")
MIRROR = "/work/.mirror/containers+podman/repo"
TAG = "v4.3.1"
#: The lifecycle files, as issue 12 names them.
FILES = ("001-basic", "005-info", "030-run", "035-logs", "040-ps", "045-start", "050-stop",
         "055-rm", "075-exec", "080-pause", "130-kill", "200-pod", "300-cli-parsing",
         "500-networking", "610-format")
IMAGE_REPO, IMAGE_TAG = "quay.io/libpod/testimage", "20221018"
IMAGE = f"{IMAGE_REPO}:{IMAGE_TAG}"
ECHO = "This container is intended for podman CI testing"
#: The suite's `run --tz` test reads this file's mtime (build-testimage sets it so).
TESTIMAGE_ID_MTIME = 1600000000
PAUSE = ("#!/bin/sh\necho Confirmed: testimage pause invoked as $0\n"
         "while :; do\n    sleep 0.1\ndone\n")
#: printenv as busybox's applet behaves: all of the environment, or the named variables'
#: values (exit 1 if one is unset).
PRINTENV = ("#!/bin/sh\n[ $# -eq 0 ] && exec env\nrc=0\nfor name; do\n"
            "    if env | grep -q \"^$name=\"; then eval \"printf '%s\\\\n' \\\"\\$$name\\\"\"; "
            "else rc=1; fi\ndone\nexit $rc\n")
#: Users and groups of an alpine base, as the suite's image has them.
PASSWD = ("root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\n"
          "daemon:x:2:2:daemon:/sbin:/sbin/nologin\nadm:x:3:4:adm:/var/adm:/sbin/nologin\n"
          "lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin\nsync:x:5:0:sync:/sbin:/bin/sync\n"
          "mail:x:8:12:mail:/var/mail:/sbin/nologin\n"
          "operator:x:11:0:operator:/root:/sbin/nologin\n"
          "guest:x:405:100:guest:/dev/null:/sbin/nologin\n"
          "nobody:x:65534:65534:nobody:/:/sbin/nologin\n")
GROUP = ("root:x:0:root\nbin:x:1:root,bin,daemon\ndaemon:x:2:root,bin,daemon\n"
         "sys:x:3:root,bin,adm\nadm:x:4:root,adm,daemon\ntty:x:5:\ndisk:x:6:root,adm\n"
         "lp:x:7:lp\nmail:x:12:mail\nwheel:x:10:root\nusers:x:100:games\n"
         "nogroup:x:65533:\nnobody:x:65534:\n")


# -- the suite and its image ----------------------------------------------------------------

def suite_dir(src: str | None, work: str) -> str:
    """The ``test/system`` directory: ``src`` or extracted from the mirror's tag."""
    if src:
        return src
    target = os.path.join(work, "podman-src")
    if not os.path.isdir(os.path.join(target, "test", "system")):
        os.makedirs(target, exist_ok=True)
        archive = subprocess.run(["git", f"--git-dir={MIRROR}", "archive", TAG, "test/system"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return os.path.join(target, "test", "system")


def test_image_rootfs(target: str) -> str:
    """A busybox rootfs with what the suite reads from its test image."""
    from pypod_core.host.rootfs import make_busybox_rootfs

    make_busybox_rootfs(target)
    applets = [name for name in os.listdir(os.path.join(target, "bin")) if name != "busybox"]
    for d in ("sbin", "usr/bin", "usr/sbin", "usr/local/bin", "var/tmp", "mnt", "srv", "opt"):
        os.makedirs(os.path.join(target, d), exist_ok=True)
    extras = os.path.join(target, "bin", "busybox-extras")  # alpine's httpd comes so
    if not os.path.lexists(extras):
        os.symlink("busybox", extras)
    for d in ("sbin", "usr/bin", "usr/sbin"):  # alpine's busybox links live in all of them
        for name in applets:
            link = os.path.join(target, d, name)
            if not os.path.lexists(link):
                os.symlink("/bin/busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(target, "etc", name), "w") as f:
            f.write(text)
    home = os.path.join(target, "home", "podman")
    os.makedirs(home, exist_ok=True)
    ident = os.path.join(home, "testimage-id")
    with open(ident, "w") as f:
        f.write(IMAGE_TAG + "\n")
    os.utime(ident, (TESTIMAGE_ID_MTIME, TESTIMAGE_ID_MTIME))
    # Debian's static busybox has no printenv applet, alpine's has.
    printenv = os.path.join(target, "bin", "printenv")
    with open(printenv, "w") as f:
        f.write(PRINTENV)
    os.chmod(printenv, 0o755)
    for d in ("usr/bin", "sbin", "usr/sbin"):
        link = os.path.join(target, d, "printenv")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink("/bin/printenv", link)
    pause = os.path.join(home, "pause")
    with open(pause, "w") as f:
        f.write(PAUSE)
    os.chmod(pause, 0o755)
    return target


def layer_tar(rootfs: str, path: str) -> str:
    """``rootfs`` as one uncompressed layer tar, owned by root."""
    def root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        # The image's / is 0555, as the suite's (built on alpine) has it.
        root = tar.gettarinfo(rootfs, arcname=".")
        root.mode = 0o555
        tar.addfile(root_owned(root))
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name, filter=root_owned)
    return path


def image_config(created_at: str) -> dict[str, object]:
    """The test image's OCI config section."""
    return {"Cmd": ["/bin/echo", ECHO], "WorkingDir": "/home/podman",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": {"created_by": "test/system/build-testimage", "created_at": created_at}}


# -- the two tools ----------------------------------------------------------------------------

def podman_setup(work: str, layer: str, registries: str = "") -> dict[str, str]:
    """podman's private configuration and store, the test image imported into it; the
    environment the suite runs podman under."""
    base = os.path.join(work, "podman")
    for d in ("root", "run", "tmp", "cni", "bats-tmp"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    # Above these, podman 4.3 fails where the process lacks CAP_SYS_RESOURCE.
    nofile = min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    conf = os.path.join(base, "containers.conf")
    with open(conf, "w") as f:
        f.write(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", '
                f'"nproc={nproc}:{nproc}"]\n'
                f'[network]\nnetwork_config_dir = "{base}/cni"\n'
                f'[engine]\nruntime = "runc"\nevents_logger = "file"\n'
                f'cgroup_manager = "cgroupfs"\ntmp_dir = "{base}/tmp"\n')
    storage = os.path.join(base, "storage.conf")
    with open(storage, "w") as f:
        f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{base}/root"\n'
                f'runroot = "{base}/run"\n')
    env = {**os.environ, "CONTAINERS_CONF": conf, "CONTAINERS_STORAGE_CONF": storage,
           "PODMAN": shutil.which("podman") or "podman", "TMPDIR": f"{base}/bats-tmp"}
    if registries:
        env["CONTAINERS_REGISTRIES_CONF"] = registries
    present = subprocess.run(["podman", "image", "exists", IMAGE], env=env).returncode == 0
    if not present:
        config = image_config(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        changes = [f"CMD {json.dumps(config['Cmd'])}", "WORKDIR /home/podman",
                   *(f"LABEL {k}={v}" for k, v in config["Labels"].items()),  # type: ignore
                   f"ENV {config['Env'][0]}"]  # type: ignore
        argv = ["podman", "import", "-q"]
        for change in changes:
            argv += ["--change", change]
        subprocess.run([*argv, layer, IMAGE], env=env, check=True, stdout=subprocess.DEVNULL)
    return env


def pypod_setup(work: str, layer: str, pypod: str = PYPOD,
                registries: str = "") -> dict[str, str]:
    """pypod's private configuration and store, the test image imported into it."""
    base = os.path.join(work, "pypod")
    for d in ("root", "run", "tmp", "cni", "bats-tmp"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    conf = os.path.join(base, "pypod.conf")
    with open(conf, "w") as f:
        f.write(f'graph_root = "{base}/root"\nrun_root = "{base}/run"\n'
                f'tmp_dir = "{base}/tmp"\ncni_config_dir = "{base}/cni"\n')
        if registries:
            f.write(f'registries_conf = "{registries}"\n')
    # static_dir and volume_path follow graph_root (and a test's --root) as podman's.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYPOD_CONF=conf, PODMAN=pypod, TMPDIR=f"{base}/bats-tmp")
    from pypod_core.engine.runtime import new_runtime

    runtime = new_runtime(config_path=conf)
    try:
        if not runtime.image_exists(IMAGE):
            config = image_config(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            runtime.import_image([layer], {"config": config}, names=[IMAGE])
    finally:
        runtime.shutdown()
    return env


# -- a local registry standing in for quay.io ------------------------------------------------

#: The tags the suite pulls: its image, and the one it keeps out of the store to test pulls.
PULLED_TAGS = (IMAGE_TAG, "00000004")


def start_registry(work: str) -> tuple[subprocess.Popen[bytes], str]:
    """Debian's docker-registry on a free loopback port, its storage in ``work``; the
    process and its ``host:port``."""
    from pypod_core.testing.network import free_port

    port = free_port()
    conf = os.path.join(work, "registry.yml")
    with open(conf, "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work}/registry\n"
                f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n")
    proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "registry.log"), "wb"))
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("docker-registry did not start: see registry.log")


def registries_conf(work: str, address: str) -> str:
    """A registries.conf sending quay.io/libpod to the local registry (a mirror, plain
    http), for both tools."""
    path = os.path.join(work, "registries.conf")
    with open(path, "w") as f:
        f.write('unqualified-search-registries = ["quay.io"]\n'
                '[[registry]]\nprefix = "quay.io/libpod"\nlocation = "quay.io/libpod"\n'
                f'[[registry.mirror]]\nlocation = "{address}/libpod"\ninsecure = true\n')
    return path


def push_test_image(env: dict[str, str], address: str) -> None:
    """The test image, from podman's store, under each tag the suite pulls."""
    for tag in PULLED_TAGS:
        subprocess.run(["podman", "push", "-q", "--tls-verify=false", IMAGE,
                        f"{address}/libpod/testimage:{tag}"], env=env, check=True,
                       stdout=subprocess.DEVNULL)


# -- running and reading the suite --------------------------------------------------------------

def run_file(suite: str, name: str, env: dict[str, str], timeout: float) -> str:
    """bats' TAP output of one file."""
    env = {**env, "PODMAN_TEST_IMAGE_TAG": IMAGE_TAG}
    try:
        proc = subprocess.run(["bats", "--tap", f"{name}.bats"], cwd=suite, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return out + f"\nnot ok 999 {name}: whole file timed out after {timeout:.0f}s\n"
    return proc.stdout


_RESULT = re.compile(r"^(ok|not ok) (\d+) (.*?)(?: # (skip|SKIP)\b.*)?$")


def parse_tap(text: str) -> list[dict[str, str]]:
    """One entry per test: name, result (pass/fail/skip) and, for a failure, its first
    failing line (the command that failed and podman's words about it)."""
    tests: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _RESULT.match(line)
        if match:
            result = "skip" if match.group(4) else ("pass" if match.group(1) == "ok" else "fail")
            tests.append({"name": match.group(3), "result": result, "detail": ""})
        elif tests and tests[-1]["result"] == "fail" and line.startswith("#"):
            tests[-1]["detail"] += line[1:].strip() + "\n"
    for test in tests:
        test["why"] = first_failure(test.pop("detail")) if test["result"] == "fail" else ""
    return tests


def first_failure(detail: str) -> str:
    """The test file's line, the failing command, the suite's FAIL words and the first
    error line the tool printed (the teardown's output left out)."""
    detail = detail.split("# [teardown]")[0]
    where = re.search(r"in test file \S+, line (\d+)", detail)
    command = re.search(r"^`(.*)' failed", detail, re.M)
    fail = re.search(r"^#\|\s+(FAIL: .*)$", detail, re.M)
    error = re.search(r"^((?:Error|error|\*\*\*|Traceback).*)$", detail, re.M)
    parts = [f"line {where.group(1)}" if where else "", command.group(1) if command else "",
             fail.group(1) if fail else "", error.group(1) if error else ""]
    return " | ".join(p for p in parts if p)[:300]


# -- the table ---------------------------------------------------------------------------------

def counts(tests: list[dict[str, str]]) -> tuple[int, int, int]:
    """passed, failed, skipped."""
    return tuple(sum(t["result"] == r for t in tests) for r in ("pass", "fail", "skip"))  # type: ignore


def pfs(c: tuple[int, ...] | list[int]) -> str:
    """passed/failed/skipped."""
    return "/".join(str(n) for n in c)


def print_table(results: dict[str, dict[str, list[dict[str, str]]]], tools: list[str],
                files: list[str]) -> None:
    """The per-file counts for each tool, a total, then each failure's first line."""
    width = max([18, *(len(tool) + 8 for tool in tools)])
    head = f"{'file':<16}" + "".join(f"{tool + ' p/f/s':>{width}}" for tool in tools)
    print(head)
    print("-" * len(head))
    totals = {tool: [0, 0, 0] for tool in tools}
    for name in files:
        row = f"{name:<16}"
        for tool in tools:
            c = counts(results[tool].get(name, []))
            totals[tool] = [a + b for a, b in zip(totals[tool], c, strict=True)]
            row += f"{pfs(c):>{width}}"
        print(row)
    print("-" * len(head))
    print(f"{'total':<16}" + "".join(f"{pfs(totals[t]):>{width}}" for t in tools))
    for tool in tools:
        print(f"\n== {tool}: failures (first failing line)")
        for name in files:
            for test in results[tool].get(name, []):
                if test["result"] == "fail":
                    print(f"{name}: {test['name']}\n    {test['why']}")


def main() -> None:
    """Parse the arguments, run the suite, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", choices=("podman", "pypod", "both"), default="both")
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated, no .bats")
    parser.add_argument("--src", help="an extracted podman test/system directory")
    parser.add_argument("--work", help="stores and logs here (default: a new temp dir)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per file")
    parser.add_argument("--save", help="write the results as JSON to this file")
    parser.add_argument("--pypod", default=PYPOD, help="the pypod command (default: %(default)s)")
    parser.add_argument("--no-registry", action="store_true",
                        help="no local registry for the suite's pulls (they fail)")
    parser.add_argument("--show", nargs="+", metavar="LABEL=FILE.json",
                        help="print one table of saved results (--save files), nothing run")
    args = parser.parse_args()
    if args.show:
        show_saved(args.show, files_of(args))
        return
    if not shutil.which("bats"):
        sys.exit("bats not found: apt-get install bats (Debian's package)")
    work = args.work or tempfile.mkdtemp(prefix="pypod-bats-")
    os.makedirs(work, exist_ok=True)
    suite = suite_dir(args.src, work)
    layer = os.path.join(work, "testimage.tar")
    if not os.path.exists(layer):
        layer_tar(test_image_rootfs(os.path.join(work, "testimage-rootfs")), layer)
    registry, registries = None, ""
    if not args.no_registry:
        registry, address = start_registry(work)
        registries = registries_conf(work, address)
        push_test_image(podman_setup(work, layer, registries), address)
    try:
        results = run_suite(args, work, suite, layer, registries)
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait()
    if args.save:
        with open(args.save, "w") as f:
            json.dump(results, f, indent=1)
    print(f"# podman {TAG} system tests; work dir {work}")
    print_table(results, list(results), files_of(args))


def show_saved(specs: list[str], files: list[str]) -> None:
    """One table of several saved runs, a column each, labelled as given."""
    results: dict[str, dict[str, list[dict[str, str]]]] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        with open(path if sep else label) as f:
            saved = json.load(f)
        for tool, by_file in saved.items():
            results[label if sep else tool] = by_file
    print_table(results, list(results), files)


def files_of(args: argparse.Namespace) -> list[str]:
    """The BATS files asked for, without their suffix."""
    return [f.removesuffix(".bats") for f in args.files.split(",") if f]


def run_suite(args: argparse.Namespace, work: str, suite: str, layer: str,
              registries: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Each tool's results, file by file: the parsed TAP, also kept in ``work``."""
    tools = ["podman", "pypod"] if args.tool == "both" else [args.tool]
    results: dict[str, dict[str, list[dict[str, str]]]] = {}
    for tool in tools:
        results[tool] = {}
        for name in files_of(args):
            # Before each file: a test may have removed the image (001-basic's pull
            # test does, and without the registry the pull cannot succeed).
            env = (podman_setup(work, layer, registries) if tool == "podman"
                   else pypod_setup(work, layer, os.path.abspath(args.pypod), registries))
            start = time.monotonic()
            tap = run_file(suite, name, env, args.timeout)
            with open(os.path.join(work, f"{tool}-{name}.tap"), "w") as f:
                f.write(tap)
            results[tool][name] = parse_tap(tap)
            p, fl, s = counts(results[tool][name])
            print(f"# {tool} {name}: {p} passed, {fl} failed, {s} skipped "
                  f"({time.monotonic() - start:.0f}s)", file=sys.stderr, flush=True)
    return results


if __name__ == "__main__":
    main()
