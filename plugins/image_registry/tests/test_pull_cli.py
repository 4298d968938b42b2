"""``pypod pull`` as a user runs it: the real ``pypod`` against the real docker-registry
on 127.0.0.1, into the real graph driver.  podman 4.3.1's lines, checked against it on
the same registry: ``Trying to pull REF...``, ``Getting image source signatures``,
``Copying blob DIGEST`` (full digests off a terminal, and no ``skipped`` note there),
``Copying config DIGEST``, ``Writing manifest to image destination``, ``Storing
signatures``, the id on stdout; on a terminal, a bar per blob ending ``done`` or
``skipped: already exists``; errors exit 125."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import pty
import subprocess
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import (
    LAYER_GZIP,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    image_config,
    make_tar,
)

from conftest import PYPOD, need_binary, run_pypod

ACCEPT = {"default": [{"type": "insecureAcceptAnything"}]}


@pytest.fixture
def flags(tmp_path: Path, runtime_options: dict[str, Any], registries_conf: str) -> list[str]:
    """``--config`` for this test's store, its registries.conf and an accept-all
    policy (never the host's)."""
    import tomli_w

    need_binary("runc")
    need_binary("conmon")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(ACCEPT))
    config = tmp_path / "pull.conf"
    config.write_text(tomli_w.dumps({**runtime_options, "registries_conf": registries_conf,
                                     "signature_policy": str(policy)}))
    return ["--config", str(config)]


def push(registry: Any, repo: str, files: dict[str, bytes], tag: str = "latest",
         arch: str = "amd64") -> tuple[str, str, str]:
    """Push a one-layer image; (manifest digest, layer blob digest, config digest)."""
    tar = make_tar(files)
    blob = gzip.compress(tar, compresslevel=1, mtime=0)
    config = image_config([digest_of(tar)], arch)
    digest, _ = registry.push_image(repo, tag, [(blob, LAYER_GZIP)], config)
    return digest, digest_of(blob), digest_of(config)


def test_pull_prints_podmans_lines_and_the_id(flags, registry) -> None:
    _, blob, config = push(registry, "cli/one", {"etc/one": b"1\n"})
    ref = f"{registry.host}/cli/one"
    result = run_pypod(*flags, "pull", ref)
    assert result.returncode == 0, result.stderr
    assert result.stdout == config.removeprefix("sha256:") + "\n"
    assert result.stderr == (f"Trying to pull {ref}:latest...\n"
                             "Getting image source signatures\n"
                             f"Copying blob {blob}\n"
                             f"Copying config {config}\n"
                             "Writing manifest to image destination\n"
                             "Storing signatures\n")
    again = run_pypod(*flags, "pull", ref)  # the layer is stored: podman says the same
    assert (again.stdout, again.stderr) == (result.stdout, result.stderr)
    quiet = run_pypod(*flags, "image", "pull", "-q", ref)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, result.stdout, "")
    listed = run_pypod(*flags, "images", "--format", "{{.Repository}}:{{.Tag}} {{.Id}}")
    assert listed.stdout == f"{ref}:latest {config.removeprefix('sha256:')}\n"


def test_pull_of_several_images_prints_each_id(flags, registry) -> None:
    ids = [push(registry, f"cli/many{i}", {f"etc/{i}": b"x"})[2].removeprefix("sha256:")
           for i in range(2)]
    result = run_pypod(*flags, "pull", "-q", *[f"{registry.host}/cli/many{i}"
                                               for i in range(2)])
    assert (result.returncode, result.stdout.split()) == (0, ids), result.stderr


def test_pull_errors_exit_125_with_one_line(flags, registry) -> None:
    """podman's ``initializing source docker://REF: ...``; ``--tls-verify=true``
    against a plain-http registry fails (registries.conf says it is insecure)."""
    push(registry, "cli/tls", {"etc/t": b"t"})
    missing = run_pypod(*flags, "pull", f"{registry.host}/cli/nothere")
    assert missing.returncode == 125 and missing.stdout == ""
    error = missing.stderr.splitlines()[-1]
    assert error.startswith(f"Error: initializing source docker://{registry.host}/cli/"
                            f"nothere:latest: "), error
    assert "manifest unknown" in error
    tls = run_pypod(*flags, "pull", "--tls-verify=true", f"{registry.host}/cli/tls")
    assert tls.returncode == 125 and tls.stdout == ""
    assert tls.stderr.splitlines()[-1].startswith("Error: ")
    assert run_pypod(*flags, "pull", "--tls-verify=false",
                     f"{registry.host}/cli/tls").returncode == 0


def test_pull_credentials_from_creds_or_an_auth_file(flags, auth_registry,
                                                     tmp_path: Path) -> None:
    _, _, config = push(auth_registry, "cli/private", {"etc/p": b"p"})
    ref = f"{auth_registry.host}/cli/private"
    denied = run_pypod(*flags, "pull", "-q", ref)
    assert denied.returncode == 125 and denied.stderr.startswith("Error: ")
    creds = f"{auth_registry.user}:{auth_registry.password}"
    ok = run_pypod(*flags, "pull", "-q", "--creds", creds, ref)
    assert (ok.returncode, ok.stdout) == (0, config.removeprefix("sha256:") + "\n"), ok.stderr
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {auth_registry.host: {
        "auth": base64.b64encode(creds.encode()).decode()}}}))
    run_pypod(*flags, "rmi", "-a")
    ok = run_pypod(*flags, "pull", "-q", "--authfile", str(authfile), ref)
    assert ok.returncode == 0, ok.stderr


def test_pull_chooses_the_platform_asked_for_from_an_index(flags, registry) -> None:
    entries = []
    for arch in ("amd64", "arm64"):
        digest, _, _ = push(registry, "cli/multi", {"etc/arch": arch.encode()}, tag=arch,
                            arch=arch)
        raw = registry.request("GET", f"/v2/cli/multi/manifests/{arch}",
                               headers={"Accept": OCI_MANIFEST})
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest,
                        "size": int(raw.getheader("Content-Length")),
                        "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": entries}).encode()
    registry.push_manifest("cli/multi", "latest", index, OCI_INDEX)
    ref = f"{registry.host}/cli/multi"
    for flag in (["--arch", "arm64"], ["--platform", "linux/arm64"],
                 ["--os", "linux", "--arch", "arm64"]):
        result = run_pypod(*flags, "pull", "-q", *flag, ref)
        assert result.returncode == 0, result.stderr
        arch = run_pypod(*flags, "image", "inspect", "--format", "{{.Architecture}}", ref)
        assert arch.stdout == "arm64\n", flag
    assert run_pypod(*flags, "pull", "-q", ref).returncode == 0
    arch = run_pypod(*flags, "image", "inspect", "--format", "{{.Architecture}}", ref)
    assert arch.stdout == "amd64\n"


def test_pull_draws_bars_on_a_terminal(flags, registry) -> None:
    """stderr a terminal: bars redrawn in place, each blob ending ``done`` (or
    ``skipped: already exists`` when the store has its layer); short digests."""
    _, blob, config = push(registry, "cli/bars", {"etc/big": os.urandom(300_000)})
    ref = f"{registry.host}/cli/bars"

    def on_terminal() -> str:
        master, slave = pty.openpty()
        proc = subprocess.Popen([PYPOD, *flags, "pull", ref], stdout=subprocess.PIPE,
                                stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        out = io.BytesIO()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out.write(chunk)
        stdout, _ = proc.communicate(timeout=120)
        os.close(master)
        assert proc.returncode == 0 and stdout.decode().strip() == \
            config.removeprefix("sha256:")
        return out.getvalue().decode().replace("\r\n", "\n")

    first = on_terminal()
    short = blob.removeprefix("sha256:")[:12]
    assert first.startswith(f"Trying to pull {ref}:latest...\nGetting image source "
                            f"signatures\n")
    assert f"\x1b[KCopying blob {short} done\n" in first
    assert f"\x1b[KCopying config {config.removeprefix('sha256:')[:10]} done\n" in first
    assert first.endswith("Writing manifest to image destination\nStoring signatures\n")
    assert f"Copying blob {short} skipped: already exists\n" in on_terminal()
