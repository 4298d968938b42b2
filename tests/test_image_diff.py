"""``diff``, ``container diff`` and ``image diff``: the same steps in a podman 4.3.1
container and a pypod one give the same lines and the same JSON (real runc, real
overlay on pypod's side)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from conftest import pypod_ok as ok

#: Adds, changes and deletes files and whole directories.
SCRIPT = ("echo x > /etc/newfile; echo y >> /etc/passwd; rm /etc/group; mkdir -p /a/b; "
          "echo z > /a/b/c; rm -rf /home; echo q > /bin/zz; touch /tmp/t")


@pytest.fixture(autouse=True)
def _oci() -> None:
    need_binary("runc")
    need_binary("conmon")



@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Any]:
    """``podman(*args)`` on a private overlay store, runc, ulimits within the host's."""
    need_binary("podman", "podman")
    run = tempfile.mkdtemp(prefix="pd-")  # short: podman wants a short runroot
    nofile = min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    conf = tmp_path / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", '
                    f'"nproc={nproc}:{nproc}"]\n[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    command = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run,
               "--tmpdir", f"{run}/tmp", "--storage-driver", "overlay"]

    def podman(*args: str) -> str:
        done = subprocess.run([*command, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    try:
        yield podman
    finally:
        subprocess.run([*command, "rm", "-a", "-f"], capture_output=True, env=env)
        subprocess.run([*command, "rmi", "-a", "-f"], capture_output=True, env=env)
        subprocess.run(["umount", "-R", f"{tmp_path}/podman/overlay"], capture_output=True)
        subprocess.run(["rm", "-rf", run], check=False)


def test_diff_is_podmans(cli_flags, busybox_tar, podman):
    """A container's changes, the image committed from it and the two images compared
    the other way: podman's lines (``A``/``C``/``D``, sorted by path) and JSON."""
    for tool in (podman, lambda *a: ok(cli_flags, *a)):
        tool("import", "-q", busybox_tar, "bb")
        tool("run", "--name", "c1", "--network", "none", "bb", "sh", "-c", SCRIPT)
        tool("commit", "-q", "c1", "bb2")
    mine = lambda *a: ok(cli_flags, *a)  # noqa: E731
    expected = podman("diff", "c1")
    assert "D /home\n" in expected and "A /a/b/c\n" in expected  # the steps happened
    assert mine("diff", "c1") == expected
    assert mine("container", "diff", "c1") == expected
    assert json.loads(mine("diff", "--format", "json", "c1")) == \
        json.loads(podman("diff", "--format", "json", "c1"))
    assert mine("diff", "--format", "json", "c1").startswith('{\n     "changed": [\n')
    assert mine("image", "diff", "bb2") == podman("image", "diff", "bb2") == expected
    assert mine("diff", "bb2", "bb") == expected
    # Against a base that is not the parent podman lists in no set order.
    assert sorted(mine("diff", "bb", "bb2").splitlines()) == \
        sorted(podman("diff", "bb", "bb2").splitlines())
    assert mine("diff", "c1", "bb2") == podman("diff", "c1", "bb2") == ""


def test_diff_errors_are_podmans(cli_flags, busybox_tar):
    """An unknown object in each form, a format other than json, no object, and
    ``--latest`` with a name: one line each, exit 125."""
    ok(cli_flags, "import", "-q", busybox_tar, "bb")
    ok(cli_flags, "create", "--name", "c1", "bb", "true")
    for args, words in ((["diff", "nope"], "nope not found: layer not known"),
                        (["image", "diff", "c1"], "c1 not found: c1: image not known"),
                        (["container", "diff", "bb"], "bb not found: container not known"),
                        (["diff", "--format", "table", "c1"],
                         "only supported value for '--format' is 'json'"),
                        (["diff"], '"pypod diff" requires a name, id, or the "--latest" '
                                   "flag"),
                        (["diff", "-l", "c1"],
                         "--latest and containers cannot be used together")):
        result = run_pypod(*cli_flags, *args)
        assert (result.returncode, result.stderr) == (125, f"Error: {words}\n"), args
    assert ok(cli_flags, "diff", "-l") == ""  # created, never run: nothing, as podman


def test_runtime_diff_leaves_no_rootfs(make_runtime, busybox_tar):
    """From Python: Change rows; an image with one layer is all added; the rootfs
    each image's tree was read from is gone afterwards."""
    rt = make_runtime()
    rt.import_image([busybox_tar], names=["bb"])
    ctr = rt.create_container(image="bb", command=["sh", "-c", "rm -r /var; echo > /n"],
                              network_mode="none")
    ctr.start()
    ctr.wait()
    # /etc changes where the runtime made the hosts file's mount point in the upper dir
    # (as podman's); a base that has the file already leaves /etc as it was.
    rows = [c for c in rt.diff(ctr.name) if (c.kind, c.path) != ("C", "/etc")]
    assert [(c.kind, c.path) for c in rows] == [("A", "/n"), ("D", "/var")]
    assert str(rows[0]) == "A /n"
    everything = rt.diff("bb", kinds=("image",))
    assert everything and {c.kind for c in everything} == {"A"}
    assert ("A", "/bin/sh") in everything
    assert not [i for i in rt.graph_driver.rootfs_ids() if i.startswith("pypod-diff-")]
