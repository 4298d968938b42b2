"""``pypod run/create --pull=...`` against the real docker-registry on 127.0.0.1: the
image is pulled first as the policy says, with ``pull``'s progress on stderr, then run.

What Debian's podman 4.3.1 did with an image pushed to the same kind of registry
(``run --rm --tls-verify=false REF echo ran``): absent and ``--pull=missing`` (the
default): ``Trying to pull REF...``, ``Getting image source signatures``, ``Copying blob
DIGEST``, ``Copying config DIGEST``, ``Writing manifest to image destination``,
``Storing signatures`` on stderr, then ``ran`` on stdout; present: no line at all;
``--pull=always``: the lines again; ``--pull=newer`` with the registry's digest the
local one: no line; ``-q``: no line; an image the registry does not have: ``Trying to
pull REF...`` then ``Error: initializing source docker://REF: reading manifest latest in
NAME: manifest unknown: ...``, exit 125, and no container (``create`` alike).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod

LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TRYING = "Trying to pull "
Pypod = Callable[..., Any]


@pytest.fixture
def pypod(tmp_path: Path, runtime_options: dict[str, Any], registries_conf: str) -> Pypod:
    """``pypod(*args)`` on this test's store, its registries.conf (the test registries,
    insecure) and an accept-all signature policy (never the host's)."""
    import tomli_w

    need_binary("runc")
    need_binary("conmon")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    config = tmp_path / "pull.conf"
    config.write_text(tomli_w.dumps({**runtime_options, "registries_conf": registries_conf,
                                     "signature_policy": str(policy)}))

    def call(*args: str) -> Any:
        return run_pypod("--config", str(config), *args)

    return call


def push_busybox(registry: Any, repo: str, busybox_tar: str, greeting: str) -> str:
    """Push busybox plus a layer with ``/greeting`` as ``repo:latest``, its Cmd printing
    it; the reference."""
    extra = io.BytesIO()
    with tarfile.open(fileobj=extra, mode="w") as tar:
        data = f"{greeting}\n".encode()
        info = tarfile.TarInfo("greeting")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    with open(busybox_tar, "rb") as f:
        tars = [f.read(), extra.getvalue()]
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["cat", "/greeting"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in tars]},
    }).encode()
    blobs = [(gzip.compress(t, compresslevel=1, mtime=0), LAYER_GZIP) for t in tars]
    registry.push_image(repo, "latest", blobs, config)
    return f"{registry.host}/{repo}:latest"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_missing_pulls_an_absent_image_then_runs_it(pypod, registry, busybox_tar):
    ref = push_busybox(registry, "run/missing", busybox_tar, "first")
    result = pypod("run", "--rm", "--network", "none", ref)
    assert (result.returncode, result.stdout) == (0, "first\n"), result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"{TRYING}{ref}..."
    assert lines[1:2] == ["Getting image source signatures"]
    assert "Writing manifest to image destination" in lines
    assert lines[-1] == "Storing signatures"
    again = pypod("run", "--rm", "--network", "none", ref)  # present: no pull
    assert (again.returncode, again.stdout, again.stderr) == (0, "first\n", "")
    shown = pypod("ps", "-a", "--format", "{{.Image}}")
    assert shown.stdout == ""  # --rm: both gone
    assert pypod("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == f"{ref}\n"


def test_always_pulls_and_newer_pulls_what_changed(pypod, registry, busybox_tar):
    ref = push_busybox(registry, "run/changing", busybox_tar, "first")
    assert pypod("pull", "-q", ref).returncode == 0
    always = pypod("run", "--rm", "--pull=always", "--network", "none", ref)
    assert always.returncode == 0 and always.stdout == "first\n"
    assert always.stderr.startswith(f"{TRYING}{ref}...\n")
    same = pypod("run", "--rm", "--pull", "newer", "--network", "none", ref)
    assert (same.returncode, same.stdout, same.stderr) == (0, "first\n", "")
    push_busybox(registry, "run/changing", busybox_tar, "second")  # the tag moves
    stale = pypod("run", "--rm", "--network", "none", ref)  # missing: the local one
    assert (stale.stdout, stale.stderr) == ("first\n", "")
    newer = pypod("run", "--rm", "--pull=newer", "--network", "none", ref)
    assert newer.returncode == 0 and newer.stdout == "second\n"
    assert newer.stderr.startswith(f"{TRYING}{ref}...\n")
    quiet = pypod("run", "--rm", "-q", "--pull=always", "--network", "none", ref)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "second\n", "")


def test_an_image_the_registry_lacks_is_podmans_error_and_no_container(pypod, registry):
    ref = f"{registry.host}/run/nothere:latest"
    for verb in ("run", "create"):
        result = pypod(verb, "--network", "none", ref)
        assert result.returncode == 125
        first, second = result.stderr.splitlines()
        assert first == f"{TRYING}{ref}..."
        assert second.startswith(f"Error: initializing source docker://{ref}: reading "
                                 f"manifest latest in {registry.host}/run/nothere: "
                                 "manifest unknown")
    assert pypod("ps", "-aq").stdout == ""
    never = pypod("create", "--pull=never", ref)
    assert (never.returncode, never.stderr) == (125, f"Error: {ref}: image not known\n")
