"""``inspect --format`` sees podman's Go field names: the JSON's ``Id`` is ``{{.ID}}``
for images and containers alike (scripts write ``inspect --format '{{.ID}}' X``), and a
container shows its image's ``ImageDigest``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from conftest import need_binary, run_pypod
from pypod_core.cli.images import go_fields


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_id_field_for_images_and_containers(cli_flags: list[str],
                                            make_runtime: Callable[..., Any],
                                            busybox_tar: str, rootfs: str) -> None:
    need_binary("runc")
    image = make_runtime().import_image([busybox_tar], {}, names=["busybox"])
    out = _ok(run_pypod(*cli_flags, "image", "inspect", "--format", "{{.ID}} {{.Id}}",
                        "busybox"))
    assert out == f"{image.id} {image.id}\n"
    out = _ok(run_pypod(*cli_flags, "inspect", "--format", "{{.ID}} {{.Digest}}", "busybox"))
    assert out == f"{image.id} {image.digest}\n"
    cid = _ok(run_pypod(*cli_flags, "create", "--network", "none", "--rootfs", rootfs,
                        "true")).strip()
    assert _ok(run_pypod(*cli_flags, "inspect", "--format", "{{.ID}} [{{.ImageDigest}}]",
                         cid)) == cid + " []\n"
    assert _ok(run_pypod(*cli_flags, "rm", cid)) == cid + "\n"
    # A container of an image: its id and manifest digest, as podman's.
    cid = _ok(run_pypod(*cli_flags, "create", "--network", "none", "busybox", "true")).strip()
    out = _ok(run_pypod(*cli_flags, "container", "inspect", "--format",
                        "{{.ImageName}} {{.Image}} {{.ImageDigest}}", cid))
    assert out == f"localhost/busybox:latest {image.id} {image.digest}\n"


def test_go_fields_leaves_the_json_alone() -> None:
    doc = {"Id": "abc", "Name": "n"}
    assert go_fields(doc) == {"Id": "abc", "ID": "abc", "Name": "n"} and "ID" not in doc
    assert go_fields({"Name": "n"}) == {"Name": "n"}
