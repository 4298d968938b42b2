"""commit, import, export, history, image prune and system df on the command line, as
Debian's podman 4.3.1 printed them for the same steps (real runc, real overlay)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile

import pytest

from conftest import PYPOD, need_binary, run_pypod
from conftest import pypod_ok as ok


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")



def test_import_commit_history_and_run(cli_flags, busybox_tar):
    """podman: ``import`` prints ``sha256:<id>`` after the copy lines on stderr;
    ``commit`` the bare id; ``history`` podman's columns, the commit's row ``/bin/sh``
    ``FROM localhost/bb:latest`` over the import's ``ADD file:...`` (cut at 45)."""
    out = ok(cli_flags, "import", "-m", "imported msg", "-c", 'CMD ["/bin/sh"]',
             busybox_tar, "bb")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)
    ok(cli_flags, "run", "--name", "c1", "bb", "sh", "-c", "echo hi > /new; rm -r /var")
    result = run_pypod(*cli_flags, "commit", "-a", "Me", "-c", "ENV FOO=bar", "c1", "done")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", result.stdout)
    assert result.stderr.startswith("Getting image source signatures\nCopying blob sha256:")
    assert result.stderr.endswith("Writing manifest to image destination\nStoring signatures\n")
    lines = ok(cli_flags, "history", "done").splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert re.split(r"\s{2,}", lines[1])[2:] == ["/bin/sh", re.split(r"\s{2,}", lines[1])[3],
                                                 "FROM localhost/bb:latest"]
    assert "/bin/sh -c #(nop) ADD file:" in lines[2] and lines[2].endswith("imported msg")
    assert "..." in lines[2]
    rows = json.loads(ok(cli_flags, "history", "--format", "json", "done"))
    assert [r["comment"] for r in rows] == ["FROM localhost/bb:latest", "imported msg"]
    assert set(rows[0]) == {"id", "created", "CreatedBy", "size", "comment", "Created"}
    assert len(ok(cli_flags, "history", "-q", "done").split()) == 2
    assert ok(cli_flags, "run", "--rm", "done", "sh", "-c",
              "cat /new; test -e /var || echo gone; echo $FOO").split() == ["hi", "gone", "bar"]


def test_commit_errors_are_one_line(cli_flags, busybox_tar):
    """podman: a bad change, ``-m`` with the oci format, a missing container, each one
    line, exit 125, nothing stored."""
    ok(cli_flags, "import", "-q", busybox_tar, "bb")
    ok(cli_flags, "create", "--name", "c1", "bb", "true")
    for args, words in ((["-c", "BOGUS x"], 'invalid change "BOGUS x" - invalid instruction '
                                            "BOGUS"),
                        (["-m", "msg"], "messages are only compatible with the docker image "
                                        "format (-f docker)"),
                        (["--squash"], "--squash is not supported")):
        result = run_pypod(*cli_flags, "commit", *args, "c1", "x")
        assert result.returncode == 125
        assert words in result.stderr
        assert result.stderr.count("\n") == 1
    result = run_pypod(*cli_flags, "commit", "nope", "x")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert ok(cli_flags, "images", "-q").split() == [ok(cli_flags, "images", "-q").split()[0]]


def test_export_import_stdin_with_change_then_run(cli_flags, busybox_tar, tmp_path):
    """podman: ``export -o`` writes the tar; ``import - REF`` reads stdin; the image
    runs with the ``--change`` CMD; ``container export``/``commit`` are the same."""
    ok(cli_flags, "import", "-q", busybox_tar, "bb")
    ok(cli_flags, "run", "--name", "c1", "bb", "sh", "-c", "echo marker > /m")
    tar = tmp_path / "c1.tar"
    ok(cli_flags, "container", "export", "-o", str(tar), "c1")
    with tarfile.open(tar) as t:
        assert "m" in t.getnames()
    with open(tar, "rb") as f:
        result = subprocess.run([PYPOD, *cli_flags, "import", "-q", "--change", "CMD cat /m",
                                 "-", "fromtar"], stdin=f, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert ok(cli_flags, "run", "--rm", "fromtar") == "marker\n"
    via_stdout = subprocess.run([PYPOD, *cli_flags, "export", "c1"], capture_output=True)
    assert via_stdout.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(via_stdout.stdout)) as t:
        assert "m" in t.getnames()
    result = run_pypod(*cli_flags, "import", "http://example.com/x.tar")
    assert result.returncode == 125 and "URL is not supported" in result.stderr


def test_image_prune_and_system_df(cli_flags, busybox_tar, tmp_path):
    """podman: ``image prune -f`` prints the ids removed (dangling only; ``-a`` unused
    too); without ``-f`` it asks and does nothing on no; ``system df`` podman's table,
    its sizes in go-units' form (``2.428MB``)."""
    ok(cli_flags, "import", "-q", busybox_tar, "bb")
    ok(cli_flags, "run", "--name", "c1", "bb", "sh", "-c", "head -c 200000 /dev/zero > /z")
    dangling = ok(cli_flags, "commit", "-q", "c1").strip()
    named = ok(cli_flags, "commit", "-q", "c1", "named").strip()
    ok(cli_flags, "volume", "create", "v1")
    lines = ok(cli_flags, "system", "df").splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    images = re.split(r"\s{2,}", lines[1])
    assert images[:3] == ["Images", "3", "1"]
    assert re.fullmatch(r"\d+(\.\d+)?MB", images[3])
    assert re.fullmatch(r"\d+(\.\d+)?MB \(\d+%\)", images[4])
    containers = re.split(r"\s{2,}", lines[2])
    assert containers[:4] == ["Containers", "1", "0", "200kB"]
    assert re.split(r"\s{2,}", lines[3]) == ["Local Volumes", "1", "0", "0B", "0B (0%)"]
    verbose = ok(cli_flags, "system", "df", "-v")
    assert "Images space usage:" in verbose and "Local Volumes space usage:" in verbose
    assert ok(cli_flags, "system", "df", "--format", "{{.Type}}:{{.Total}}").splitlines() == [
        "Images:3", "Containers:1", "Local Volumes:1"]
    asked = run_pypod(*cli_flags, "image", "prune", input="n\n")
    assert asked.stdout.startswith("WARNING! This command removes all dangling images.")
    assert len(ok(cli_flags, "images", "-q", "--no-trunc").split()) == 3
    assert ok(cli_flags, "image", "prune", "-f").split() == [dangling]
    assert ok(cli_flags, "image", "prune", "-a", "-f", "--filter", "label=none").split() == []
    assert ok(cli_flags, "image", "prune", "-a", "-f").split() == [named]
    result = run_pypod(*cli_flags, "image", "prune", "-f", "--filter", "dangling=true")
    assert result.returncode == 125
    assert result.stderr == 'Error: unsupported image filter "dangling"\n'
