"""Pulling from registries: the real docker-registry for what it can do, a fake for the
rest (bearer tokens, 503s, redirects, wrong bytes, dropped connections)."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest
from fake_registry import FakeRegistry, serve
from pypod_image_registry.transport import DockerTransport
from registry_helpers import (
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    compress,
    digest_of,
    image_config,
    make_tar,
)

from pypod_core.errors import (
    BlobDigestError,
    ImageFormatError,
    InvalidArgError,
    NoSuchImageError,
    PolicyError,
    RegistryAuthError,
    RegistryError,
)
from pypod_core.host.policy import Policy
from pypod_core.plugin.image_transport import Platform, PullOptions, decompress


def _push_simple(registry, repo, compression="gzip", **kwargs):
    tar = make_tar({"etc/motd": f"{repo} {compression}\n".encode()})
    blob, kind = compress(tar, compression)
    if kwargs.get("media_type") == DOCKER_MANIFEST:
        kind = DOCKER_LAYER
    config = image_config([digest_of(tar)])
    digest, raw = registry.push_image(repo, "latest", [(blob, kind)], config, **kwargs)
    return digest, raw, tar, config


def _pull(ref, options, transport=None):
    """Manifest, config and the uncompressed layers of ``ref``."""
    with (transport or DockerTransport()).open_source(ref, options) as source:
        manifest, config = source.manifest(), source.config()
        tars = []
        for desc in source.layers():
            with decompress(source.open_blob(desc), desc.compression) as stream:
                tars.append(stream.read())
        return manifest, config, tars


@pytest.fixture
def options(registries_conf):
    return PullOptions(registries_conf=registries_conf)


# -- the real registry -----------------------------------------------------------------


def test_pull_by_tag_and_by_digest(registry, options):
    digest, raw, tar, config = _push_simple(registry, "pypod-test/simple")
    for ref in (f"{registry.host}/pypod-test/simple:latest",
                f"{registry.host}/pypod-test/simple@{digest}",
                f"docker://{registry.host}/pypod-test/simple"):
        manifest, got_config, tars = _pull(ref.removeprefix("docker://"), options)
        assert (manifest.digest, manifest.raw, manifest.media_type) == \
            (digest, raw, OCI_MANIFEST)
        assert got_config == config and tars == [tar]


def test_source_reference_is_fully_qualified_with_its_tag(registry, options):
    _push_simple(registry, "pypod-test/named")
    with DockerTransport().open_source(f"{registry.host}/pypod-test/named", options) as s:
        assert s.reference == f"{registry.host}/pypod-test/named:latest"


def test_oci_manifest_without_media_type(registry, options):
    digest, raw, tar, _ = _push_simple(registry, "pypod-test/nomediatype",
                                       with_media_type=False)
    assert b"mediaType\": \"application/vnd.oci.image.manifest" not in raw
    manifest, _, tars = _pull(f"{registry.host}/pypod-test/nomediatype", options)
    assert manifest.media_type == OCI_MANIFEST and tars == [tar]


def test_docker_v2_schema2_manifest(registry, options):
    _, _, tar, _ = _push_simple(registry, "pypod-test/v2s2", media_type=DOCKER_MANIFEST)
    manifest, _, tars = _pull(f"{registry.host}/pypod-test/v2s2", options)
    assert manifest.media_type == DOCKER_MANIFEST and tars == [tar]


def test_zstd_and_uncompressed_layers(registry, options):
    for compression in ("zstd", "none"):
        _, _, tar, _ = _push_simple(registry, f"pypod-test/{compression}", compression)
        _, _, tars = _pull(f"{registry.host}/pypod-test/{compression}", options)
        assert tars == [tar]


def test_skopeo_pushed_v2s2_image_from_an_oci_layout(registry, options, tmp_path):
    """An image another tool pushed: skopeo converts a hand-written OCI layout to v2s2."""
    tar = make_tar({"bin/hello": b"#!/bin/sh\necho hi\n"})
    blob, kind = compress(tar, "gzip")
    config = image_config([digest_of(tar)])
    layout = tmp_path / "layout"
    (layout / "blobs/sha256").mkdir(parents=True)
    for data in (blob, config):
        (layout / "blobs/sha256" / digest_of(data)[7:]).write_bytes(data)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config),
        "size": len(config)}, "layers": [{"mediaType": kind, "digest": digest_of(blob),
                                          "size": len(blob)}]}).encode()
    (layout / "blobs/sha256" / digest_of(manifest)[7:]).write_bytes(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": digest_of(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", "--format", "v2s2",
                    f"oci:{layout}:latest", f"docker://{registry.host}/pypod-test/skopeo"],
                   check=True)
    got, _, tars = _pull(f"{registry.host}/pypod-test/skopeo", options)
    assert got.media_type == DOCKER_MANIFEST and tars == [tar]


def test_no_image_for_the_platform_names_it(registry, options):
    import attrs

    digest, raw, _, _ = _push_simple(registry, "pypod-test/amd64only")
    entry = {"mediaType": OCI_MANIFEST, "size": len(raw), "digest": digest,
             "platform": {"os": "linux", "architecture": "amd64"}}
    index_type = "application/vnd.oci.image.index.v1+json"
    registry.push_manifest("pypod-test/amd64only", "list", json.dumps(
        {"schemaVersion": 2, "mediaType": index_type, "manifests": [entry]}).encode(),
        index_type)
    s390x = attrs.evolve(options, platform=Platform.choose("linux/s390x"))
    with pytest.raises(ImageFormatError, match='architecture s390x, variant "", OS linux'):
        _pull(f"{registry.host}/pypod-test/amd64only:list", s390x)


def test_unknown_tag_and_unknown_repository_are_no_such_image(registry, options):
    _push_simple(registry, "pypod-test/exists")
    for ref in ("pypod-test/exists:nope", "pypod-test/never-pushed:latest"):
        with pytest.raises(NoSuchImageError, match="manifest unknown|name unknown"):
            _pull(f"{registry.host}/{ref}", options)


def test_tls_verify_true_against_an_http_registry_fails_clearly(registry, options):
    import attrs

    _push_simple(registry, "pypod-test/tls")
    with pytest.raises(RegistryError, match="TLS failed.*--tls-verify=false") as info:
        _pull(f"{registry.host}/pypod-test/tls", attrs.evolve(options, tls_verify=True))
    assert "\n" not in str(info.value)


def test_tls_verify_false_works_without_registries_conf(registry, tmp_path):
    _push_simple(registry, "pypod-test/noconf")
    opts = PullOptions(registries_conf=str(tmp_path / "none.conf"), tls_verify=False)
    assert _pull(f"{registry.host}/pypod-test/noconf", opts)[2]


# -- basic auth (the real registry, htpasswd) ------------------------------------------


@pytest.fixture
def auth_image(auth_registry):
    _push_simple(auth_registry, "pypod-test/private")
    return f"{auth_registry.host}/pypod-test/private"


def test_basic_auth_without_credentials_is_one_line(auth_image, options):
    with pytest.raises(RegistryAuthError) as info:
        _pull(auth_image, options)
    assert "\n" not in str(info.value) and "authentication required" in str(info.value)


def test_basic_auth_with_creds_and_with_an_auth_file(auth_registry, auth_image, options,
                                                     tmp_path, monkeypatch):
    import attrs

    creds = f"{auth_registry.user}:{auth_registry.password}"
    assert _pull(auth_image, attrs.evolve(options, creds=creds))[2]
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {auth_registry.host: {
        "auth": base64.b64encode(creds.encode()).decode()}}}))
    assert _pull(auth_image, attrs.evolve(options, authfile=str(authfile)))[2]
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(authfile))
    assert _pull(auth_image, options)[2]


def test_basic_auth_with_wrong_password_is_refused(auth_image, options):
    import attrs

    with pytest.raises(RegistryAuthError):
        _pull(auth_image, attrs.evolve(options, creds="pypod:wrong"))


# -- the fake registry: what docker-registry cannot be made to do ----------------------


@pytest.fixture
def fake():
    with serve(FakeRegistry()) as registry:
        yield registry


def _fake_image(fake, repo="fake/img"):
    tar = make_tar({"f": os.urandom(1000)})
    config = image_config([digest_of(tar)])
    fake.add_image(repo, "latest", [tar], config)
    return f"{fake.host}/{repo}:latest", tar, config


def _insecure():
    return PullOptions(tls_verify=False, registries_conf="/nonexistent", retries=3)


def test_bearer_token_flow(fake):
    fake.bearer = True
    ref, tar, _ = _fake_image(fake)
    assert _pull(ref, _insecure())[2] == [tar]
    assert fake.token_requests[0]["service"] == "fake"
    # The challenge's scope and the client's own (the repository pulled) both.
    assert fake.token_requests[0]["scopes"] == ["repository:fake:pull",
                                                "repository:fake/img:pull"]
    # One token serves the manifest and the blobs: asked for once.
    assert len(fake.token_requests) == 1


def test_bearer_token_request_carries_the_credentials(fake):
    import attrs

    fake.bearer = True
    ref, _, _ = _fake_image(fake)
    _pull(ref, attrs.evolve(_insecure(), creds="me:pw"))
    sent = fake.token_requests[0]
    assert sent["account"] == "me"
    assert sent["authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()


def test_a_blob_whose_bytes_do_not_match_is_refused_and_nothing_stored(fake, tmp_path):
    ref, tar, _ = _fake_image(fake)
    fake.blobs[digest_of(tar)] = tar[:-1] + b"X"
    with DockerTransport().open_source(ref, _insecure()) as source:
        with pytest.raises(BlobDigestError, match=digest_of(tar)):
            source.fetch_blobs(source.layers(), str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_blob_longer_than_its_size_is_refused(fake):
    ref, tar, _ = _fake_image(fake)
    fake.blobs[digest_of(tar)] = tar + b"more"
    with DockerTransport().open_source(ref, _insecure()) as source:
        with pytest.raises(BlobDigestError, match="more data than its size"):
            source.open_blob(source.layers()[0]).read()


def test_a_503_is_retried(fake):
    ref, tar, _ = _fake_image(fake)
    fake.fail_once = {"/v2/fake/img/manifests/latest", f"/v2/fake/img/blobs/{digest_of(tar)}"}
    assert _pull(ref, _insecure())[2] == [tar]
    assert not fake.fail_once


def test_a_registry_that_keeps_failing_gives_up_naming_the_tries(fake):
    ref, _, _ = _fake_image(fake)
    fake.fail_always = True
    with pytest.raises(RegistryError, match="HTTP 503.*tried 4 times"):
        _pull(ref, _insecure())


def test_a_connection_dropped_mid_blob_is_fetched_again(fake, tmp_path):
    ref, tar, _ = _fake_image(fake)
    fake.drop_once = {f"/v2/fake/img/blobs/{digest_of(tar)}"}
    with DockerTransport().open_source(ref, _insecure()) as source:
        [path] = source.fetch_blobs(source.layers(), str(tmp_path))
    assert open(path, "rb").read() == tar and not fake.drop_once


def test_redirects_are_followed_without_the_credentials(fake):
    import attrs

    with serve(FakeRegistry()) as storage:
        ref, tar, _ = _fake_image(fake)
        storage.blobs = dict(fake.blobs)
        fake.redirect = storage.host
        assert _pull(ref, attrs.evolve(_insecure(), creds="me:pw"))[2] == [tar]
        assert storage.blob_requests()
        assert all("Authorization" not in h for _, h in storage.requests)


def test_redirect_to_the_real_registry(fake, registry):
    _, _, tar, _ = _push_simple(registry, "fake/img")
    with serve(FakeRegistry()) as front:
        ref, _, _ = _fake_image(front)
        # the fake's manifest names its own blobs; serve them from the real registry
        for data in front.blobs.values():
            registry.push_blob("fake/img", data)
        front.redirect = registry.host
        assert _pull(ref, _insecure())[2]
        assert front.blob_requests()


def test_manifest_without_content_type_or_media_type(fake):
    fake.content_type = False
    tar = make_tar({"x": b"y"})
    fake.add_image("fake/bare", "latest", [tar], image_config([digest_of(tar)]),
                   with_media_type=False)
    manifest, _, tars = _pull(f"{fake.host}/fake/bare:latest", _insecure())
    assert manifest.media_type == OCI_MANIFEST and tars == [tar]


def test_policy_reject_refuses_before_anything_is_fetched(fake):
    ref, _, _ = _fake_image(fake)
    with pytest.raises(PolicyError, match=f"Running image docker://{ref} is rejected"):
        DockerTransport().open_source(ref, _insecure(), policy=Policy("p", ("reject",)))
    assert fake.requests == []


def test_policy_scope_accepts_one_repository_only(fake):
    ref, _, _ = _fake_image(fake)
    other, _, _ = _fake_image(fake, "fake/other")
    policy = Policy("p", ("reject",), {"docker": {
        f"{fake.host}/fake/img": ("insecureAcceptAnything",)}})
    assert _pull(ref, _insecure(), DockerTransport())[2]
    DockerTransport().open_source(ref, _insecure(), policy=policy).close()
    with pytest.raises(PolicyError):
        DockerTransport().open_source(other, _insecure(), policy=policy)


def test_mirror_is_tried_first_and_the_registry_after(registry, tmp_path):
    _, _, tar, _ = _push_simple(registry, "pypod-test/mirrored")
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nprefix = "mirrored.invalid"\nlocation = '
                    f'"{registry.host}"\ninsecure = true\n'
                    '[[registry.mirror]]\nlocation = "127.0.0.1:1"\ninsecure = true\n')
    opts = PullOptions(registries_conf=str(conf), retries=0)
    with DockerTransport().open_source("mirrored.invalid/pypod-test/mirrored", opts) as s:
        assert s.reference == "mirrored.invalid/pypod-test/mirrored:latest"
        with decompress(s.open_blob(s.layers()[0]), "gzip") as stream:
            assert stream.read() == tar


def test_blocked_registry_is_refused(tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nlocation = "blocked.invalid"\nblocked = true\n')
    with pytest.raises(RegistryError, match="blocked"):
        DockerTransport().open_source("blocked.invalid/x", PullOptions(
            registries_conf=str(conf)))


def test_a_short_name_is_refused_by_open_source():
    with pytest.raises(InvalidArgError, match="short name"):
        DockerTransport().open_source("busybox", PullOptions(registries_conf="/none"))


def test_a_cert_dir_that_is_not_a_directory_is_named():
    """(A good one is used by login's tests against an https registry.)"""
    source = DockerTransport().open_source("127.0.0.1:1/b", PullOptions(
        cert_dir="/nonexistent", tls_verify=True, registries_conf="/none"))
    with pytest.raises(RegistryError, match="--cert-dir /nonexistent: not a directory"):
        source.manifest()


def test_short_names_through_an_alias_and_a_search_registry(registry, tmp_path):
    _, _, tar, _ = _push_simple(registry, "pypod-test/shorty")
    conf = tmp_path / "registries.conf"
    conf.write_text(f'unqualified-search-registries = ["{registry.host}"]\n'
                    f'[aliases]\nbb = "{registry.host}/pypod-test/shorty"\n'
                    f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
    opts = PullOptions(registries_conf=str(conf))
    transport = DockerTransport()
    for name in ("bb", "pypod-test/shorty"):
        [candidate] = transport.candidates(name, opts).candidates
        assert candidate == f"{registry.host}/pypod-test/shorty:latest"
        assert _pull(candidate, opts, transport)[2] == [tar]


def test_enforcing_short_name_with_two_search_registries_and_no_tty(registry, tmp_path):
    from pypod_core.errors import ShortNameError

    conf = tmp_path / "registries.conf"
    conf.write_text(f'unqualified-search-registries = ["{registry.host}", "other.invalid"]\n'
                    'short-name-mode = "enforcing"\n')
    with pytest.raises(ShortNameError, match="without a TTY"):
        DockerTransport().candidates("pypod-test/shorty", PullOptions(
            registries_conf=str(conf)))


def test_the_config_is_fetched_once(fake):
    ref, _, config = _fake_image(fake)
    with DockerTransport().open_source(ref, _insecure()) as source:
        assert source.config() == config
        assert len(source.diff_ids()) == 1
    assert fake.blob_requests() == [f"/v2/fake/img/blobs/{digest_of(config)}"]
