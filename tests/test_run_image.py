"""Containers from images, from Python: ``create_container(image=...)`` with the image's
config applied rule by rule as podman 4.3.1 applies it.

Each test's docstring says what Debian's podman 4.3.1 did with the same image config
(an image made by ``podman import --change ...`` of the busybox rootfs, run with
``--network none``).  Real runc under real conmon on real overlay mounts; images come
from ``runtime.import_image``.
"""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import fetch, make_layer, need_binary
from pypod_core.errors import InvalidArgError, NoSuchImageError
from pypod_core.model import Mount, PortMapping

#: The config of podman's test image ``cfg`` (``podman image inspect`` showed it so).
CFG = {
    "Entrypoint": ["/bin/echo", "ep"], "Cmd": ["default-arg"],
    "Env": ["GREETING=hi", "PATH=/bin:/usr/bin"], "WorkingDir": "/tmp", "User": "nobody",
    "StopSignal": "2", "Labels": {"from.image": "yes", "shared": "image"},
    "ExposedPorts": {"8080/tcp": {}, "5353/udp": {}}, "Volumes": {"/image-volume": {}},
}
NO_COMMAND = "no command or entrypoint provided, and no CMD or ENTRYPOINT from image"


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")


@pytest.fixture
def rt(make_runtime: Callable[..., Any]) -> Any:
    return make_runtime()


@pytest.fixture
def images(rt: Any, busybox_tar: str) -> dict[str, Any]:
    """``cfg`` (CFG), ``cmdonly`` (Cmd only), ``nocmd`` (no Entrypoint, no Cmd)."""
    return {
        "cfg": rt.import_image([busybox_tar], {"config": CFG}, names=["cfg"]),
        "cmdonly": rt.import_image([busybox_tar],
                                   {"config": {"Cmd": ["sh", "-c", "echo cmd-only"]}},
                                   names=["cmdonly"]),
        "nocmd": rt.import_image([busybox_tar], {}, names=["nocmd"]),
    }


def output(rt: Any, **create: Any) -> str:
    """Create from ``create``'s arguments, run attached, remove; stdout (exit code 0)."""
    ctr = rt.create_container(**create)
    out, err = io.BytesIO(), io.BytesIO()
    code = ctr.start_attached(out, err)
    rt.remove_container(ctr)
    assert code == 0, err.getvalue()
    return out.getvalue().decode()


def shell(rt: Any, script: str, image: str = "cfg", **fields: Any) -> str:
    """Run ``sh -c script`` in ``image`` (its entrypoint cleared)."""
    return output(rt, image=image, entrypoint=[], command=["sh", "-c", script], **fields)


def test_entrypoint_and_cmd(rt, images):
    """podman 4.3.1: ``run cfg`` printed ``ep default-arg``; ``run cfg x y`` ``ep x y``;
    ``--entrypoint /bin/echo`` an empty line (the Cmd cleared); ``--entrypoint
    '["/bin/echo","j1"]' cfg a`` ``j1 a``; ``--entrypoint '' cfg echo z`` ``z``;
    ``run cmdonly`` the Cmd, ``run cmdonly echo args`` ``args``."""
    assert output(rt, image="cfg") == "ep default-arg\n"
    assert output(rt, image="cfg", command=["x", "y"]) == "ep x y\n"
    assert output(rt, image="cfg", entrypoint=["/bin/echo"]) == "\n"
    assert output(rt, image="cfg", entrypoint=["/bin/echo", "j1"], command=["a"]) == "j1 a\n"
    assert output(rt, image="cfg", entrypoint=[], command=["echo", "z"]) == "z\n"
    assert output(rt, image="cmdonly") == "cmd-only\n"
    assert output(rt, image="cmdonly", command=["echo", "args"]) == "args\n"


def test_no_command_at_all_is_podmans_error(rt, images):
    """podman 4.3.1: ``run nocmd``, ``run --entrypoint '' nocmd`` and ``run --entrypoint
    '' cfg`` (the Cmd is cleared too) all failed with "no command or entrypoint
    provided, and no CMD or ENTRYPOINT from image", exit 125; nothing was created."""
    for create in ({"image": "nocmd"}, {"image": "nocmd", "entrypoint": []},
                   {"image": "cfg", "entrypoint": []}):
        with pytest.raises(InvalidArgError, match=NO_COMMAND):
            rt.create_container(**create)
    assert rt.containers() == []


def test_entrypoint_and_cmd_as_inspect_and_ps_show_them(rt, images):
    """podman 4.3.1 ``inspect`` of ``create cfg``: ``Path`` /bin/echo, ``Args`` [ep,
    default-arg], ``Config.Entrypoint`` "/bin/echo ep", ``Config.Cmd`` [default-arg];
    with ``--entrypoint '["/bin/echo","j1"]'`` ``Config.Cmd`` null; ``ps`` COMMAND
    showed the Cmd only (``default-arg``, and nothing for the second)."""
    from pypod_core.engine.inspect import ps_entry

    ctr = rt.create_container(image="cfg")
    doc = ctr.inspect()
    assert (doc["Path"], doc["Args"]) == ("/bin/echo", ["ep", "default-arg"])
    assert (doc["Config"]["Entrypoint"], doc["Config"]["Cmd"]) == ("/bin/echo ep",
                                                                    ["default-arg"])
    assert ps_entry(ctr, time.time())["Command"] == ["default-arg"]
    other = rt.create_container(image="cfg", entrypoint=["/bin/echo", "j1"])
    assert other.inspect()["Config"]["Cmd"] is None
    assert ps_entry(other, time.time())["Command"] == []


def test_env_image_first_then_the_callers(rt, images):
    """podman 4.3.1: ``echo $GREETING $PATH`` gave ``hi /bin:/usr/bin`` (the image's
    PATH replaces the default one); with ``-e GREETING=caller -e NEW=1``, ``caller 1``."""
    assert shell(rt, "echo $GREETING $PATH") == "hi /bin:/usr/bin\n"
    assert shell(rt, "echo $GREETING $NEW $PATH",
                 env={"GREETING": "caller", "NEW": "1"}) == "caller 1 /bin:/usr/bin\n"


def test_workdir_and_user_from_the_image_unless_given(rt, images, busybox_tar):
    """podman 4.3.1: ``pwd; id -u`` gave the image's WorkingDir and ``65534`` (USER
    nobody resolved in the image's /etc/passwd); with ``-w /tmp -u 0``, ``/tmp`` and
    ``0``; an image without WorkingDir runs in ``/``; an image's WorkingDir missing from
    its files is made (``/made/by/podman``)."""
    assert shell(rt, "pwd; id -u") == "/tmp\n65534\n"
    assert shell(rt, "pwd; id -u", workdir="/etc", user="0") == "/etc\n0\n"
    assert shell(rt, "pwd; id -u", image="nocmd") == "/\n0\n"
    rt.import_image([busybox_tar], {"config": {"WorkingDir": "/made/by/image",
                                               "Cmd": ["pwd"]}}, names=["wd"])
    assert output(rt, image="wd") == "/made/by/image\n"


def _await_a_child(pid: int, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` has a child (a shell got to its loop's first command).
    busybox sh catches INT itself, so the kernel's signal masks cannot show the trap."""
    deadline = time.monotonic() + timeout
    while not open(f"/proc/{pid}/task/{pid}/children").read().split():
        assert time.monotonic() < deadline, f"process {pid} started no child"
        time.sleep(0.02)


def test_stop_signal_from_the_image_unless_given(rt, images, busybox_tar):
    """podman 4.3.1: the image's StopSignal (``import --change 'STOPSIGNAL SIGINT'``
    stored "2"; a ``podman build`` stores "SIGINT") showed as ``Config.StopSignal`` 2
    and ``stop`` sent it (a ``trap ... INT`` ran and the exit code was 7);
    ``--stop-signal SIGUSR1`` gave 10."""
    ctr = rt.create_container(image="cfg", entrypoint=[], command=[
        "sh", "-c", "trap 'exit 7' INT; while :; do sleep 0.1; done"])
    assert ctr.config.stop_signal == 2 and ctr.inspect()["Config"]["StopSignal"] == 2
    ctr.start()
    _await_a_child(ctr.state.pid)  # its loop runs: the trap is set (before it, INT: 130)
    ctr.stop(timeout=20)
    assert ctr.state.exit_code == 7
    assert rt.create_container(image="cfg", stop_signal=10).config.stop_signal == 10
    for given in ("SIGINT", "INT", "sigint", "2"):
        rt.import_image([busybox_tar], {"config": {"Cmd": ["true"], "StopSignal": given}},
                        names=["sig"])
        assert rt.create_container(image="sig").config.stop_signal == signal.SIGINT, given
    rt.import_image([busybox_tar], {"config": {"Cmd": ["true"], "StopSignal": "SIGNOPE"}},
                    names=["badsig"])
    with pytest.raises(InvalidArgError, match="image badsig StopSignal: invalid stop signal"):
        rt.create_container(image="badsig")


def test_labels_image_first_then_the_callers(rt, images):
    """podman 4.3.1 ``create -l shared=caller -l mine=1 cfg``: ``Config.Labels``
    {"from.image": "yes", "mine": "1", "shared": "caller"}."""
    ctr = rt.create_container(image="cfg", labels={"shared": "caller", "mine": "1"})
    assert ctr.config.labels == {"from.image": "yes", "shared": "caller", "mine": "1"}
    assert ctr.inspect()["Config"]["Labels"] == ctr.config.labels


def test_image_volumes_as_podmans_image_volume_modes(rt, busybox_tar, tmp_path):
    """podman 4.3.1 on an image with ``VOLUME /data``: by default (``--image-volume
    bind``) an anonymous volume at /data (``Mounts`` Type volume, its name an id), made
    at create, kept by ``rm``, removed by ``run --rm``; ``--image-volume tmpfs`` a tmpfs
    there (``tmpfs /data tmpfs rw,nosuid,nodev``); ``--image-volume ignore`` nothing
    (the path absent when the image has no such directory); ``-v /tmp:/data`` replaced
    the image's volume (no anonymous volume made)."""
    seeded = make_layer(tmp_path / "seed.tar", {"data/seed": b"from the image\n"})
    rt.import_image([busybox_tar, seeded], {"config": {
        "Cmd": ["sh", "-c", "grep ' /data ' /proc/mounts | cut -d' ' -f3; cat /data/seed"],
        "Volumes": {"/data": {}}}}, names=["vol"])
    ctr = rt.create_container(image="vol")
    (volume,) = ctr.config.named_volumes
    assert volume.destination == "/data" and rt.get_volume(volume.name).anonymous
    out = io.BytesIO()
    assert ctr.start_attached(out, io.BytesIO()) == 0
    # The volume's file system (the graph root's), and the image's files copied up.
    assert out.getvalue().decode().split("\n")[1:] == ["from the image", ""]
    assert ctr.inspect()["Mounts"][0]["Type"] == "volume"
    rt.remove_container(ctr)
    assert rt.has_volume(volume.name)  # rm keeps it; rm -v (and --rm) remove it
    again = rt.create_container(image="vol", auto_remove=True)
    name = again.config.named_volumes[0].name
    again.start_attached(io.BytesIO(), io.BytesIO())
    assert name not in [v.name for v in rt.volumes()]
    assert output(rt, image="vol", image_volume="tmpfs") == "tmpfs\nfrom the image\n"
    assert output(rt, image="vol", image_volume="ignore") == "from the image\n"
    ignored = rt.create_container(image="vol", image_volume="ignore")
    assert ignored.config.named_volumes == () and ignored.inspect()["Mounts"] == []
    bound = rt.create_container(image="vol", volumes=[f"{tmp_path}:/data"])
    assert bound.config.named_volumes == ()
    assert [m.source for m in bound.config.mounts] == [str(tmp_path)]
    with pytest.raises(InvalidArgError, match="invalid image volume mode 'nope'"):
        rt.create_container(image="vol", image_volume="nope")


def test_the_container_records_its_image(rt, images):
    """podman 4.3.1: ``Image`` the full id, ``ImageName`` localhost/cfg:latest,
    ``Rootfs`` "", ``Driver`` and ``GraphDriver.Name`` overlay with ``LowerDir``,
    ``UpperDir`` and ``WorkDir``, plus ``MergedDir`` while it runs; created by id,
    ``ImageName`` was the image's name; by the id of an image without names, the id
    as given; ps showed the name (``IMAGE``) and the id (``ImageID``)."""
    image = images["cfg"]
    ctr = rt.create_container(image="cfg", entrypoint=[], command=["sleep", "60"])
    c = ctr.config
    assert (c.image_id, c.image_name, c.graph_driver, c.rootfs) == \
        (image.id, "localhost/cfg:latest", "overlay", "")
    doc = ctr.inspect()
    assert (doc["Image"], doc["ImageName"], doc["Rootfs"], doc["Driver"]) == \
        (image.id, "localhost/cfg:latest", "", "overlay")
    data = doc["GraphDriver"]["Data"]
    assert doc["GraphDriver"]["Name"] == "overlay"
    assert sorted(data) == ["LowerDir", "UpperDir", "WorkDir"]
    assert data["LowerDir"].endswith("/diff") and data["UpperDir"].endswith(f"{ctr.id}/diff")
    assert doc["Config"]["Image"] == "localhost/cfg:latest"
    ctr.start()
    merged = ctr.inspect()["GraphDriver"]["Data"]["MergedDir"]
    assert merged == ctr.state.mount_point and merged.endswith(f"{ctr.id}/merged")
    ctr.stop(timeout=0)
    assert rt.create_container(image=image.id[:12]).config.image_name == \
        "localhost/cfg:latest"
    rt.untag_image("cmdonly")
    bare = images["cmdonly"].id[:12]
    assert rt.create_container(image=bare).config.image_name == bare


def test_a_container_keeps_working_when_its_image_is_renamed(rt, images):
    """podman 4.3.1: after ``tag cfg renamed:v2`` and ``untag cfg``, ``start -a`` of a
    container made from ``cfg`` still printed ``ep default-arg`` (by the image id)."""
    ctr = rt.create_container(image="cfg")
    rt.tag_image("cfg", "renamed:v2")
    rt.untag_image("localhost/renamed:v2", "localhost/cfg:latest")
    with pytest.raises(NoSuchImageError):
        rt.get_image("cfg")
    out = io.BytesIO()
    assert ctr.start_attached(out, io.BytesIO()) == 0
    assert out.getvalue() == b"ep default-arg\n"
    assert rt.get_container(ctr.id).inspect()["ImageName"] == "localhost/cfg:latest"


def test_rootfs_or_image_exactly_one(rt, images, rootfs):
    with pytest.raises(InvalidArgError, match="a rootfs directory or an image, not both"):
        rt.create_container(rootfs, ["true"], image="cfg")
    with pytest.raises(InvalidArgError, match="takes a rootfs directory or an image$"):
        rt.create_container(command=["true"])
    with pytest.raises(NoSuchImageError, match="^nosuch: image not known$"):
        rt.create_container(image="nosuch")
    with pytest.raises(TypeError, match="entrypoint: expected a list of strings"):
        rt.create_container(image="cfg", entrypoint="/bin/sh")
    with pytest.raises(TypeError, match="image: expected a string"):
        rt.create_container(image=["cfg"])
    with pytest.raises(TypeError, match="graph_driver is set by the runtime"):
        rt.create_container(image="cfg", graph_driver="vfs")
    assert rt.containers() == []


def test_a_rootfs_container_takes_an_entrypoint_too(rt, rootfs):
    ctr = rt.create_container(rootfs, ["b"], entrypoint=["echo", "a"])
    assert ctr.config.command == ("echo", "a", "b") and ctr.config.entrypoint == ("echo", "a")
    out = io.BytesIO()
    assert ctr.start_attached(out, io.BytesIO()) == 0 and out.getvalue() == b"a b\n"


# -- ExposedPorts and publish_all (-P): a network of the test's own -------------------


def test_publish_all_publishes_the_exposed_ports_on_random_host_ports(net_runtime, busybox_tar,
                                                                       www: Path):
    """podman 4.3.1 ``create -P cfg``: ``8080/tcp`` and ``5353/udp`` each on a random
    host port; with ``-p 9999:8080`` too, 8080 kept 9999 and only 5353 got a random
    one; with ``--network none`` nothing was published and no error was given.  Here
    the published port answers: busybox httpd on the exposed port, fetched through the
    random host port."""
    rt = net_runtime
    rt.import_image([busybox_tar], {"config": {
        "Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"],
        "ExposedPorts": {"8080/tcp": {}, "5353/udp": {}}}}, names=["web"])
    ctr = rt.create_container(image="web", publish_all=True, network_mode="bridge",
                              mounts=(Mount(str(www), "/www", read_only=True),))
    ports = {(p.container_port, p.protocol): p.host_port for p in ctr.config.port_mappings}
    assert sorted(ports) == [(5353, "udp"), (8080, "tcp")]
    assert all(1024 <= port < 65536 for port in ports.values())
    ctr.start()
    try:
        assert fetch(f"http://127.0.0.1:{ports[(8080, 'tcp')]}/") == "hello\n"
    finally:
        rt.remove_container(ctr, force=True, timeout=0)
    given = rt.create_container(image="web", publish_all=True, network_mode="bridge",
                                port_mappings=(PortMapping(9999, 8080),))
    mapped = {(p.container_port, p.protocol): p.host_port for p in given.config.port_mappings}
    assert mapped[(8080, "tcp")] == 9999 and len(mapped) == 2
    none = rt.create_container(image="web", publish_all=True, network_mode="none")
    assert none.config.port_mappings == ()
