"""``pypod create/run IMAGE [CMD...]``: the real command, with podman's flags, messages
and exit codes (Debian's podman 4.3.1 did what each docstring says, on an image made by
``podman import --change ...`` of the busybox rootfs).  Real runc under conmon, real
overlay mounts; images come from ``runtime.import_image``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]

CFG = {"Entrypoint": ["/bin/echo", "ep"], "Cmd": ["default-arg"], "Env": ["GREETING=hi"],
       "WorkingDir": "/tmp", "User": "nobody", "StopSignal": "SIGINT",
       "Labels": {"from.image": "yes"}, "ExposedPorts": {"8080/tcp": {}},
       "Volumes": {"/data": {}}}


@pytest.fixture
def pypod(make_runtime: Callable[..., Any], busybox_tar: str,
          cli_config: str) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store, which holds the images ``cfg`` (CFG) and
    ``nocmd`` (no Entrypoint, no Cmd)."""
    need_binary("runc")
    need_binary("conmon")
    rt = make_runtime(config_path=cli_config)
    rt.import_image([busybox_tar], {"config": CFG}, names=["cfg"])
    rt.import_image([busybox_tar], {}, names=["nocmd"])
    rt.shutdown()

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_pypod("--config", cli_config, *args, **kwargs)

    yield call
    call("rm", "-a", "-f", "-t", "0")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_run_image_with_its_entrypoint_and_cmd(pypod):
    """podman 4.3.1: ``ep default-arg``; ``ep x y``; ``--entrypoint /bin/echo``: an empty
    line; ``--entrypoint '["/bin/echo","j1"]' cfg a``: ``j1 a``; ``--entrypoint ''
    cfg echo z``: ``z``; ``--entrypoint 'echo two words'`` looked for a program of that
    name (exit 127)."""
    assert ok(pypod("run", "--rm", "cfg")) == "ep default-arg\n"
    assert ok(pypod("run", "--rm", "cfg", "x", "y")) == "ep x y\n"
    assert ok(pypod("run", "--rm", "--entrypoint", "/bin/echo", "cfg")) == "\n"
    assert ok(pypod("run", "--rm", "--entrypoint", '["/bin/echo","j1"]', "cfg", "a")) \
        == "j1 a\n"
    assert ok(pypod("run", "--rm", "--entrypoint=", "cfg", "echo", "z")) == "z\n"
    spaced = pypod("run", "--rm", "--entrypoint", "echo two words", "cfg")
    assert spaced.returncode == 127 and "echo two words" in spaced.stderr


def test_the_images_env_workdir_user_and_stop_signal_unless_given(pypod):
    """podman 4.3.1: ``hi``, the image's WorkingDir, uid 65534; ``-e``, ``-w``, ``-u``
    override them; the image's StopSignal is the container's unless ``--stop-signal``."""
    script = ["--entrypoint", "", "cfg", "sh", "-c", "echo $GREETING; pwd; id -u"]
    assert ok(pypod("run", "--rm", *script)) == "hi\n/tmp\n65534\n"
    assert ok(pypod("run", "--rm", "-e", "GREETING=caller", "-w", "/etc", "-u", "0",
                    *script)) == "caller\n/etc\n0\n"
    ok(pypod("create", "--name", "sig", "cfg"))
    ok(pypod("create", "--name", "usr1", "--stop-signal", "SIGUSR1", "cfg"))
    shown = ok(pypod("inspect", "--format", "{{.Config.StopSignal}}", "sig", "usr1"))
    assert shown.split() == ["2", "10"]


def test_no_command_is_podmans_error(pypod):
    """podman 4.3.1: ``Error: no command or entrypoint provided, and no CMD or
    ENTRYPOINT from image``, exit 125 (``run nocmd`` and ``run --entrypoint '' cfg``)."""
    for args in (["nocmd"], ["--entrypoint", "", "cfg"]):
        result = pypod("run", "--rm", *args)
        assert result.returncode == 125
        assert result.stderr == ("Error: no command or entrypoint provided, and no CMD or "
                                 "ENTRYPOINT from image\n")
    assert ok(pypod("ps", "-aq")) == ""


def test_pull_policies(pypod):
    """podman 4.3.1: ``run --pull=never nosuch:1`` said ``Error: nosuch:1: image not
    known`` (exit 125), and so did ``create --pull=never localhost/nosuch``; ``--pull
    bogus`` ``Error: unsupported pull policy "bogus"`` (125).  ``never`` and ``missing``
    run a local image without asking any registry."""
    result = pypod("run", "--pull=never", "--rm", "nosuch:1", "true")
    assert (result.returncode, result.stderr) == (125, "Error: nosuch:1: image not known\n")
    result = pypod("create", "--pull", "never", "localhost/nosuch")
    assert (result.returncode, result.stderr) == \
        (125, "Error: localhost/nosuch: image not known\n")
    result = pypod("create", "--pull=bogus", "cfg")
    assert (result.returncode, result.stderr) == \
        (125, 'Error: unsupported pull policy "bogus"\n')
    for policy in ("never", "missing"):
        assert ok(pypod("run", "--rm", f"--pull={policy}", "cfg", "local")) == "ep local\n"


def test_ps_and_inspect_show_the_image(pypod, rootfs):
    """podman 4.3.1 ``ps``: IMAGE ``localhost/cfg:latest``, COMMAND the Cmd
    (``default-arg``); ``--format '{{.Image}} {{.ImageID}}'`` the name and the short id;
    a ``--rootfs`` container's IMAGE is empty.  ``inspect``: ``Image`` (the id),
    ``ImageName``, ``Rootfs`` "" and ``GraphDriver`` {Name overlay, Data LowerDir,
    UpperDir, WorkDir}; a ``--rootfs`` container's ``Rootfs`` is its directory."""
    ctr_id = ok(pypod("create", "--name", "fromimage", "cfg")).strip()
    ok(pypod("create", "--name", "fromdir", "--rootfs", rootfs, "true"))
    table = ok(pypod("ps", "-a")).splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
    row = next(line for line in table if line.endswith("fromimage")).split()
    assert row[:3] == [ctr_id[:12], "localhost/cfg:latest", "default-arg"]
    assert next(line for line in table if line.endswith("fromdir")).split()[1] == "true"
    doc = json.loads(ok(pypod("inspect", "fromimage")))[0]
    image_id = doc["Image"]
    assert len(image_id) == 64 and doc["ImageName"] == "localhost/cfg:latest"
    assert doc["Rootfs"] == "" and doc["GraphDriver"]["Name"] == "overlay"
    assert sorted(doc["GraphDriver"]["Data"]) == ["LowerDir", "UpperDir", "WorkDir"]
    shown = ok(pypod("ps", "-a", "--format", "{{.Names}} {{.Image}} {{.ImageID}}"))
    assert sorted(shown.splitlines()) == ["fromdir  ",
                                          f"fromimage localhost/cfg:latest {image_id[:12]}"]
    rootfs_doc = json.loads(ok(pypod("inspect", "fromdir")))[0]
    assert (rootfs_doc["Rootfs"], rootfs_doc["Image"], rootfs_doc["GraphDriver"]) == \
        (rootfs, "", {"Name": "dir", "Data": {}})


def test_image_volumes(pypod):
    """podman 4.3.1 on an image with ``VOLUME /data``: ``run --rm`` mounted an anonymous
    volume there and removed it after (``volume ls`` empty again); ``create`` made it
    and ``rm`` kept it; ``--image-volume tmpfs`` a tmpfs; ``--image-volume ignore``
    nothing; another word ``Error: ...`` (125)."""
    script = ["--entrypoint", "", "cfg", "sh", "-c", "grep ' /data ' /proc/mounts | cut -d' ' -f3"]
    assert ok(pypod("run", "--rm", *script)).strip() not in ("", "tmpfs")
    assert ok(pypod("volume", "ls", "-q")) == ""
    ok(pypod("create", "--name", "keeps", "cfg"))
    (name,) = ok(pypod("volume", "ls", "-q")).split()
    ok(pypod("rm", "keeps"))
    assert ok(pypod("volume", "ls", "-q")).split() == [name]
    assert ok(pypod("run", "--rm", "--image-volume", "tmpfs", *script)) == "tmpfs\n"
    assert ok(pypod("run", "--rm", "--image-volume", "ignore", *script)) == ""
    refused = pypod("create", "--image-volume", "nope", "cfg")
    assert (refused.returncode, refused.stderr) == (
        125, "Error: invalid image volume mode 'nope': bind, tmpfs or ignore\n")


def test_publish_all_with_a_network(pypod, make_runtime, busybox_tar, net_config):
    """podman 4.3.1 ``create -P cfg``: the exposed 8080/tcp on a random host port
    (``ps`` PORTS ``0.0.0.0:PORT->8080/tcp``); with ``--network none``, none."""
    need_binary("iptables")
    rt = make_runtime(config_path=net_config)
    rt.import_image([busybox_tar], {"config": CFG}, names=["cfg"])
    rt.shutdown()
    flags = ["--config", net_config]
    ok(run_pypod(*flags, "create", "--name", "all", "-P", "cfg"))
    ok(run_pypod(*flags, "create", "--name", "nonet", "-P", "--network", "none", "cfg"))
    ports = ok(run_pypod(*flags, "ps", "-a", "--format", "{{.Names}}={{.Ports}}"))
    shown = dict(line.split("=", 1) for line in ports.splitlines())
    assert shown["nonet"] == ""
    host, _, target = shown["all"].partition("->")
    assert target == "8080/tcp" and host.startswith("0.0.0.0:")
    assert 1024 <= int(host.rpartition(":")[2]) < 65536
    ok(run_pypod(*flags, "rm", "-a", "-f"))


def test_publish_all_in_a_pod_publishes_nothing(pypod):
    """A pod's container shares the pod's network: its ports are the pod's, so ``-P``
    adds none (where ``-p`` is refused)."""
    ok(pypod("pod", "create", "--name", "p", "--network", "none"))
    ok(pypod("create", "--name", "member", "--pod", "p", "-P", "cfg"))
    doc = json.loads(ok(pypod("inspect", "member")))[0]
    assert doc["HostConfig"]["PortBindings"] == {}
    refused = pypod("create", "--pod", "p", "-p", "8080", "cfg")
    assert refused.returncode == 125 and "publish ports" in refused.stderr
    ok(pypod("pod", "rm", "-f", "p"))
