"""``pypod cp`` and ``pypod container cp`` from the shell: CONTAINER:PATH arguments, tar
streams on stdin and stdout, podman's boolean flags, one-line errors with exit 125.
Real runc under conmon for the running container."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import PYPOD, need_binary, run_pypod


@pytest.fixture
def own_rootfs(rootfs: str, tmp_path: Path) -> str:
    target = tmp_path / "ctr-rootfs"
    shutil.copytree(rootfs, target, symlinks=True)
    return str(target)


def pypod(cli_flags: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_pypod(*cli_flags, *args)


@pytest.fixture
def running(cli_flags: list[str], own_rootfs: str) -> str:
    need_binary("runc")
    need_binary("conmon")
    result = pypod(cli_flags, "run", "-d", "--name", "cpweb", "--stop-signal", "KILL",
                   "--rootfs", own_rootfs, "sleep", "1000")
    assert result.returncode == 0, result.stderr
    yield "cpweb"
    pypod(cli_flags, "rm", "-f", "cpweb")


def test_cp_copies_in_and_out_of_a_running_container(
        cli_flags: list[str], running: str, own_rootfs: str, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "file with space").write_text("hello")
    result = pypod(cli_flags, "cp", str(tmp_path / "d"), f"{running}:/tmp/d")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert (Path(own_rootfs) / "tmp" / "d" / "file with space").read_text() == "hello"
    result = pypod(cli_flags, "container", "cp", f"{running}:/tmp/d", str(tmp_path / "back"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "back" / "file with space").read_text() == "hello"


def test_cp_dash_reads_a_tar_from_stdin_and_writes_one_to_stdout(
        cli_flags: list[str], running: str, own_rootfs: str, tmp_path: Path) -> None:
    """podman 4.3.1: ``cp - CTR:DIR`` extracts the tar on stdin into DIR, which must be
    a directory (``destination must be a directory when copying from stdin``); ``cp
    CTR:PATH -`` writes PATH as a tar (``dir`` as ``dir/...``, ``dir/.`` as its
    contents)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("in/a.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    stdin = tmp_path / "in.tar"
    stdin.write_bytes(data.getvalue())
    argv = [PYPOD, *cli_flags, "cp", "-", f"{running}:/srv"]
    with open(stdin, "rb") as f:
        missing = subprocess.run(argv, stdin=f, capture_output=True, text=True)
    assert missing.returncode == 125
    assert "must be a directory when copying a tar stream" in missing.stderr
    os.makedirs(Path(own_rootfs) / "srv")
    with open(stdin, "rb") as f:
        result = subprocess.run(argv, stdin=f, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (Path(own_rootfs) / "srv" / "in" / "a.txt").read_text() == "abc"
    for source, names in (("/srv/in", ["in", "in/a.txt"]), ("/srv/in/.", ["a.txt"])):
        out = subprocess.run([PYPOD, *cli_flags, "cp", f"{running}:{source}", "-"],
                             capture_output=True)
        assert out.returncode == 0, out.stderr
        assert tarfile.open(fileobj=io.BytesIO(out.stdout)).getnames() == names


def test_archive_takes_gos_boolean_spellings(cli_flags: list[str], own_rootfs: str,
                                             tmp_path: Path) -> None:
    """podman 4.3.1: ``-a`` is on by default (copies get the container's user);
    ``--archive=false`` / ``-a=false`` keep the source's owners."""
    assert pypod(cli_flags, "create", "--name", "owned", "--user", "1000:1001",
                 "--rootfs", own_rootfs, "true").returncode == 0
    source = tmp_path / "f"
    source.write_text("f")
    os.chown(source, 1234, 2345)
    for flags, dest, owner in (([], "default", (1000, 1001)), (["-a"], "a", (1000, 1001)),
                               (["--archive=false"], "kept", (1234, 2345)),
                               (["-a=false"], "kept2", (1234, 2345)),
                               (["--archive=true"], "on", (1000, 1001))):
        result = pypod(cli_flags, "cp", *flags, str(source), f"owned:/tmp/{dest}")
        assert result.returncode == 0, result.stderr
        st = os.stat(Path(own_rootfs) / "tmp" / dest)
        assert (st.st_uid, st.st_gid) == owner, flags
    wrong = pypod(cli_flags, "cp", "--archive=maybe", str(source), "owned:/tmp/x")
    assert wrong.returncode == 125 and "--archive" in wrong.stderr and "maybe" in wrong.stderr


def test_errors_are_one_line_and_exit_125(cli_flags: list[str], own_rootfs: str,
                                          tmp_path: Path) -> None:
    assert pypod(cli_flags, "create", "--name", "target", "--rootfs", own_rootfs,
                 "true").returncode == 0
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("f")
    cases = [
        (("nosuch:/x", str(tmp_path)), "no container with name or ID"),
        ((str(tmp_path / "f"), "target:/nope/x"),
         '"/nope/x" could not be found on container target: no such file or directory'),
        ((str(tmp_path / "d"), "target:/etc/passwd"),
         "must be a directory when copying a directory"),
        ((str(tmp_path / "f"), str(tmp_path / "g")), "one of SRC and DEST must be"),
        (("-", "-"), "a tar stream (-)"),
        (("target:../../etc", str(tmp_path / "out")), "climbs out of the root"),
        ((":/x", str(tmp_path / "out")), "a container name or id is needed"),
    ]
    for args, message in cases:
        result = pypod(cli_flags, "cp", *args)
        assert result.returncode == 125, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_a_host_path_with_a_colon_is_a_host_path(cli_flags: list[str], own_rootfs: str,
                                                 tmp_path: Path) -> None:
    """podman 4.3.1: an argument that starts with ``/`` or ``.`` is a host path, colon or
    not (``./file:name.txt``)."""
    assert pypod(cli_flags, "create", "--name", "colon", "--rootfs", own_rootfs,
                 "true").returncode == 0
    (tmp_path / "a:b").write_text("colon")
    result = subprocess.run([PYPOD, *cli_flags, "cp", "./a:b", "colon:/tmp/"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (Path(own_rootfs) / "tmp" / "a:b").read_text() == "colon"
