"""The container config keys of libpod.conf that reach the OCI runtime: ``hooks_dir``
(OCI hooks 1.0.0 files with ``when`` conditions, run by real runc and crun),
``no_pivot_root`` (conmon's ``--no-pivot`` on the runtime's create) and ``init_path``
with ``--init`` (Debian's catatonit as the container's PID 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from conftest import need_binary, run_pypod
from pypod_core.engine import oci_hooks as hooks
from pypod_core.errors import ConfigError, InvalidArgError

#: A hook that saves the state the runtime gives it on stdin as $OUT/$1.json.
HOOK_SH = '#!/bin/sh\ncat > "$OUT/$1.json"\n'


@pytest.fixture
def hook_env(tmp_path: Path) -> dict[str, Any]:
    """A hooks directory, a hook script and the directory the script writes to."""
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "hook.sh"
    script.write_text(HOOK_SH)
    script.chmod(0o755)
    hooks_dir = tmp_path / "hooks.d"
    hooks_dir.mkdir()
    return {"out": out, "script": str(script), "dir": hooks_dir}


def hook_file(env: dict[str, Any], name: str, stages: list[str], when: dict[str, Any],
              **extra: Any) -> Path:
    path = env["dir"] / name
    path.write_text(json.dumps({
        "version": "1.0.0", "stages": stages, "when": when,
        "hook": {"path": env["script"], "args": ["hook.sh", name.removesuffix(".json")],
                 "env": [f"OUT={env['out']}"]}, **extra}))
    return path


def config_file(tmp_path: Path, runtime_options: dict[str, Any], **keys: Any) -> str:
    path = tmp_path / "keys.conf"
    path.write_text(tomli_w.dumps({**runtime_options, **keys}))
    return str(path)


@pytest.mark.parametrize("oci", ["runc", "crun"])
def test_hooks_run_when_their_conditions_match(
        oci: str, hook_env: dict[str, Any], tmp_path: Path, runtime_options: dict[str, Any],
        rootfs: str) -> None:
    need_binary(oci)
    need_binary("conmon")
    hook_file(hook_env, "always.json", ["prestart"], {"always": True})
    hook_file(hook_env, "named.json", ["poststop"],
              {"annotations": {r"^io\.pypod\.container\.name$": "^hooked$"}})
    hook_file(hook_env, "sh.json", ["createContainer"], {"commands": ["/sh$"]})
    hook_file(hook_env, "binds.json", ["poststart"], {"hasBindMounts": True})
    hook_file(hook_env, "never.json", ["poststart"], {"always": False, "commands": [".*"]})
    (hook_env["dir"] / "README").write_text("not a hook: skipped")
    conf = config_file(tmp_path, runtime_options, hooks_dir=[str(hook_env["dir"])])
    result = run_pypod("--config", conf, "--runtime", oci, "run", "--rm", "--name", "hooked",
                       "--rootfs", rootfs, "/bin/sh", "-c", "true")
    assert result.returncode == 0, result.stderr
    out: Path = hook_env["out"]
    assert sorted(p.name for p in out.iterdir()) == ["always.json", "named.json", "sh.json"]
    stopped = json.loads((out / "named.json").read_text())
    assert stopped["status"] == "stopped"
    assert stopped["annotations"]["io.pypod.container.name"] == "hooked"
    assert json.loads((out / "always.json").read_text())["pid"] > 0
    for name in out.iterdir():
        name.unlink()
    result = run_pypod("--config", conf, "--runtime", oci, "run", "--rm", "-v",
                       f"{tmp_path}:/mnt", "--rootfs", rootfs, "true")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["always.json", "binds.json"]


@pytest.mark.parametrize("content, message", [
    ("{", "invalid JSON"),
    ('{"version": "0.1.0"}', "version '0.1.0' is not supported"),
    ('{"version": "1.0.0", "hook": {"path": "/no/such/hook"}, "stages": ["prestart"]}',
     "hook.path /no/such/hook: no such file"),
    ('{"version": "1.0.0", "hook": {"path": "/bin/true"}, "stages": ["precreate"]}',
     "unknown stage 'precreate'"),
    ('{"version": "1.0.0", "hook": {"path": "/bin/true"}, "stages": []}', "at least one"),
    ('{"version": "1.0.0", "hook": {"path": "/bin/true"}, "stages": ["poststop"], '
     '"when": {"allways": true}}', "unknown key 'allways' in 'when'"),
    ('{"version": "1.0.0", "hook": {"path": "/bin/true"}, "stages": ["poststop"], '
     '"when": {"commands": ["("]}}', "hook file"),
])
def test_a_bad_hook_file_is_refused_naming_it(
        make_runtime: Callable[..., Any], hook_env: dict[str, Any], rootfs: str,
        content: str, message: str) -> None:
    bad = hook_env["dir"] / "bad.json"
    bad.write_text(content)
    runtime = make_runtime(state_type="memory", hooks_dir=[str(hook_env["dir"])])
    with pytest.raises(ConfigError, match=f"hook file {bad}: .*") as caught:
        runtime.create_container(rootfs, ["true"])
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert runtime.containers(all=True) == []


def test_later_directories_override_and_order_is_by_name(hook_env: dict[str, Any],
                                                          tmp_path: Path) -> None:
    hook_file(hook_env, "B.json", ["poststop"], {"always": True})
    hook_file(hook_env, "a.json", ["prestart", "poststart"], {"always": True})
    override = tmp_path / "override"
    override.mkdir()
    (override / "a.json").write_text(json.dumps({
        "version": "1.0.0", "hook": {"path": "/bin/true"}, "when": {"always": True},
        "stages": ["startContainer"]}))
    found = hooks.read_dirs([str(hook_env["dir"]), str(tmp_path / "missing"), str(override)])
    assert [(h.name, h.stages) for h in found] == [("a.json", ("startContainer",)),
                                                   ("B.json", ("poststop",))]
    spec: dict[str, Any] = {"process": {"args": ["x"]}, "annotations": {}}
    hooks.add_to_spec(spec, found, has_bind_mounts=False)
    assert spec["hooks"] == {"startContainer": [{"path": "/bin/true"}],
                             "poststop": [found[1].hook]}


def test_when_conditions_follow_containers_common() -> None:
    def match(when: dict[str, Any], command: str = "/bin/sh",
              annotations: dict[str, str] | None = None, binds: bool = False) -> bool:
        hook = hooks.Hook("h.json", {"path": "/bin/true"}, when, ("poststop",))
        return hook.matches(command, annotations or {}, binds)

    assert not match({})  # no condition: no match
    assert match({"always": True}) and not match({"always": False})
    assert match({"hasBindMounts": True}, binds=True) and not match({"hasBindMounts": True})
    assert match({"annotations": {"^a": "b$"}}, annotations={"ab": "cb"})
    assert not match({"annotations": {"^a": "b$"}, "always": True}, annotations={"x": "b"})
    # commands decide alone once the other conditions did not fail
    assert match({"commands": ["sh$"]}) and not match({"commands": ["^bash$"]})
    assert not match({"always": True, "commands": ["^bash$"]})


def test_prestart_becomes_create_runtime() -> None:
    spec: dict[str, Any] = {"process": {"args": ["x"]}}
    hook = hooks.Hook("h.json", {"path": "/bin/true"}, {"always": True}, ("prestart",))
    hooks.add_to_spec(spec, [hook], has_bind_mounts=False)
    assert spec["hooks"] == {"createRuntime": [{"path": "/bin/true"}]}


def test_no_pivot_root_reaches_the_runtimes_create(
        tmp_path: Path, runtime_options: dict[str, Any], rootfs: str) -> None:
    runc = need_binary("runc")
    need_binary("conmon")
    log = tmp_path / "runtime-args"
    wrapper = tmp_path / "runc-logged"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {runc} "$@"\n')
    wrapper.chmod(0o755)
    for no_pivot in (False, True):
        conf = config_file(tmp_path, runtime_options, no_pivot_root=no_pivot,
                           runtime_path=[str(wrapper)])
        result = run_pypod("--config", conf, "run", "--rm", "--rootfs", rootfs, "true")
        assert result.returncode == 0, result.stderr
    creates = [line.split() for line in log.read_text().splitlines() if " create " in line]
    assert ["--no-pivot" in args for args in creates] == [False, True]


@pytest.mark.parametrize("oci", ["runc", "crun"])
def test_init_runs_catatonit_as_pid_1(oci: str, cli_flags: list[str], rootfs: str) -> None:
    need_binary(oci)
    need_binary("conmon")
    need_binary("catatonit", "catatonit")
    result = run_pypod(*cli_flags, "--runtime", oci, "run", "--rm", "--init", "--rootfs",
                       rootfs, "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; sleep 0 & wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "/run/pypod-init -- sh -c tr '\\0' ' ' < /proc/1/cmdline; " \
                            "sleep 0 & wait "
    # The exit code is the command's, handed on by the init.
    code = run_pypod(*cli_flags, "--runtime", oci, "run", "--rm", "--init", "--rootfs",
                     rootfs, "sh", "-c", "exit 7").returncode
    assert code == 7


def test_init_path_key_and_flag(make_runtime: Callable[..., Any], rootfs: str,
                                tmp_path: Path) -> None:
    init = tmp_path / "my-init"
    init.write_text("")
    runtime = make_runtime(state_type="memory", init_path=str(init))
    assert runtime.create_container(rootfs, ["true"], init=True).config.init_path == str(init)
    with pytest.raises(InvalidArgError, match="init binary /no/init: no such file"):
        runtime.create_container(rootfs, ["true"], init=True, init_path="/no/init")
    with pytest.raises(InvalidArgError, match="--init-path needs --init"):
        runtime.create_container(rootfs, ["true"], init_path=str(init))
    assert len(runtime.containers(all=True)) == 1
