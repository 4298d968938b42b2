"""``pypod secret ...`` and ``run/create --secret``, as podman's: output, columns, JSON
keys, exit codes and one-line errors; secrets in real runc containers (a read-only file
with its mode and owner, or a variable); ``secret rm`` of a secret in use; and the data
never printed."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import need_binary, run_pypod

DATA = "hunter2-do-not-print"


@pytest.fixture
def pypod(cli_flags):
    need_binary("runc")

    def call(*args: str, input: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args, input=input, env=env)

    return call


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(DATA)
    return str(path)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_from_file_stdin_and_env_then_list(pypod, secret_file):
    file_id = ok(pypod("secret", "create", "from-file", secret_file)).strip()
    assert re.fullmatch(r"[0-9a-f]{25}", file_id)
    stdin_id = ok(pypod("secret", "create", "-l", "tier=db", "from-stdin", "-",
                        input="piped")).strip()
    ok(pypod("secret", "create", "--env", "from-env", "MY_TOKEN", env={"MY_TOKEN": "tok"}))
    lines = ok(pypod("secret", "ls")).splitlines()
    assert re.fullmatch(r"ID {25}NAME {8}DRIVER {6}CREATED +UPDATED", lines[0])
    assert lines[1].startswith(f"{file_id}  from-file   file        ")
    assert lines[1].endswith("ago")
    assert len(lines) == 4
    assert ok(pypod("secret", "ls", "-q", "--filter", "name=^from-s")) == f"{stdin_id}\n"
    assert ok(pypod("secret", "ls", "--noheading", "--filter", f"id={file_id[:5]}",
                    "--format", "{{.Name}} {{.Driver}}")) == "from-file file\n"
    assert len(ok(pypod("secret", "ls", "--noheading")).splitlines()) == 3
    listed = json.loads(ok(pypod("secret", "list", "--format", "json")))
    assert [r["Name"] for r in listed] == ["from-file", "from-stdin", "from-env"]
    assert DATA not in ok(pypod("secret", "ls", "--format", "json"))


def test_inspect_json_template_and_pretty(pypod, secret_file):
    secret_id = ok(pypod("secret", "create", "--label", "a=b", "shown", secret_file)).strip()
    (doc,) = json.loads(ok(pypod("secret", "inspect", "shown")))
    assert list(doc) == ["ID", "CreatedAt", "UpdatedAt", "Spec"]
    assert doc["ID"] == secret_id
    assert (doc["Spec"]["Name"], doc["Spec"]["Labels"], doc["Spec"]["Driver"]["Name"]) == (
        "shown", {"a": "b"}, "file")
    assert doc["Spec"]["Driver"]["Options"]["path"].endswith("/secrets/filedriver")
    assert ok(pypod("secret", "inspect", "-f", "{{.Spec.Name}} {{.ID}}", secret_id[:7])) == \
        f"shown {secret_id}\n"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\n", ok(
        pypod("secret", "inspect", "--format", "{{.CreatedAt}}", "shown")))
    pretty = ok(pypod("secret", "inspect", "--pretty", "shown")).splitlines()
    assert pretty[:5] == [f"ID:              {secret_id}", "Name:              shown",
                          "Labels:", " - a=b", "Driver:            file"]
    assert pretty[5].startswith("Created at:        ")
    result = pypod("secret", "inspect", "shown", "ghost")
    assert result.returncode == 125
    assert [d["ID"] for d in json.loads(result.stdout)] == [secret_id]
    assert result.stderr == ('Error: inspecting secret: no secret with name or id "ghost": '
                             "no such secret\n")
    assert DATA not in result.stdout + result.stderr


def test_rm_and_rm_all(pypod, secret_file):
    one = ok(pypod("secret", "create", "one", secret_file)).strip()
    two = ok(pypod("secret", "create", "two", secret_file)).strip()
    result = pypod("secret", "rm", "one", "ghost")
    assert (result.returncode, result.stdout) == (125, f"{one}\n")
    assert result.stderr == 'Error: no secret with name or id "ghost": no such secret\n'
    ok(pypod("secret", "create", "three", secret_file))
    assert ok(pypod("secret", "rm", "--all")).split()[0] == two
    assert ok(pypod("secret", "ls", "-q")) == ""


@pytest.mark.parametrize(("args", "message"), [
    (("secret", "create", "bad.", "FILE"), "only 64 [a-zA-Z0-9-_.] characters allowed, "
     "and the start and end character must be [a-zA-Z0-9]: bad.: invalid secret name"),
    (("secret", "create", "x" * 65, "FILE"), "only 64 [a-zA-Z0-9-_.] characters allowed, "
     f"and the start and end character must be [a-zA-Z0-9]: {'x' * 65}: invalid secret name"),
    (("secret", "create", "taken", "FILE"), "taken: secret name in use"),
    (("secret", "create", "--driver", "pass", "x", "FILE"),
     "secret driver 'pass' is not supported by pypod"),
    (("secret", "create", "--driver", "shell", "x", "FILE"),
     "secret driver 'shell' is not supported by pypod"),
    (("secret", "create", "--driver", "vault", "x", "FILE"),
     "unknown secret driver backend 'vault' (secret_driver); installed: file"),
    (("secret", "create", "--driver-opts", "foo", "x", "FILE"),
     'invalid argument "foo" for "--driver-opts" flag: foo must be formatted as key=value'),
    (("secret", "create", "--driver-opts", "foo=bar", "x", "FILE"),
     "invalid driver option 'foo' for secret driver 'file': it takes only path=DIR"),
    (("secret", "create", "x", "/no/such/file"), "open /no/such/file: no such file or directory"),
    (("secret", "create", "--env", "x", "PYPOD_UNSET_VAR"),
     "cannot create store secret data: environment variable PYPOD_UNSET_VAR is not set"),
    (("secret", "create", "x", "-"), "secret data must be larger than 0 and less than 512000 "
     "bytes"),
    (("secret", "ls", "--filter", "label=a"), 'invalid filter "label"'),
    (("secret", "rm"), "`secret rm` requires one argument, or the --all flag"),
    (("secret", "rm", "-a", "taken"), "`secret rm` requires one argument, or the --all flag"),
])
def test_errors_are_one_line(pypod, secret_file, args, message):
    ok(pypod("secret", "create", "taken", secret_file))
    result = pypod(*(secret_file if a == "FILE" else a for a in args), input="")
    assert result.returncode == 125
    assert result.stderr == f"Error: {message}\n"
    assert DATA not in result.stderr
    assert ok(pypod("secret", "ls", "-q")).count("\n") == 1  # nothing else stored


SHOW = ("cat /run/secrets/plain; echo; stat -c '%a %u %g' /run/secrets/plain; "
        "cat /run/secrets/dir/named; echo; stat -c '%a %u %g' /run/secrets/dir/named; "
        "stat -c '%a %u %g' /etc/app.key; "
        "echo \"$TOKEN\"; echo \"$envsec\"; "
        "echo x > /run/secrets/plain 2>/dev/null || echo read-only")


def test_mount_and_env_secrets_in_a_container(pypod, secret_file, rootfs):
    ok(pypod("secret", "create", "plain", secret_file))
    ok(pypod("secret", "create", "key", "-", input="key-data"))
    ok(pypod("secret", "create", "envsec", "-", input="env-data"))
    out = ok(pypod("run", "--name", "user", "--secret", "plain",
                   "--secret", "key,target=dir/named",
                   "--secret", "source=key,target=/etc/app.key,mode=0400,uid=1000,gid=10",
                   "--secret", "envsec,type=env,target=TOKEN",
                   "--secret", "envsec,type=env",
                   "--rootfs", rootfs, "sh", "-c", SHOW))
    assert out.splitlines() == [DATA, "444 0 0", "key-data", "444 0 0", "400 1000 10",
                                "env-data", "env-data", "read-only"]
    (doc,) = json.loads(ok(pypod("inspect", "user")))
    assert doc["Config"]["Secrets"] == [
        {"Name": "plain", "ID": doc["Config"]["Secrets"][0]["ID"], "UID": 0, "GID": 0,
         "Mode": 0o444},
        {"Name": "key", "ID": doc["Config"]["Secrets"][1]["ID"], "UID": 0, "GID": 0,
         "Mode": 0o444},
        {"Name": "key", "ID": doc["Config"]["Secrets"][1]["ID"], "UID": 1000, "GID": 10,
         "Mode": 0o400}]
    shown = json.dumps(doc)
    assert DATA not in shown and "env-data" not in shown and "key-data" not in shown


def test_exec_sees_env_secrets(pypod, rootfs):
    ok(pypod("secret", "create", "tok", "-", input="exec-data"))
    ok(pypod("run", "-d", "--name", "long", "--secret", "tok,type=env,target=TOK",
             "--rootfs", rootfs, "sleep", "60"))
    try:
        assert ok(pypod("exec", "long", "sh", "-c", "echo $TOK")) == "exec-data\n"
    finally:
        ok(pypod("rm", "-f", "-t", "0", "long"))


def test_rm_of_a_secret_in_use_leaves_the_containers_copy(pypod, secret_file, rootfs):
    ok(pypod("secret", "create", "used", secret_file))
    ok(pypod("secret", "create", "usedenv", "-", input="old-env"))
    ok(pypod("create", "--name", "holder", "--secret", "used",
             "--secret", "usedenv,type=env,target=E", "--rootfs", rootfs,
             "sh", "-c", "cat /run/secrets/used; echo; echo $E"))
    ok(pypod("secret", "rm", "used", "usedenv"))
    ok(pypod("secret", "create", "used", "-", input="new-value"))
    assert ok(pypod("start", "-a", "holder")) == f"{DATA}\nold-env\n"
    ok(pypod("rm", "holder"))
    assert ok(pypod("secret", "ls", "-q")).count("\n") == 1


@pytest.mark.parametrize(("flag", "message"), [
    ("ghost", 'no secret with name or id "ghost": no such secret'),
    ("s,type=env,mode=0400", "UID, GID, Mode options cannot be set with secret type env: "
                             "parsing secret"),
    ("s,type=volume", "type volume is invalid: parsing secret"),
    ("s,colour=red", "option colour=red invalid: parsing secret"),
])
def test_run_with_a_bad_secret_makes_no_container(pypod, secret_file, rootfs, flag, message):
    ok(pypod("secret", "create", "s", secret_file))
    result = pypod("run", "--name", "never", "--secret", flag, "--rootfs", rootfs, "true")
    assert (result.returncode, result.stderr) == (125, f"Error: {message}\n")
    assert ok(pypod("ps", "-a", "-q")) == ""


def test_env_secret_must_be_text(pypod, tmp_path, rootfs):
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    ok(pypod("secret", "create", "bin", str(binary)))
    result = pypod("create", "--secret", "bin,type=env", "--rootfs", rootfs, "true")
    assert result.returncode == 125
    assert result.stderr == ("Error: secret bin: type=env needs UTF-8 text, and its data "
                             "is not; use type=mount\n")
    assert ok(pypod("ps", "-a", "-q")) == ""


def test_containers_conf_secrets_driver_is_the_default_driver(pypod, secret_file, tmp_path):
    """podman's [secrets] driver names the driver of ``secret create`` without --driver."""
    conf = tmp_path / "containers.conf"
    conf.write_text('[secrets]\ndriver = "pass"\n')
    result = pypod("secret", "create", "x", secret_file, env={"CONTAINERS_CONF": str(conf)})
    assert (result.returncode, result.stderr) == (
        125, "Error: secret driver 'pass' is not supported by pypod\n")
    conf.write_text('[secrets]\ndriver = "file"\n')
    ok(pypod("secret", "create", "x", secret_file, env={"CONTAINERS_CONF": str(conf)}))


def test_commit_keeps_no_secret(pypod, secret_file, busybox_tar):
    """podman's: an image committed from a container has neither its mount secrets' data
    nor its env secrets."""
    ok(pypod("import", "-q", busybox_tar, "bb"))
    ok(pypod("secret", "create", "s", secret_file))
    ok(pypod("run", "--name", "c1", "--secret", "s", "--secret", "s,target=/etc/s.key",
             "--secret", "s,type=env,target=S", "bb", "sh", "-c",
             "cat /run/secrets/s /etc/s.key; echo $S"))
    ok(pypod("commit", "-q", "c1", "committed"))
    out = ok(pypod("run", "--rm", "committed", "sh", "-c",
                   "cat /run/secrets/s /etc/s.key 2>/dev/null; echo env=$S"))
    assert DATA not in out and out.endswith("env=\n")
    assert DATA not in ok(pypod("image", "inspect", "committed"))
