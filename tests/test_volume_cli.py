"""``pypod volume ...`` and the volume flags of ``run``/``create``/``rm``, as podman's:
output, filters, formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import PYPOD, need_binary, run_pypod


@pytest.fixture
def pypod(cli_flags):
    need_binary("runc")

    def call(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args, input=input)

    return call


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_ls_inspect_exists(pypod):
    assert ok(pypod("volume", "create", "data")) == "data\n"
    anonymous = ok(pypod("volume", "create")).strip()
    assert len(anonymous) == 64
    assert ok(pypod("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o",
                    "o=size=2m,uid=1000", "-l", "tier=cache", "-l", "temp",
                    "--driver", "local", "scratch")) == "scratch\n"
    listed = ok(pypod("volume", "ls")).splitlines()
    assert listed[0] == "DRIVER      VOLUME NAME"
    assert sorted(listed[1:]) == sorted(f"local       {n}" for n in ("data", anonymous,
                                                                       "scratch"))
    assert ok(pypod("volume", "ls", "-q", "--filter", "label=tier=cache")) == "scratch\n"
    assert ok(pypod("volume", "ls", "-q", "--filter", "name=^da")) == "data\n"
    assert ok(pypod("volume", "ls", "--noheading", "--filter", "label=temp")) == \
        "local       scratch\n"
    assert ok(pypod("volume", "ls", "--format", "{{.Name}}:{{.Options.type}}:{{.UID}}",
                    "--filter", "opt=type=tmpfs")) == "scratch:tmpfs:1000\n"
    (doc,) = json.loads(ok(pypod("volume", "inspect", "scr")))  # a unique prefix
    assert (doc["Name"], doc["Labels"], doc["UID"]) == ("scratch", {"tier": "cache",
                                                                    "temp": ""}, 1000)
    assert doc["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=2m,uid=1000"}
    assert ok(pypod("volume", "inspect", "--format", "{{.Mountpoint}}", "data")).strip() \
        .endswith("/volumes/data/_data")
    assert len(json.loads(ok(pypod("volume", "inspect", "--all")))) == 3
    assert pypod("volume", "exists", "data").returncode == 0
    assert pypod("volume", "exists", "nothing").returncode == 1


def test_errors_are_one_line_with_podmans_codes(pypod, rootfs):
    ok(pypod("volume", "create", "used"))
    ok(pypod("create", "--name", "user", "-v", "used:/u", "--rootfs", rootfs, "true"))
    cases = [
        (("volume", "create", "used"), 125, "volume with name used already exists"),
        (("volume", "create", "-o", "bogus=1", "x"), 125,
         "invalid mount option bogus for driver 'local'"),
        (("volume", "create", "-d", "nodriver", "x"), 125,
         "unknown volume driver backend 'nodriver' (volume_driver); installed: local"),
        (("volume", "create", "bad/name"), 125, "invalid volume name 'bad/name'"),
        (("volume", "ls", "--filter", "color=red"), 125, '"color" is an invalid volume filter'),
        (("volume", "ls", "--filter", "dangling=maybe"), 125, "must be true or false"),
        (("volume", "rm", "used"), 2, "volume used is being used by the following"),
        (("volume", "rm", "nothing"), 1, 'no volume with name "nothing" found'),
        (("volume", "rm", "-a", "used"), 125, "choose either one or more volumes or all"),
        (("volume", "rm", "-t", "3", "used"), 125, "--force option must be specified"),
        (("volume", "inspect"), 125, "provide one or more volume names or use --all"),
        (("run", "--rm", "-v", "x:/y:weird", "--rootfs", rootfs, "true"), 125,
         "unknown option 'weird'"),
        (("run", "--rm", "--mount", "type=image,target=/i", "--rootfs", rootfs, "true"), 125,
         "an image mount needs source= (the image) and target="),
        (("run", "--rm", "-v", "a:/d", "--tmpfs", "/d", "--rootfs", rootfs, "true"), 125,
         "/d: duplicate mount destination"),
    ]
    for args, code, words in cases:
        result = pypod(*args)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith("Error: ") and words in result.stderr, (args, result)
        assert result.stderr.count("\n") == 1, result.stderr
    assert sorted(ok(pypod("volume", "ls", "-q")).split()) == ["used"]  # nothing made


def test_run_with_volumes_tmpfs_and_volumes_from(pypod, rootfs, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    out = ok(pypod("run", "--name", "first", "--network", "none", "-v", "db:/db",
                   "-v", "/anon", "-v", f"{host}:/h:ro", "--tmpfs", "/t:size=1m",
                   "--mount", "type=volume,source=logs,target=/logs",
                   "--rootfs", rootfs, "sh", "-c",
                   "echo hi > /db/f && df -k /t | tail -1 && touch /h/x 2>/dev/null || "
                   "echo read-only"))
    assert out.splitlines()[0].split()[:2] == ["tmpfs", "1024"]
    assert out.splitlines()[1] == "read-only"
    mounts = json.loads(ok(pypod("inspect", "--format", "{{json .Mounts}}", "first")))
    assert [(m["Type"], m["Destination"]) for m in mounts] == [
        ("volume", "/logs"), ("volume", "/db"), ("volume", "/anon"), ("bind", "/h")]
    (entry,) = json.loads(ok(pypod("ps", "-a", "--format", "json")))
    assert entry["Mounts"] == ["/t", "/h", "/logs", "/db", "/anon"]  # podman's order
    assert ok(pypod("run", "--rm", "--network", "none", "--volumes-from", "first:ro",
                    "--rootfs", rootfs, "cat", "/db/f")) == "hi\n"
    names = set(ok(pypod("volume", "ls", "-q")).split())
    assert {"db", "logs"} < names and len(names) == 3
    ok(pypod("rm", "-v", "first"))
    assert set(ok(pypod("volume", "ls", "-q")).split()) == {"db", "logs"}
    assert ok(pypod("run", "--rm", "--network", "none", "-v", "db:/db", "--rootfs", rootfs,
                    "cat", "/db/f")) == "hi\n"


def test_rm_force_removes_the_users_and_prune_asks_first(pypod, rootfs):
    ok(pypod("volume", "create", "kept"))
    ok(pypod("volume", "create", "spare"))
    ok(pypod("run", "-d", "--name", "sleeper", "--network", "none", "-v", "kept:/k",
             "--rootfs", rootfs, "sleep", "1000"))
    assert ok(pypod("volume", "ls", "-q", "--filter", "dangling=true")) == "spare\n"
    assert ok(pypod("volume", "ls", "-q", "--filter", "dangling=false")) == "kept\n"
    asked = pypod("volume", "prune", input="n\n")
    assert asked.returncode == 0
    assert asked.stdout == ("WARNING! This will remove all volumes not used by at least one "
                            "container. The following volumes will be removed:\nspare\n"
                            "Are you sure you want to continue? [y/N] ")
    assert ok(pypod("volume", "prune", input="y\n")).endswith("spare\n")
    assert ok(pypod("volume", "prune", "-f")) == ""
    assert ok(pypod("volume", "rm", "-f", "-t", "0", "kept", "nothing")) == "kept\n"
    assert ok(pypod("ps", "-a", "-q")) == ""
    assert ok(pypod("volume", "ls", "-q")) == ""


def test_export_and_import(pypod, tmp_path):
    ok(pypod("volume", "create", "src"))
    data = Path(json.loads(ok(pypod("volume", "inspect", "src")))[0]["Mountpoint"])
    (data / "sub").mkdir()
    (data / "sub" / "f").write_text("content")
    tar_path = tmp_path / "src.tar"
    ok(pypod("volume", "export", "-o", str(tar_path), "src"))
    with tarfile.open(tar_path) as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/f"]
    ok(pypod("volume", "create", "dst"))
    ok(pypod("volume", "import", "dst", str(tar_path)))
    target = json.loads(ok(pypod("volume", "inspect", "dst")))[0]["Mountpoint"]
    assert Path(target, "sub", "f").read_text() == "content"
    assert pypod("volume", "import", "nothing", str(tar_path)).returncode == 125


def test_export_to_a_pipe_and_import_from_stdin(cli_flags, tmp_path):
    assert run_pypod(*cli_flags, "volume", "create", "a").returncode == 0
    assert run_pypod(*cli_flags, "volume", "create", "b").returncode == 0
    mount = json.loads(run_pypod(*cli_flags, "volume", "inspect", "a").stdout)[0]["Mountpoint"]
    Path(mount, "piped").write_text("through a pipe")
    export = subprocess.Popen([PYPOD, *cli_flags, "volume", "export", "a"],
                              stdout=subprocess.PIPE)
    imported = subprocess.run([PYPOD, *cli_flags, "volume", "import", "b", "-"],
                              stdin=export.stdout, capture_output=True, text=True)
    export.wait(timeout=60)
    assert export.returncode == 0 and imported.returncode == 0, imported.stderr
    other = json.loads(run_pypod(*cli_flags, "volume", "inspect", "b").stdout)[0]["Mountpoint"]
    assert Path(other, "piped").read_text() == "through a pipe"
    assert os.listdir(other) == ["piped"]
