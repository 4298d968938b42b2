"""A rootful store is root's alone: another local user can open none of its files, list
none of its directories, and so hold none of its locks (``flock`` needs only a read
descriptor: a lock file anyone can open is a lock anyone can hold, stalling every pypod
command).  Checked as an unprivileged user (``setpriv`` to nobody), on roots placed
where that user could reach them if pypod let it: under a world-traversable directory,
not pytest's 0700 tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core.host.locks import FileLock

NOBODY = 65534

#: Run as nobody: for each path, list it (a directory) or open it (anything else); print
#: those that did not fail with EACCES, and how they did.
_PROBE = """
import errno, json, os, sys
leaks = []
for path, is_dir in json.load(sys.stdin):
    try:
        if is_dir:
            os.listdir(path)
        else:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY))
        leaks.append([path, "opened"])
    except OSError as exc:
        if exc.errno != errno.EACCES:
            leaks.append([path, errno.errorcode.get(exc.errno, str(exc.errno))])
print(json.dumps(leaks))
"""


def as_nobody_cannot_open(paths: list[Path]) -> list[list[str]]:
    """The paths nobody (uid and gid 65534, no groups) could open or list, or that failed
    otherwise than with EACCES."""
    need_binary("setpriv", "util-linux")
    listing = [[str(p), p.is_dir() and not p.is_symlink()] for p in paths]
    proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", "/usr/bin/python3", "-I", "-c", _PROBE],
                          input=json.dumps(listing), capture_output=True, text=True,
                          check=True, cwd="/")
    return json.loads(proc.stdout)


def everything_under(*roots: str) -> list[Path]:
    """Each root and every path below it (as root sees them)."""
    found = []
    for root in roots:
        found.append(Path(root))
        for parent, dirs, files in os.walk(root):
            found += [Path(parent, name) for name in dirs + files]
    return found


@pytest.fixture
def world_roots() -> Iterator[Path]:
    """A directory under /tmp that every user can traverse (0755), for a store's roots."""
    if os.geteuid() != 0:
        pytest.skip("a rootful store needs root")
    base = Path(tempfile.mkdtemp(prefix="pypod-perms-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def store_options(base: Path, net_settings: dict[str, str]) -> dict[str, Any]:
    """Options of a store whose roots and network lease tables are all under ``base``."""
    import tomli_w

    config = base / "pypod.conf"
    config.write_text(tomli_w.dumps(
        {"plugins": {"net_cni": {**net_settings, "ipam_dir": str(base / "ipam")}}}))
    return {"config_path": str(config), "graph_root": str(base / "root"),
            "run_root": str(base / "run"), "cni_config_dir": str(base / "cni")}


def test_nobody_can_open_or_list_anything_of_a_running_store(
        world_roots: Path, make_runtime: Callable[..., Any], net_settings: dict[str, str],
        rootfs: str) -> None:
    need_binary("runc")
    need_binary("conmon")
    need_binary("iptables")
    rt = make_runtime(**store_options(world_roots, net_settings))
    ctr = rt.create_container(rootfs, ["sleep", "1000"], network_mode="bridge")
    ctr.start()
    # What the store's users rely on still works: a container's unprivileged user reads
    # the /etc files pypod bind-mounts from the (now closed) run directory.
    reader = rt.create_container(rootfs, ["cat", "/etc/hosts", "/etc/hostname"],
                                 user=str(NOBODY), network_mode="bridge")
    try:
        reader.start()
        assert reader.wait(timeout=30) == 0
        c = rt.config
        paths = everything_under(c.graph_root, c.run_root, c.tmp_dir, c.static_dir,
                                 str(world_roots / "ipam"))
        names = {p.name for p in paths}
        # The files the issue is about are among those probed.
        assert {"alive.lck", "lock", "iptables.lock", "db.sql", "ctr.log", "attach",
                ctr.id} <= names, sorted(names)
        assert any(p.name.endswith(".lock") for p in paths if p.parent.name == "lock")
        assert as_nobody_cannot_open(paths) == []
    finally:
        for each in (reader, ctr):
            rt.remove_container(each, force=True)


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_modes_do_not_depend_on_the_umask(make_runtime: Callable[..., Any], rootfs: str,
                                          umask: int) -> None:
    """Under umask 0 nothing is opened up, under 0277 the owner keeps its own bits: the
    store's directories are 0700 and its locks 0600 either way."""
    old = os.umask(umask)
    try:
        rt = make_runtime(state_type="memory")
        ctr = rt.create_container(rootfs, ["true"])
        with rt.locks.get(ctr.id):
            pass
    finally:
        os.umask(old)
    c = rt.config
    lock_dir = Path(rt.lock_dir)
    for path in (c.graph_root, c.run_root, c.tmp_dir, c.static_dir, lock_dir):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    locks = [Path(c.tmp_dir, "alive.lck"), *lock_dir.iterdir()]
    assert len(locks) > 1
    for path in locks:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # A --rootfs container's record is a link to the user's directory: not pypod's.
    opened = [p for p in everything_under(c.graph_root, c.run_root)
              if p.is_dir() and not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert opened == []


def test_an_older_stores_wider_modes_are_narrowed(make_runtime: Callable[..., Any],
                                                  runtime_options: dict[str, Any]) -> None:
    """A store an older pypod made (0755 roots and lock dir, 0751 tmp dir, 0644 locks) is
    closed by the next runtime built on it."""
    graph_root, run_root = Path(runtime_options["graph_root"]), Path(runtime_options["run_root"])
    tmp_dir, lock_dir = run_root / "tmp", run_root / "tmp" / "lock"
    for path, mode in ((graph_root, 0o755), (graph_root / "static", 0o755),
                       (run_root, 0o755), (tmp_dir, 0o751), (lock_dir, 0o755)):
        path.mkdir()
        path.chmod(mode)
    for path in (tmp_dir / "alive.lck", lock_dir / "ctr.lock"):
        path.touch()
        path.chmod(0o644)
    (tmp_dir / "alive").touch()
    rt = make_runtime(state_type="memory")
    for path in (graph_root, graph_root / "static", run_root, tmp_dir, lock_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE((tmp_dir / "alive.lck").stat().st_mode) == 0o600
    with rt.locks.get("ctr"):
        assert stat.S_IMODE((lock_dir / "ctr.lock").stat().st_mode) == 0o600


def test_a_shared_directory_is_never_narrowed(tmp_path: Path) -> None:
    """A sticky directory (like /tmp) or another user's is left as it is."""
    from pypod_core.host.private import private_dir

    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    private_dir(str(sticky))
    assert stat.S_IMODE(sticky.stat().st_mode) == 0o1777
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    private_dir(str(theirs))
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o755
    with pytest.raises(NotADirectoryError):
        (tmp_path / "file").touch()
        private_dir(str(tmp_path / "file"))


def test_a_lock_file_made_under_umask_0_is_the_owners_alone(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with FileLock(str(tmp_path / "x.lock")):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.lock").stat().st_mode) == 0o600
