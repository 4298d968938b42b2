"""The engine's pull (``runtime.pull_image``) against the real docker-registry, into the
real overlay graph driver: names and digests as podman records them, short names,
platforms, auth, the signature policy, digests checked, crash safety and concurrency,
the pull policies, and images other tools (skopeo, podman) pushed.

A small http.server fake (fake_registry.py) serves only what the real registry cannot
be made to do here: a blob whose bytes do not match its digest, and a registry that
goes away.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_registry import FakeRegistry, serve
from registry_helpers import (
    LAYER_GZIP,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    image_config,
    make_tar,
)

from conftest import make_layer, need_binary
from pypod_core.errors import (
    BlobDigestError,
    ImageError,
    ImageStoreError,
    InvalidArgError,
    NoSuchImageError,
    PolicyError,
    RegistryAuthError,
    ShortNameError,
)
from pypod_core.model import PullStep
from pypod_core.plugin import hookimpl
from pypod_core.plugin.image_transport import Platform

ACCEPT = {"default": [{"type": "insecureAcceptAnything"}]}
REJECT = {"default": [{"type": "reject"}]}


@pytest.fixture
def accept_policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(ACCEPT))
    return str(path)


@pytest.fixture
def options(runtime_options: dict[str, Any], registries_conf: str,
            accept_policy: str) -> dict[str, Any]:
    """The runtime's config: the test's directories, its registries.conf and an
    accept-all policy (never the host's)."""
    return {**runtime_options, "config_path": os.devnull, "state_type": "sqlite",
            "registries_conf": registries_conf, "signature_policy": accept_policy}


@pytest.fixture
def rt(make_runtime: Any, options: dict[str, Any]) -> Any:
    return make_runtime(**options)


def push(registry: Any, repo: str, layers: list[bytes], tag: str = "latest",
         arch: str = "amd64", **labels: str) -> tuple[str, bytes]:
    """Push uncompressed ``layers`` gzip'd as one image; (manifest digest, config)."""
    blobs = [(gzipped(tar), LAYER_GZIP) for tar in layers]
    config = image_config([digest_of(tar) for tar in layers], arch, **labels)
    digest, _ = registry.push_image(repo, tag, blobs, config)
    return digest, config


def gzipped(tar: bytes) -> bytes:
    """The gzip blob :func:`push` makes of ``tar`` (the same bytes every time)."""
    return gzip.compress(tar, compresslevel=1, mtime=0)


def small_layers(name: str) -> list[bytes]:
    return [make_tar({"etc/base": f"{name} base\n".encode()}),
            make_tar({f"srv/{name}": os.urandom(4096)})]


def image_id(config: bytes) -> str:
    return digest_of(config).removeprefix("sha256:")


@contextlib.contextmanager
def mounted(rt: Any, image: Any) -> Iterator[Path]:
    """The image's files: a rootfs of a test container over its top layer, mounted."""
    ctr = "test-" + image.id[:12] + f"-{random.randrange(1 << 30)}"
    rt.graph_driver.create_rootfs(ctr, image.top_layer)
    try:
        yield Path(rt.graph_driver.mount(ctr))
    finally:
        rt.graph_driver.remove_rootfs(ctr)


def events_of(rt: Any, ref: str, **kwargs: Any) -> tuple[Any, list[Any]]:
    events: list[Any] = []
    image = rt.pull_image(ref, progress=events.append, **kwargs)
    return image, events


# -- names and digests -----------------------------------------------------------------


def test_pull_by_tag_records_the_qualified_name_and_applies_the_layers(rt, registry,
                                                                      busybox_tar):
    with open(busybox_tar, "rb") as f:
        base = f.read()
    top = make_tar({"etc/motd": b"pulled\n"})
    digest, config = push(registry, "pull/busybox", [base, top])
    image = rt.pull_image(f"{registry.host}/pull/busybox")
    assert image.id == image_id(config)
    assert image.names == (f"{registry.host}/pull/busybox:latest",)
    assert image.digest == digest and image.digests == (digest,)
    assert image.manifest_type == OCI_MANIFEST
    assert [layer.diff_id for layer in image.layers] == [digest_of(base), digest_of(top)]
    assert image.size == sum(layer.diff_size for layer in image.layers) >= len(base)
    assert image.run_config == {"Cmd": ["sh"], "Labels": {"arch": "amd64"}}
    assert rt.get_image("pull/busybox").id == image.id
    assert rt.image_store.read_blob(digest) and rt.image_store.read_blob("sha256:" + image.id)
    with mounted(rt, image) as root:
        assert (root / "etc/motd").read_text() == "pulled\n"
        assert os.access(root / "bin/busybox", os.X_OK)


def test_pull_by_digest_has_no_tag_and_is_found_by_name_at_digest(rt, registry):
    digest, config = push(registry, "pull/bydigest", small_layers("d"))
    image = rt.pull_image(f"docker://{registry.host}/pull/bydigest@{digest}")
    assert image.id == image_id(config)
    assert image.names == (f"{registry.host}/pull/bydigest@{digest}",)
    assert not any(":" in name.rpartition("/")[2].partition("@")[0] for name in image.names)
    assert digest in image.digests
    assert rt.get_image(f"{registry.host}/pull/bydigest@{digest}").id == image.id
    # Then by tag: the same image gains the tag.
    again = rt.pull_image(f"{registry.host}/pull/bydigest:latest")
    assert again.id == image.id and f"{registry.host}/pull/bydigest:latest" in again.names


def test_a_short_name_through_the_search_registry(rt, registry):
    _, config = push(registry, "pull/shorty", small_layers("s"))
    image, events = events_of(rt, "pull/shorty")
    assert image.id == image_id(config)
    assert image.names == (f"{registry.host}/pull/shorty:latest",)
    assert [e.reference for e in events if e.step == PullStep.TRYING] == [image.names[0]]


def _conf(tmp_path: Path, search: list[str], *insecure: str, mode: str = "permissive") -> str:
    path = tmp_path / "search.conf"
    lines = [f"unqualified-search-registries = {json.dumps(search)}",
             f'short-name-mode = "{mode}"']
    lines += [f'[[registry]]\nlocation = "{host}"\ninsecure = true' for host in insecure]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_candidate_that_fails_tries_the_next(make_runtime, options, registry,
                                               auth_registry, tmp_path):
    _, config = push(registry, "pull/second", small_layers("2"))
    conf = _conf(tmp_path, [auth_registry.host, registry.host], auth_registry.host,
                 registry.host)
    rt = make_runtime(**{**options, "registries_conf": conf})
    image, events = events_of(rt, "pull/second")
    assert image.id == image_id(config)
    assert [e.reference for e in events if e.step == PullStep.TRYING] == [
        f"{auth_registry.host}/pull/second:latest", f"{registry.host}/pull/second:latest"]


def test_when_every_candidate_fails_the_error_names_each(make_runtime, options, registry,
                                                         tmp_path):
    conf = _conf(tmp_path, ["127.0.0.1:1", registry.host], "127.0.0.1:1", registry.host)
    rt = make_runtime(**{**options, "registries_conf": conf})
    with pytest.raises(ImageError) as info:
        rt.pull_image("pull/nowhere")
    text = str(info.value)
    assert text.startswith("2 errors occurred while pulling:") and "\n" not in text
    assert "initializing source docker://127.0.0.1:1/pull/nowhere:latest: " in text
    assert f"initializing source docker://{registry.host}/pull/nowhere:latest: " in text
    assert "manifest unknown" in text or "name unknown" in text
    # Both candidates lacked the image: the class says so.
    conf = _conf(tmp_path, [registry.host, registry.host], registry.host)
    rt = make_runtime(**{**options, "registries_conf": conf})
    with pytest.raises(NoSuchImageError, match="2 errors occurred"):
        rt.pull_image("pull/nowhere")
    assert rt.images() == []


def test_enforcing_mode_with_several_candidates_needs_a_choice(make_runtime, options,
                                                               registry, tmp_path):
    _, config = push(registry, "pull/chosen", small_layers("c"))
    conf = _conf(tmp_path, ["127.0.0.1:1", registry.host], registry.host, mode="enforcing")
    rt = make_runtime(**{**options, "registries_conf": conf})
    with pytest.raises(ShortNameError, match="without a TTY"):
        rt.pull_image("pull/chosen")
    with pytest.raises(ShortNameError, match="choose="):
        rt.pull_image("pull/chosen", tty=True)
    offered: list[Any] = []

    def choose(candidates: Any) -> str:
        offered.extend(candidates)
        return candidates[1]

    assert rt.pull_image("pull/chosen", tty=True, choose=choose).id == image_id(config)
    assert offered == ["127.0.0.1:1/pull/chosen:latest",
                       f"{registry.host}/pull/chosen:latest"]


# -- platforms -------------------------------------------------------------------------


def test_an_index_gives_the_host_platform_or_the_one_asked_for(rt, registry):
    entries, configs = [], {}
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        layers = [make_tar({"etc/arch": arch.encode()})]
        digest, config = push(registry, "pull/multiarch", layers, tag=arch, arch=arch)
        raw = registry.request("GET", f"/v2/pull/multiarch/manifests/{arch}",
                               headers={"Accept": OCI_MANIFEST})
        assert raw.status == 200
        configs[arch] = config
        platform = {"os": "linux", "architecture": arch, **({"variant": variant}
                                                            if variant else {})}
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest,
                        "size": int(raw.getheader("Content-Length")), "platform": platform})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": entries}).encode()
    index_digest = registry.push_manifest("pull/multiarch", "latest", index, OCI_INDEX)
    name = f"{registry.host}/pull/multiarch"

    host = rt.pull_image(name)
    assert host.config["architecture"] == Platform.host().architecture == "amd64"
    assert host.id == image_id(configs["amd64"])
    assert host.digests == (entries[0]["digest"], index_digest)
    assert rt.get_image(f"{name}@{index_digest}").id == host.id
    assert rt.image_store.read_blob(index_digest) == index

    arm = rt.pull_image(name, platform="linux/arm64")
    assert arm.id == image_id(configs["arm64"]) and arm.config["architecture"] == "arm64"
    assert arm.names == (f"{name}:latest",)
    assert rt.get_image(host.id).names == ()  # the tag moved to the image pulled last
    assert rt.get_image(f"{name}@{index_digest}").id == arm.id
    with mounted(rt, arm) as root:
        assert (root / "etc/arch").read_text() == "arm64"
    again = rt.pull_image(name, platform=Platform("linux", "amd64"))
    assert again.id == host.id
    with pytest.raises(InvalidArgError, match="OS/ARCH"):
        rt.pull_image(name, platform="arm64")


# -- auth ------------------------------------------------------------------------------


def test_auth_with_creds_an_auth_file_and_wrong_or_no_credentials(rt, auth_registry,
                                                                  tmp_path):
    import base64

    _, config = push(auth_registry, "pull/private", small_layers("p"))
    ref = f"{auth_registry.host}/pull/private"
    with pytest.raises(RegistryAuthError) as info:
        rt.pull_image(ref)
    assert "\n" not in str(info.value) and str(info.value).startswith(
        f"initializing source docker://{ref}:latest: ")
    with pytest.raises(RegistryAuthError):
        rt.pull_image(ref, creds=f"{auth_registry.user}:wrong")
    assert rt.images() == []
    creds = f"{auth_registry.user}:{auth_registry.password}"
    assert rt.pull_image(ref, creds=creds).id == image_id(config)
    rt.remove_image(ref)
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {auth_registry.host: {
        "auth": base64.b64encode(creds.encode()).decode()}}}))
    assert rt.pull_image(ref, authfile=str(authfile)).id == image_id(config)
    with pytest.raises(InvalidArgError, match="credential file is not accessible"):
        rt.pull_image(ref, authfile=str(tmp_path / "missing.json"))


# -- policy and digests: nothing stored ------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with serve(FakeRegistry()) as registry:
        yield registry


def _fake_image(fake: FakeRegistry, repo: str = "fake/img") -> tuple[str, bytes, bytes]:
    tar = make_tar({"f": os.urandom(1000)})
    config = image_config([digest_of(tar)])
    fake.add_image(repo, "latest", [tar], config)
    return f"{fake.host}/{repo}:latest", tar, config


def _nothing_stored(rt: Any) -> None:
    assert rt.images() == []
    assert list(rt.graph_driver.layers()) == []
    blobs = Path(rt.image_store.blob_dir, "sha256")
    assert not blobs.exists() or list(blobs.iterdir()) == []


def test_a_rejecting_policy_refuses_before_any_blob(rt, fake, tmp_path):
    ref, _, _ = _fake_image(fake)
    reject = tmp_path / "reject.json"
    reject.write_text(json.dumps(REJECT))
    with pytest.raises(PolicyError, match=f"Running image docker://{ref} is rejected"):
        rt.pull_image(ref, tls_verify=False, signature_policy=str(reject))
    assert fake.requests == []
    _nothing_stored(rt)


def test_the_config_key_signature_policy_is_the_default(make_runtime, options, fake,
                                                        tmp_path):
    ref, _, _ = _fake_image(fake)
    reject = tmp_path / "reject.json"
    reject.write_text(json.dumps(REJECT))
    rt = make_runtime(**{**options, "signature_policy": str(reject)})
    with pytest.raises(PolicyError):
        rt.pull_image(ref, tls_verify=False)
    assert fake.requests == []


def test_a_blob_with_a_wrong_digest_is_refused_and_nothing_stored(rt, fake):
    ref, tar, _ = _fake_image(fake)
    fake.blobs[digest_of(tar)] = tar[:-1] + b"X"
    with pytest.raises(BlobDigestError, match=digest_of(tar)):
        rt.pull_image(ref, tls_verify=False)
    _nothing_stored(rt)


def test_a_layer_whose_diff_id_is_wrong_is_refused_naming_it(rt, registry):
    layer, other = make_tar({"a": b"a"}), make_tar({"b": b"b"})
    blob = gzip.compress(layer, mtime=0)
    config = image_config([digest_of(other)])  # lies about the layer's content
    registry.push_image("pull/liar", "latest", [(blob, LAYER_GZIP)], config)
    with pytest.raises(BlobDigestError, match=f"layer {digest_of(blob)}: diff ID"):
        rt.pull_image(f"{registry.host}/pull/liar")
    assert rt.images() == [] and list(rt.graph_driver.layers()) == []


def test_a_full_file_system_is_a_typed_error_and_leaves_no_record(make_runtime, options,
                                                                  registry, tmp_path):
    _, _ = push(registry, "pull/toobig", [make_tar({"big": os.urandom(3 << 20)})])
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
                   check=True)
    try:
        rt = make_runtime(**{**options, "graph_root": str(small / "root")})
        with pytest.raises(ImageStoreError, match="No space left on device") as info:
            rt.pull_image(f"{registry.host}/pull/toobig")
        assert "\n" not in str(info.value)
        assert rt.images() == [] and list(rt.graph_driver.layers()) == []
        assert list(Path(rt.image_store.blob_dir, "sha256").iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=True)


def test_the_dir_driver_stores_no_pulled_image(make_runtime, options, registry):
    push(registry, "pull/nodir", small_layers("n"))
    rt = make_runtime(**{**options, "graph_driver": "dir"})
    with pytest.raises(InvalidArgError, match='"dir" stores no images'):
        rt.pull_image(f"{registry.host}/pull/nodir")
    assert rt.images() == []


# -- crashes and races -----------------------------------------------------------------

PULL_SCRIPT = """
import json, os, signal, sys
from pypod_core.engine.runtime import new_runtime
rt = new_runtime(**json.loads(sys.argv[1]))
die_at, seen = int(sys.argv[3]), []

def progress(event):
    seen.append(event)
    if len(seen) == die_at:  # killed right there, with its extraction child if any
        os.killpg(0, signal.SIGKILL)

rt.pull_image(sys.argv[2], progress=progress)
print(len(seen))
"""


def _pull_in_child(options: dict[str, Any], ref: str, die_at: int = 0) -> subprocess.Popen:
    """A whole process pulling ``ref`` in a session of its own (so that a kill reaches
    its extraction child too), SIGKILLed at its ``die_at``-th PullEvent if not 0."""
    return subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, json.dumps(options), ref,
                             str(die_at)], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _push_layered(registry: Any, repo: str) -> tuple[str, bytes, list[bytes]]:
    layers = [make_tar({f"data/{i}": os.urandom(4 << 20), f"etc/layer{i}": b"%d" % i})
              for i in range(5)]
    _, config = push(registry, repo, layers)
    return f"{registry.host}/{repo}", config, layers


def _consistent(rt: Any) -> list[Any]:
    """The records, each naming only layers and blobs that are stored."""
    images = rt.images()
    for image in images:
        for layer in image.layers:
            assert rt.graph_driver.has_layer(layer.chain_id)
        assert rt.image_store.read_blob(image.digest)
    return images


def test_a_pull_killed_at_random_points_leaves_no_record_and_the_next_completes(
        rt, options, registry):
    """Killed at random events (mid-download, mid-apply, before the record) and after
    random delays: never a record naming something missing; the next pull completes."""
    ref, config, layers = _push_layered(registry, "pull/killed")
    # Whatever was stored before, a pull reports at least TRYING, SOURCE, BLOB and
    # BLOB_DONE per layer, CONFIG and MANIFEST before DONE: dying at one of those is
    # dying before the record is written.
    before_done = 2 + 2 * len(layers) + 2
    rng = random.Random()
    for die_at in rng.sample(range(1, before_done + 1), 6):
        child = _pull_in_child(options, ref, die_at)
        _, err = child.communicate(timeout=300)
        assert child.returncode == -signal.SIGKILL, err.decode()
        assert _consistent(rt) == [], f"killed at event {die_at}"
    for delay in (rng.uniform(0.1, 1.0), rng.uniform(0.1, 1.0)):
        child = _pull_in_child(options, ref)
        time.sleep(delay)
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        images = _consistent(rt)
        assert images == [] or [image.id for image in images] == [image_id(config)]
        if images:
            rt.remove_image(images[0].id)
    image = rt.pull_image(ref)
    assert image.id == image_id(config)
    with mounted(rt, image) as root:
        for i in range(len(layers)):
            assert (root / f"etc/layer{i}").read_text() == str(i)
    partials = [p for p in Path(rt.image_store.blob_dir, "sha256").iterdir()
                if ".partial-" in p.name]
    assert partials == []  # the killed pulls' partial downloads were cleaned up


def test_four_processes_pulling_one_image_store_it_once(rt, options, registry):
    ref, config, layers = _push_layered(registry, "pull/raced")
    rt.images()
    children = [_pull_in_child(options, ref) for _ in range(4)]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()
    [image] = _consistent(rt)
    assert image.id == image_id(config) and image.names == (f"{ref}:latest",)
    chains = sorted(layer.chain_id for layer in image.layers)
    assert sorted(layer.id for layer in rt.graph_driver.layers()) == chains
    assert os.listdir(os.path.join(rt.graph_driver.home, "tmp")) == []
    blobs = sorted(p.name for p in Path(rt.image_store.blob_dir, "sha256").iterdir())
    wanted = {image.digest, "sha256:" + image.id, *(x.digest for x in image.layers)}
    assert blobs == sorted(d.removeprefix("sha256:") for d in wanted)


# -- what is there already -------------------------------------------------------------


def test_an_image_already_present_skips_its_blobs_and_gains_the_name(rt, registry):
    layers = small_layers("again")
    _, config = push(registry, "pull/again", layers)
    push(registry, "pull/again", layers, tag="v2")
    first, events = events_of(rt, f"{registry.host}/pull/again")
    assert [e.skipped for e in events if e.step == PullStep.BLOB] == [False, False]
    second, events = events_of(rt, f"{registry.host}/pull/again:v2")
    blobs = [e for e in events if e.step == PullStep.BLOB]
    assert [e.skipped for e in blobs] == [True, True]
    assert not any(e.step == PullStep.BLOB_PROGRESS for e in events)
    assert second.id == first.id == image_id(config)
    assert second.names == (f"{registry.host}/pull/again:v2",
                            f"{registry.host}/pull/again:latest")
    assert len(rt.images()) == 1


def test_a_shared_base_layer_is_not_fetched_again(rt, registry):
    base = make_tar({"etc/shared": b"shared\n"})
    push(registry, "pull/one", [base, make_tar({"one": b"1"})])
    push(registry, "pull/two", [base, make_tar({"two": b"2"})])
    rt.pull_image(f"{registry.host}/pull/one")
    _, events = events_of(rt, f"{registry.host}/pull/two")
    assert [e.skipped for e in events if e.step == PullStep.BLOB] == [True, False]


def test_zstd_and_uncompressed_layers_are_applied(rt, registry):
    from registry_helpers import compress

    tars = [make_tar({"etc/zstd": b"z\n"}), make_tar({"etc/plain": b"p\n"})]
    blobs = [compress(tars[0], "zstd"), compress(tars[1], "none")]
    config = image_config([digest_of(tar) for tar in tars])
    registry.push_image("pull/mixed", "latest", blobs, config)
    image = rt.pull_image(f"{registry.host}/pull/mixed")
    assert [layer.media_type for layer in image.layers] == [kind for _, kind in blobs]
    with mounted(rt, image) as root:
        assert (root / "etc/zstd").read_text() == "z\n"
        assert (root / "etc/plain").read_text() == "p\n"
    assert Path(rt.image_store.blob_path(digest_of(tars[1]))).read_bytes() == tars[1]


def test_a_blob_already_in_the_store_is_checked_again_and_a_damaged_one_refetched(
        rt, registry):
    layers = small_layers("kept")
    _, config = push(registry, "pull/kept", layers)
    # As a killed pull leaves them: the blobs stored, no layer, no record; one damaged.
    good, bad = (digest_of(gzipped(tar)) for tar in layers)
    for blob in (good, bad):
        path = Path(rt.image_store.blob_path(blob))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Path(registry.blob_path(blob)).read_bytes())
    damaged = Path(rt.image_store.blob_path(bad))
    damaged.write_bytes(damaged.read_bytes()[:-3] + b"xyz")
    image, events = events_of(rt, f"{registry.host}/pull/kept")
    assert image.id == image_id(config)
    assert not [e for e in events if e.step == PullStep.BLOB_PROGRESS and e.digest == good]
    assert Path(rt.image_store.blob_path(bad)).read_bytes() == \
        Path(registry.blob_path(bad)).read_bytes()
    with mounted(rt, image) as root:
        assert (root / "etc/base").read_text() == "kept base\n"
        assert len((root / "srv/kept").read_bytes()) == 4096


def test_the_progress_events_come_in_podmans_order(rt, registry):
    digest, config = push(registry, "pull/events", small_layers("e"))
    image, events = events_of(rt, f"{registry.host}/pull/events")
    steps = [e.step for e in events if e.step != PullStep.BLOB_PROGRESS]
    assert steps[:2] == [PullStep.TRYING, PullStep.SOURCE]
    assert sorted(steps[2:6]) == sorted([PullStep.BLOB] * 2 + [PullStep.BLOB_DONE] * 2)
    assert steps[6:] == [PullStep.CONFIG, PullStep.MANIFEST, PullStep.DONE]
    assert events[1].digest == digest
    assert events[-3].digest == "sha256:" + image.id and events[-1].image_id == image.id
    for layer in image.layers:
        mine = [e for e in events if e.digest == layer.digest]
        assert mine[0].step == PullStep.BLOB and mine[0].total == layer.size
        assert mine[-1].step == PullStep.BLOB_DONE
        assert mine[-2].step == PullStep.BLOB_PROGRESS and mine[-2].done == layer.size


# -- pull policies ---------------------------------------------------------------------


def test_pull_policies_missing_newer_always_never(rt, registry):
    ref = f"{registry.host}/pull/policies"
    with pytest.raises(NoSuchImageError, match="image not known"):
        rt.pull_image(ref, policy="never")
    old_digest, old_config = push(registry, "pull/policies", small_layers("old"))
    old = rt.pull_image(ref, policy="missing")
    assert old.id == image_id(old_config)
    assert rt.pull_image(ref, policy="never").id == old.id
    _, events = events_of(rt, ref, policy="newer")  # the registry has the same digest
    assert [e.step for e in events] == []
    new_digest, new_config = push(registry, "pull/policies", small_layers("new"))
    image, events = events_of(rt, ref, policy="missing")
    assert image.id == old.id and events == []
    assert rt.pull_image("pull/policies", policy="missing").id == old.id
    newer = rt.pull_image(ref, policy="newer")
    assert newer.id == image_id(new_config) and newer.digest == new_digest
    image, events = events_of(rt, ref, policy="always")
    assert image.id == newer.id and events[0].step == PullStep.TRYING
    with pytest.raises(InvalidArgError, match="referred to by ID"):
        rt.pull_image(newer.id, policy="always")
    assert rt.pull_image(newer.id[:12], policy="missing").id == newer.id
    with pytest.raises(InvalidArgError, match="unknown pull policy 'sometimes'"):
        rt.pull_image(ref, policy="sometimes")


def test_newer_keeps_the_local_image_when_the_registry_is_gone(rt):
    with serve(FakeRegistry()) as fake:
        ref, _, config = _fake_image(fake)
        local = rt.pull_image(ref, tls_verify=False)
    assert rt.pull_image(ref, tls_verify=False, policy="newer").id == local.id
    with pytest.raises(ImageError, match="initializing source"):
        rt.pull_image(ref, tls_verify=False, policy="always")


def test_a_custom_platform_makes_missing_ask_the_registry(rt, fake):
    ref, _, _ = _fake_image(fake)
    local = rt.pull_image(ref, tls_verify=False)
    fake.requests.clear()
    assert rt.pull_image(ref, tls_verify=False, policy="missing").id == local.id
    assert fake.requests == []
    # The registry's manifest (not an index) is the one stored: nothing to pull.
    image = rt.pull_image(ref, tls_verify=False, policy="missing", platform="linux/amd64")
    assert image.id == local.id
    assert [path for path, _ in fake.requests] == ["/v2/fake/img/manifests/latest"]


# -- the event -------------------------------------------------------------------------


def test_pypod_image_pulled_fires_after_a_pull_that_stored(rt, registry):
    push(registry, "pull/hooked", small_layers("h"))
    seen: list[Any] = []
    plugin = types.ModuleType("image_pulled")

    @hookimpl
    def pypod_image_pulled(runtime: Any, image: Any) -> None:
        seen.append((runtime, image.id, image.names, runtime.image_exists(image.id)))

    plugin.pypod_image_pulled = pypod_image_pulled  # type: ignore[attr-defined]
    rt.plugins.register_module(plugin, "image_pulled")
    image = rt.pull_image(f"{registry.host}/pull/hooked")
    assert seen == [(rt, image.id, image.names, True)]
    rt.pull_image(f"{registry.host}/pull/hooked", policy="missing")
    rt.pull_image(f"{registry.host}/pull/hooked", policy="newer")
    assert len(seen) == 1
    rt.pull_image(f"{registry.host}/pull/hooked")
    assert len(seen) == 2


# -- images other tools pushed ---------------------------------------------------------


def _oci_layout(path: Path, layers: list[bytes], config: bytes) -> None:
    """Write an OCI image layout by hand: gzip layers, config, manifest, index."""
    blobs = path / "blobs/sha256"
    blobs.mkdir(parents=True)
    descs = []
    for tar in layers:
        blob = gzip.compress(tar, mtime=0)
        (blobs / digest_of(blob)[7:]).write_bytes(blob)
        descs.append({"mediaType": LAYER_GZIP, "digest": digest_of(blob),
                      "size": len(blob)})
    (blobs / digest_of(config)[7:]).write_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": descs}).encode()
    (blobs / digest_of(manifest)[7:]).write_bytes(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": digest_of(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))


def test_an_image_skopeo_copied_from_a_hand_written_layout(rt, registry, tmp_path):
    need_binary("skopeo", "skopeo")
    layers = [make_layer(tmp_path / "l0.tar", {"etc/keep": b"keep\n", "etc/gone": b"x\n",
                                               "opt/d/a": b"a\n"}),
              make_layer(tmp_path / "l1.tar", {"etc/gone": None, "opt/d/b": b"b\n",
                                               "usr/bin/tool": b"#!/bin/sh\n"})]
    tars = [Path(p).read_bytes() for p in layers]
    config = image_config([digest_of(t) for t in tars])
    _oci_layout(tmp_path / "layout", tars, config)
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false",
                    f"oci:{tmp_path / 'layout'}:latest",
                    f"docker://{registry.host}/pull/skopeo:1"], check=True)
    image = rt.pull_image(f"{registry.host}/pull/skopeo:1")
    assert image.id == image_id(config)
    with mounted(rt, image) as root:
        assert (root / "etc/keep").read_text() == "keep\n"
        assert not (root / "etc/gone").exists()
        assert sorted(os.listdir(root / "opt/d")) == ["a", "b"]
        assert (root / "usr/bin/tool").read_bytes() == b"#!/bin/sh\n"


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Debian's podman on a private store (vfs: no mounts to clean up) with a
    containers.conf of its own, as bench/bench_run.py writes it (runc); its runroot is
    short, as podman wants.  (The command, its environment.)"""
    need_binary("podman", "podman")
    run = tempfile.mkdtemp(prefix="pp-")
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    command = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run,
               "--storage-driver", "vfs"]
    try:
        yield command, env
    finally:
        subprocess.run([*command, "rmi", "-a", "-f"], capture_output=True, env=env)
        subprocess.run(["rm", "-rf", run], check=False)


def test_an_image_podman_pushed_pulls_with_podmans_image_id(rt, registry, podman,
                                                            busybox_tar):
    command, env = podman
    name = f"{registry.host}/pull/podman:latest"
    for args in (["import", "--change", "CMD=[\"/bin/sh\"]", "--change", "ENV=GREETING=hi",
                  busybox_tar, name], ["push", "-q", "--tls-verify=false", name]):
        done = subprocess.run([*command, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
    theirs = subprocess.run([*command, "images", "--no-trunc", "--format", "{{.Id}}", name],
                            check=True, capture_output=True, text=True, env=env).stdout
    image = rt.pull_image(name)
    assert image.id == theirs.strip().removeprefix("sha256:")
    assert image.run_config["Cmd"] == ["/bin/sh"]
    assert "GREETING=hi" in image.run_config["Env"]
    with mounted(rt, image) as root:
        assert os.access(root / "bin/busybox", os.X_OK)
