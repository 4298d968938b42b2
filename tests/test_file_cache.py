"""Files read when a container is created and again when it starts (the seccomp profile,
the OCI hook files): parsed once in a process while they are unchanged, and again as
soon as they change (pypod reads them at each start)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core.engine import oci_hooks, seccomp
from pypod_core.host import filecache


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    filecache.forget()
    yield
    filecache.forget()


def test_a_file_is_parsed_once_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("1")
    calls: list[str] = []

    def parse(p: str) -> str:
        calls.append(p)
        return Path(p).read_text()

    assert filecache.parsed(str(path), parse) == filecache.parsed(str(path), parse) == "1"
    assert len(calls) == 1
    path.write_text("22")  # another size
    assert filecache.parsed(str(path), parse) == "22"
    mtime = path.stat().st_mtime_ns
    path.write_text("33")  # the same size, and the same time on a coarse clock
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    assert filecache.parsed(str(path), parse) == "33" and len(calls) == 3
    path.unlink()
    with pytest.raises(FileNotFoundError):
        filecache.parsed(str(path), parse)


def test_a_failed_parse_is_not_kept(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    for _ in range(2):  # the same error each time, not a cached result
        with pytest.raises(Exception, match="invalid JSON"):
            seccomp.load_profile(str(bad))


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    calls: list[str] = []
    real = getattr(module, name)

    def wrapper(path: str) -> Any:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_create_and_start_in_one_process_read_the_profile_and_hooks_once(
        make_runtime: Callable[..., Any], rootfs: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    need_binary("runc")
    need_binary("conmon")
    profile = tmp_path / "profile.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    hooks_dir = tmp_path / "hooks.d"
    hooks_dir.mkdir()
    (hooks_dir / "h.json").write_text(json.dumps({
        "version": "1.0.0", "hook": {"path": "/bin/true"}, "when": {"always": True},
        "stages": ["poststop"]}))
    profile_reads = _counting(monkeypatch, seccomp, "_read_profile")
    hook_reads = _counting(monkeypatch, oci_hooks, "_read_hook")
    runtime = make_runtime(state_type="memory", seccomp_profile=str(profile),
                           hooks_dir=[str(hooks_dir)])
    ctr = runtime.create_container(rootfs, ["true"])
    ctr.start()
    assert ctr.wait() == 0
    assert (len(profile_reads), len(hook_reads)) == (1, 1)
    # Changed before the next start: that start reads and applies the new profile.
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}))
    ctr.start()
    assert ctr.wait() == 0
    assert len(profile_reads) == 2
    with open(os.path.join(ctr.bundle_dir, "config.json")) as f:
        spec = json.load(f)
    assert spec["linux"]["seccomp"]["syscalls"][0]["names"] == ["getpid"]
    assert spec["hooks"]["poststop"] == [{"path": "/bin/true"}]
