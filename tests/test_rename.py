"""Renaming containers (podman's ``rename``), in every state backend: the new name finds
it, the old one no longer does, a taken or malformed name is refused and nothing
changes; a running container keeps running; the events log has a ``rename``."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.errors import InvalidArgError, NameInUseError, NoSuchCtrError


@pytest.fixture(params=["sqlite", "memory"])
def runtime(request: pytest.FixtureRequest, make_runtime: Any) -> Any:
    return make_runtime(state_type=request.param)


def test_rename_a_running_container(runtime: Any, rootfs: str) -> None:
    need_binary("runc")
    ctr = runtime.create_container(rootfs, ["sleep", "100"], name="before")
    ctr.start()
    runtime.rename_container(ctr, "after")
    assert ctr.name == "after"
    found = runtime.lookup_container("after")
    assert found.id == ctr.id and found.state.state.value == "running"
    with pytest.raises(NoSuchCtrError):
        runtime.lookup_container("before")
    assert [e.status for e in runtime.events(stream=False)][-1] == "rename"
    ctr.stop(0)
    assert runtime.lookup_container("after").state.state.value == "exited"


def test_taken_or_bad_names_are_refused(runtime: Any, rootfs: str) -> None:
    ctr = runtime.create_container(rootfs, ["true"], name="first")
    runtime.create_container(rootfs, ["true"], name="second")
    runtime.create_pod(name="apod", infra=False)
    for taken in ("second", "apod"):
        with pytest.raises(NameInUseError):
            runtime.rename_container(ctr, taken)
    with pytest.raises(InvalidArgError, match="names must match"):
        runtime.rename_container(ctr, "bad name")
    assert runtime.lookup_container("first").id == ctr.id
    runtime.rename_container(ctr, "first")  # its own name: nothing changes
    assert sorted(c.name for c in runtime.containers()) == ["first", "second"]


def test_infra_containers_keep_their_names(runtime: Any) -> None:
    need_binary("runc")
    pod = runtime.create_pod(name="withinfra")
    infra = pod.infra()
    with pytest.raises(InvalidArgError, match="infra containers cannot be renamed"):
        runtime.rename_container(infra, "other")


def test_cli_rename(cli_flags: list[str], rootfs: str) -> None:
    assert run_pypod(*cli_flags, "create", "--name", "c1", "--rootfs", rootfs,
                     "true").returncode == 0
    result = run_pypod(*cli_flags, "rename", "c1", "c2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert run_pypod(*cli_flags, "container", "exists", "c2").returncode == 0
    missing = run_pypod(*cli_flags, "container", "rename", "c1", "c3")
    assert missing.returncode == 125 and len(missing.stderr.splitlines()) == 1
