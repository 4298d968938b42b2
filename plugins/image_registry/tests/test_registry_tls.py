"""An https registry (docker-registry with a self-signed certificate): verified TLS,
--tls-verify=false, and a certificate the host does not trust refused clearly."""

from __future__ import annotations

import attrs
import pytest
from pypod_image_registry.transport import DockerTransport
from registry_helpers import compress, digest_of, image_config, make_tar, run_registry, self_signed

from pypod_core.errors import RegistryError
from pypod_core.plugin.image_transport import PullOptions, decompress


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls-registry")
    cert, key = self_signed(str(directory))
    with run_registry(str(directory), tls=(cert, key)) as registry:
        tar = make_tar({"etc/tls": b"over https\n"})
        blob, kind = compress(tar, "gzip")
        registry.push_image("pypod-test/tls", "latest", [(blob, kind)],
                            image_config([digest_of(tar)]))
        yield registry, cert, tar


def _layer(tls_registry, options):
    registry = tls_registry[0]
    with DockerTransport().open_source(f"{registry.host}/pypod-test/tls", options) as source:
        with decompress(source.open_blob(source.layers()[0]), "gzip") as stream:
            return stream.read()


@pytest.fixture
def options(tmp_path):
    return PullOptions(registries_conf=str(tmp_path / "none.conf"))


def test_an_untrusted_certificate_is_refused_clearly(tls_registry, options):
    with pytest.raises(RegistryError, match="TLS failed.*CERTIFICATE_VERIFY_FAILED") as info:
        _layer(tls_registry, options)
    assert "\n" not in str(info.value)


def test_a_trusted_certificate_is_verified(tls_registry, options, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", tls_registry[1])
    assert _layer(tls_registry, attrs.evolve(options, tls_verify=True)) == tls_registry[2]


def test_tls_verify_false_uses_https_without_verification(tls_registry, options):
    assert _layer(tls_registry, attrs.evolve(options, tls_verify=False)) == tls_registry[2]


def test_insecure_in_registries_conf_is_as_tls_verify_false(tls_registry, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{tls_registry[0].host}"\ninsecure = true\n')
    assert _layer(tls_registry, PullOptions(registries_conf=str(conf))) == tls_registry[2]


def test_pull_and_push_take_a_cert_dir(tls_registry, tmp_path, cli_flags):
    """``--cert-dir DIR``: the registry's CA in a certs.d directory of the user's makes
    pull and push verify it (without it, the TLS failure); a directory that is not one
    is named."""
    from conftest import run_pypod

    registry, cert, tar = tls_registry
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(open(cert, "rb").read())
    ref = f"{registry.host}/pypod-test/tls"
    refused = run_pypod(*cli_flags, "pull", "-q", "--tls-verify=true", ref)
    assert refused.returncode == 125 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    pulled = run_pypod(*cli_flags, "pull", "-q", "--tls-verify=true", "--cert-dir", str(certs),
                       ref)
    assert pulled.returncode == 0, pulled.stderr
    copy = f"{registry.host}/pypod-test/tls-copy:1"
    refused = run_pypod(*cli_flags, "push", "-q", "--tls-verify=true", ref, copy)
    assert refused.returncode == 125 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    pushed = run_pypod(*cli_flags, "push", "-q", "--tls-verify=true", "--cert-dir", str(certs),
                       ref, copy)
    assert pushed.returncode == 0, pushed.stderr
    response = registry.request("GET", "/v2/pypod-test/tls-copy/manifests/1", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status == 200
    wrong = run_pypod(*cli_flags, "pull", "--cert-dir", str(tmp_path / "none"), ref)
    assert wrong.returncode == 125
    assert wrong.stderr.endswith(f"--cert-dir {tmp_path / 'none'}: not a directory\n")
