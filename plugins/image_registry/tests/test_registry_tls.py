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
