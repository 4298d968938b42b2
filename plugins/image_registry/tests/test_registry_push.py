"""The docker transport's destination (a push) against Debian's docker-registry: an image
pulled into pypod's store is written blob by blob to another repository (mounted from
the one it came from), to a registry with basic auth (uploaded, monolithic and
chunked), then pulled and run by podman and inspected by skopeo with equal digests; an
interrupted push leaves the registry without the image and the store intact, and a
second push completes.

The copy from the store to the destination is the tests' own few lines (the engine's
copy is not this module's subject)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import LAYER_GZIP, digest_of, make_tar

from conftest import REGISTRY_PASSWORD, REGISTRY_USER, need_binary
from pypod_core.errors import BlobDigestError, ImageFormatError, RegistryUnauthorizedError
from pypod_core.host import auth
from pypod_core.plugin.image_transport import (
    BlobDescriptor,
    Manifest,
    PushOptions,
    parse_image_manifest,
)

ACCEPT = {"default": [{"type": "insecureAcceptAnything"}]}


class Interrupted(Exception):
    """What the tests' progress callable raises to stop a push midway."""


@pytest.fixture
def rt(make_runtime: Any, runtime_options: dict[str, Any], registries_conf: str,
       tmp_path: Path) -> Any:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(ACCEPT))
    return make_runtime(**runtime_options, state_type="sqlite",
                        registries_conf=registries_conf, signature_policy=str(policy))


@pytest.fixture
def stored(rt: Any, registry: Any, busybox_tar: str) -> Any:
    """An image in pypod's store, pulled from ``push/src`` of the anonymous registry:
    busybox and a second layer with /etc/motd and 256 KiB of random bytes."""
    import gzip

    with open(busybox_tar, "rb") as f:
        base = f.read()
    top = make_tar({"etc/motd": b"pushed by pypod\n", "srv/noise": os.urandom(256 << 10)})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"], "Env": ["GREETING=hi"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [digest_of(base), digest_of(top)]}}).encode()
    blobs = [(gzip.compress(tar, compresslevel=1, mtime=0), LAYER_GZIP) for tar in (base, top)]
    repo = f"push/src-{os.urandom(3).hex()}"
    registry.push_image(repo, "latest", blobs, config)
    return rt.pull_image(f"{registry.host}/{repo}")


def transport(rt: Any) -> Any:
    backend, _ = rt.plugins.transport_for("docker://x/y")
    return backend.factory(rt)


def manifest_of(rt: Any, image: Any) -> Manifest:
    return Manifest(rt.image_store.read_blob(image.digest), image.manifest_type, image.digest)


def copy(rt: Any, image: Any, dest: Any, progress: Any = None) -> None:
    """Each blob the destination lacks (layers, then the config), then the manifest."""
    manifest = manifest_of(rt, image)
    config, layers = parse_image_manifest(manifest)
    for blob in [*layers, config]:
        if not dest.has_blob(blob):
            with open(rt.image_store.blob_path(blob.digest), "rb") as f:
                dest.put_blob(blob, f, progress=progress)
    dest.put_manifest(manifest)
    dest.commit()


def push(rt: Any, image: Any, reference: str, *, progress: Any = None,
         chunk: int = 0, **options: Any) -> Any:
    with transport(rt).open_destination(reference, PushOptions(**options)) as dest:
        if chunk:
            dest.chunked_above, dest.chunk_size = 0, chunk
        copy(rt, image, dest, progress)
        return dest


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Debian's podman on a private store (vfs) with a containers.conf of its own (runc;
    ulimits within the host's, as bench/bench_run.py writes it)."""
    import resource

    need_binary("podman", "podman")
    run = tempfile.mkdtemp(prefix="pp-")
    nofile = min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    conf = tmp_path / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", '
                    f'"nproc={nproc}:{nproc}"]\n[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    command = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run,
               "--storage-driver", "vfs"]
    try:
        yield command, env
    finally:
        subprocess.run([*command, "rmi", "-a", "-f"], capture_output=True, env=env)
        subprocess.run(["rm", "-rf", run], check=False)


def podman_pull_and_run(podman: tuple[list[str], dict[str, str]], name: str,
                        *auth_args: str) -> tuple[str, str]:
    """podman pulls ``name`` and runs ``cat /etc/motd`` in it: (its digest, output)."""
    command, env = podman
    pulled = subprocess.run([*command, "pull", "-q", "--tls-verify=false", *auth_args, name],
                            capture_output=True, text=True, env=env)
    assert pulled.returncode == 0, pulled.stderr
    digest = subprocess.run([*command, "image", "inspect", "--format", "{{.Digest}}", name],
                            capture_output=True, text=True, env=env, check=True).stdout
    ran = subprocess.run([*command, "run", "--rm", "--network", "none", name, "cat",
                          "/etc/motd"], capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr
    return digest.strip(), ran.stdout


def skopeo_inspect(name: str, *args: str) -> dict[str, Any]:
    need_binary("skopeo", "skopeo")
    done = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *args,
                           f"docker://{name}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- to the registry the image came from: mounts ------------------------------------------


def test_push_to_another_repository_mounts_the_blobs_and_podman_runs_it(rt, registry,
                                                                        stored, podman):
    name = f"{registry.host}/push/mounted:1"
    dest = push(rt, stored, name)
    assert set(dest.outcomes.values()) == {"mounted"}, dest.outcomes
    assert dest.manifest_digest == stored.digest
    digest, out = podman_pull_and_run(podman, name)
    assert digest == stored.digest and out == "pushed by pypod\n"
    assert skopeo_inspect(name)["Digest"] == stored.digest


def test_blob_locations_outlive_the_process(rt, registry, stored):
    """The pull's locations were saved; a fresh transport object mounts from them."""
    path = Path(rt.config.graph_root) / "cache" / "blob-locations.json"
    known = json.loads(path.read_text())["blobs"]
    assert all(any(p.startswith(registry.host + "/push/src") for p in known[layer.digest])
               for layer in stored.layers)
    dest = push(rt, stored, f"{registry.host}/push/again")
    assert set(dest.outcomes.values()) == {"mounted"}


def test_a_second_push_finds_every_blob_present(rt, registry, stored):
    name = f"{registry.host}/push/twice"
    push(rt, stored, name)
    again = push(rt, stored, name + ":2")
    assert set(again.outcomes.values()) == {"present"}
    assert skopeo_inspect(name + ":2")["Digest"] == stored.digest


def test_push_by_digest(rt, registry, stored):
    name = f"{registry.host}/push/bydigest@{stored.digest}"
    push(rt, stored, name)
    # --raw: the manifest alone (the repository has no tag to list).
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{name}"], capture_output=True, check=True).stdout
    assert digest_of(raw) == stored.digest
    wrong = f"{registry.host}/push/bydigest@sha256:{'0' * 64}"
    with pytest.raises(ImageFormatError, match="the manifest's digest is"):
        push(rt, stored, wrong)


# -- to a registry with basic auth: uploads ------------------------------------------------


def test_push_with_credentials_uploads_and_podman_runs_it(rt, auth_registry, stored,
                                                          podman, tmp_path):
    authfile = str(tmp_path / "auth.json")
    auth.store(auth_registry.host, auth.Credentials(REGISTRY_USER, REGISTRY_PASSWORD),
               authfile)
    name = f"{auth_registry.host}/push/uploaded:1"
    dest = push(rt, stored, name, authfile=authfile)
    assert set(dest.outcomes.values()) == {"monolithic"}, dest.outcomes
    for layer in stored.layers:
        blob = Path(auth_registry.blob_path(layer.digest)).read_bytes()
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer.digest
    creds = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    digest, out = podman_pull_and_run(podman, name, "--creds", creds)
    assert digest == stored.digest and out == "pushed by pypod\n"
    assert skopeo_inspect(name, "--creds", creds)["Digest"] == stored.digest


def test_push_without_credentials_is_refused_in_one_line(rt, auth_registry, stored):
    with pytest.raises(RegistryUnauthorizedError) as info:
        push(rt, stored, f"{auth_registry.host}/push/anonymous", authfile="/nonexistent")
    assert "\n" not in str(info.value)
    assert "authentication required" in str(info.value) and "--creds" in str(info.value)


def test_chunked_upload(rt, auth_registry, stored):
    name = f"{auth_registry.host}/push/chunked"
    creds = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    seen: list[int] = []
    dest = push(rt, stored, name, creds=creds, chunk=64 << 10, progress=seen.append)
    assert set(dest.outcomes.values()) == {"chunked"}
    assert seen and seen[1] - seen[0] == 64 << 10  # one report per chunk
    assert skopeo_inspect(name, "--creds", creds)["Digest"] == stored.digest


def test_an_interrupted_push_leaves_no_image_and_a_second_push_completes(
        rt, auth_registry, stored, podman):
    """Stopped in the middle of the big layer's chunks: the registry has no manifest
    (skopeo cannot inspect it), pypod's store is as it was; the second push skips the
    blobs that arrived and completes."""
    name = f"{auth_registry.host}/push/interrupted"
    creds = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    before = {b.digest: Path(rt.image_store.blob_path(b.digest)).read_bytes()
              for b in stored.layers}

    def stop(done: int) -> None:
        if done >= 256 << 10:
            raise Interrupted(done)

    with pytest.raises(Interrupted):
        push(rt, stored, name, creds=creds, chunk=128 << 10, progress=stop)
    gone = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds", creds,
                           f"docker://{name}"], capture_output=True, text=True)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr
    assert rt.get_image(stored.id).digest == stored.digest
    assert {d: Path(rt.image_store.blob_path(d)).read_bytes() for d in before} == before
    dest = push(rt, stored, name, creds=creds, chunk=128 << 10)
    assert "chunked" in dest.outcomes.values()
    digest, out = podman_pull_and_run(podman, name, "--creds", creds)
    assert digest == stored.digest and out == "pushed by pypod\n"


def test_a_blob_whose_bytes_are_not_its_digest_is_refused(rt, auth_registry, tmp_path):
    creds = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    data = os.urandom(4096)
    wrong = BlobDescriptor(digest_of(b"something else"), len(data), LAYER_GZIP, "gzip")
    name = f"{auth_registry.host}/push/corrupt"
    for chunk in (0, 1024):
        with transport(rt).open_destination(name, PushOptions(creds=creds)) as dest:
            if chunk:
                dest.chunked_above, dest.chunk_size = 0, chunk
            with pytest.raises(BlobDigestError):
                import io

                dest.put_blob(wrong, io.BytesIO(data))
            assert not dest.has_blob(wrong)


# -- what the real registry cannot be made to do: the fake (fake_registry.py) -------------


@pytest.fixture
def fake() -> Iterator[Any]:
    from fake_registry import FakeRegistry, serve

    with serve(FakeRegistry()) as registry:
        yield registry


def fake_destination(fake: Any, name: str = "fake/img:1", **options: Any) -> Any:
    from pypod_image_registry.transport import DockerTransport

    options = {"tls_verify": False, "registries_conf": "/nonexistent", **options}
    return DockerTransport().open_destination(f"{fake.host}/{name}", PushOptions(**options))


def put(dest: Any, data: bytes) -> BlobDescriptor:
    import io

    blob = BlobDescriptor(digest_of(data), len(data), LAYER_GZIP, "gzip")
    dest.put_blob(blob, io.BytesIO(data))
    return blob


def test_bearer_token_with_push_scope(fake):
    fake.bearer = True
    data = os.urandom(1000)
    with fake_destination(fake) as dest:
        blob = put(dest, data)
        raw = json.dumps({"schemaVersion": 2, "config": {}, "layers": []}).encode()
        dest.put_manifest(Manifest(raw, "application/vnd.oci.image.manifest.v1+json",
                                   digest_of(raw)))
    assert fake.blobs[blob.digest] == data
    assert fake.manifests["fake/img:1"][0] == raw
    assert "repository:fake/img:pull,push" in fake.token_requests[0]["scopes"]
    assert len(fake.token_requests) == 1  # one token for every request of the push


def test_a_mount_asks_for_the_source_repositorys_pull_scope(fake):
    fake.bearer = True
    data = os.urandom(1000)
    fake.blobs[digest_of(data)] = data
    with fake_destination(fake) as dest:
        dest.locations.note(digest_of(data), fake.host, "fake/other")
        blob = BlobDescriptor(digest_of(data), len(data), LAYER_GZIP, "gzip")
        fake.blobs.pop(blob.digest)  # HEAD says 404 ...
        assert not dest.has_blob(blob)  # ... and the mount finds nothing: 202, cancelled
        fake.blobs[blob.digest] = data
    assert ("DELETE" in [m for m, _ in fake.push_requests])
    assert any("repository:fake/other:pull" in t["scopes"] for t in fake.token_requests)


def test_a_503_on_a_monolithic_put_starts_a_new_session(fake):
    fake.upload_faults = ["PUT:503"]
    with fake_destination(fake) as dest:
        blob = put(dest, os.urandom(5000))
    assert blob.digest in fake.blobs
    assert [m for m, _ in fake.push_requests].count("POST") == 2
    assert dest.outcomes[blob.digest] == "monolithic"


@pytest.mark.parametrize("fault", ["PATCH:503", "PATCH:drop"])
def test_a_failed_chunk_resumes_from_the_registrys_offset(fake, fault):
    """A 503 (the chunk not taken) and a dropped answer (the chunk taken): both go on
    from where the registry is, in the same session."""
    data = os.urandom(10_000)
    with fake_destination(fake) as dest:
        dest.chunked_above, dest.chunk_size = 0, 4096
        fake.upload_faults = [fault]
        blob = put(dest, data)
    assert fake.blobs[blob.digest] == data
    methods = [m for m, _ in fake.push_requests]
    assert methods.count("POST") == 1 and methods.count("PUT") == 1
    # Three chunks; the one refused is sent twice, the one taken is not sent again.
    assert methods.count("PATCH") == (4 if fault == "PATCH:503" else 3)
    assert len([p for p, _ in fake.requests if "/uploads/" in p]) == 1  # the offset


def test_a_head_redirect_is_followed(fake):
    from fake_registry import FakeRegistry, serve

    data = os.urandom(100)
    with serve(FakeRegistry()) as storage:
        storage.blobs[digest_of(data)] = data
        fake.blobs[digest_of(data)] = data
        fake.redirect = storage.host
        with fake_destination(fake) as dest:
            assert dest.has_blob(BlobDescriptor(digest_of(data), len(data), LAYER_GZIP))
        assert ("HEAD", f"/v2/fake/img/blobs/{digest_of(data)}") in storage.push_requests


def test_retries_are_bounded(fake):
    fake.upload_faults = ["PUT:503"] * 10
    with fake_destination(fake, retries=1) as dest:
        with pytest.raises(Exception, match=r"tried 2 times"):
            put(dest, os.urandom(100))


KILLED_PUSH = r"""
import json, os, sys, time
from pypod_core.engine.runtime import new_runtime
from pypod_core.plugin.image_transport import Manifest, PushOptions, parse_image_manifest

options, image_id, name, marker = json.loads(sys.argv[1])
creds = options.pop("creds")
rt = new_runtime(**options)
image = rt.get_image(image_id)
manifest = Manifest(rt.image_store.read_blob(image.digest), image.manifest_type,
                    image.digest)
config, layers = parse_image_manifest(manifest)
backend, _ = rt.plugins.transport_for("docker://" + name)
with backend.factory(rt).open_destination(name, PushOptions(creds=creds)) \
        as dest:
    dest.chunked_above, dest.chunk_size = 0, 64 << 10

    def hang(done):
        if done >= 128 << 10:
            open(marker, "w").close()
            time.sleep(600)  # killed here, in the middle of a blob

    for blob in layers:
        with open(rt.image_store.blob_path(blob.digest), "rb") as f:
            dest.put_blob(blob, f, progress=hang)
"""


def test_a_push_killed_midway_leaves_no_image_and_the_next_completes(
        rt, auth_registry, stored, runtime_options, registries_conf, tmp_path):
    import signal
    import sys
    import time

    name = f"{auth_registry.host}/push/killed"
    creds = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    marker = tmp_path / "midway"
    options = {**runtime_options, "config_path": os.devnull, "state_type": "sqlite",
               "registries_conf": registries_conf, "creds": creds}
    child = subprocess.Popen([sys.executable, "-c", KILLED_PUSH,
                              json.dumps([options, stored.id, name, str(marker)])])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    uploads = Path(auth_registry.root, "docker/registry/v2/repositories/push/killed/_uploads")
    assert list(uploads.iterdir())  # the registry holds the half-sent blob's session
    gone = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
                           creds, f"docker://{name}"], capture_output=True, text=True)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr
    assert rt.get_image(stored.id).digest == stored.digest
    push(rt, stored, name, creds=creds)
    assert skopeo_inspect(name, "--creds", creds)["Digest"] == stored.digest


def test_a_blocked_registry_is_refused_before_any_request(rt, stored, tmp_path):
    conf = tmp_path / "blocked.conf"
    conf.write_text('[[registry]]\nlocation = "127.0.0.1:9"\nblocked = true\n')
    from pypod_core.errors import RegistryError

    with pytest.raises(RegistryError, match="registry 127.0.0.1:9 is blocked in"):
        transport(rt).open_destination("127.0.0.1:9/x", PushOptions(
            registries_conf=str(conf)))


def test_blobs_upload_in_parallel_threads(rt, auth_registry, stored):
    """The engine may upload several blobs at once: each thread its own connection."""
    import threading

    name = f"{auth_registry.host}/push/parallel"
    creds = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    manifest = manifest_of(rt, stored)
    config, layers = parse_image_manifest(manifest)
    errors: list[BaseException] = []
    with transport(rt).open_destination(name, PushOptions(creds=creds)) as dest:
        def upload(blob: BlobDescriptor) -> None:
            try:
                with open(rt.image_store.blob_path(blob.digest), "rb") as f:
                    dest.put_blob(blob, f)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=upload, args=(b,)) for b in [*layers, config]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        dest.put_manifest(manifest)
    assert skopeo_inspect(name, "--creds", creds)["Digest"] == stored.digest


# -- the whole path: pypod push (the engine's copy) -> podman -----------------------------


def test_pypod_push_on_the_command_line_reaches_podman(rt, registry, stored, podman,
                                                       tmp_path, runtime_options,
                                                       registries_conf):
    """``pypod push IMAGE DEST`` copies the stored image through the engine's copy into
    the registry: same manifest digest, podman pulls and runs it; ``--digestfile``
    holds the digest; a second push finds every blob there."""
    import tomli_w

    from conftest import run_pypod

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(ACCEPT))
    config = tmp_path / "push.conf"
    config.write_text(tomli_w.dumps({**runtime_options, "state_type": "sqlite",
                                     "registries_conf": registries_conf,
                                     "signature_policy": str(policy)}))
    name = f"{registry.host}/push/cli:1"
    digestfile = tmp_path / "digest"
    for _ in range(2):
        done = run_pypod("--config", str(config), "push", "-q", "--digestfile",
                         str(digestfile), stored.id, f"docker://{name}")
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert digestfile.read_text() == stored.digest
    digest, out = podman_pull_and_run(podman, name)
    assert digest == stored.digest and out == "pushed by pypod\n"


def test_a_committed_image_is_pushed_and_podman_runs_its_changes(rt, registry, stored,
                                                                 podman):
    """commit -> push -> podman pull -> run: the new layer (stored uncompressed) goes
    out gzip-compressed, and podman sees the file the container wrote and not the one
    it deleted."""
    ctr = rt.create_container(image=stored.id, command=["sh", "-c",
                              "echo committed > /etc/motd; rm -r /srv"],
                              network_mode="none")
    ctr.start()
    assert ctr.wait() == 0
    image = rt.commit_container(ctr, "committed")
    name = f"{registry.host}/push/committed:1"
    result = rt.push_image(image.id, f"docker://{name}")
    digest, out = podman_pull_and_run(podman, name)
    assert digest == result.digest and out == "committed\n"
    command, env = podman
    listed = subprocess.run([*command, "run", "--rm", "--network", "none", name, "ls", "/"],
                            capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "srv" not in listed.stdout.split()
    layers = skopeo_inspect(name, "--raw")["layers"]
    assert layers[-1]["mediaType"].endswith("tar+gzip")
