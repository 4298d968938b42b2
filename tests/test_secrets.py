"""Secrets from Python: the secret_driver family (declared through pypod_secret_drivers,
``file`` by default), podman's names, sizes and errors, the on-disk layout and modes, and
``--secret`` parsing."""

from __future__ import annotations

import json
import os
import stat

import pytest

from pypod_core.config import RuntimeConfig
from pypod_core.engine.ctr_secrets import parse_secret
from pypod_core.errors import (
    BackendNotFoundError,
    InvalidArgError,
    NoSuchSecretError,
    SecretExistsError,
)
from pypod_core.model import ContainerSecret
from pypod_core.plugin import BACKEND_FAMILIES, SecretDriver, SecretDriverBackend
from pypod_core.plugin.manager import PluginManager

DATA = b"s3cr3t-value\x00\xff"


@pytest.fixture
def rt(make_runtime):
    return make_runtime()


def test_pypod_secret_drivers_declares_file():
    found = PluginManager().load().backends("secret_driver")
    assert isinstance(found["file"], SecretDriverBackend)
    assert found["file"].distribution == "pypod-secret-file"
    assert BACKEND_FAMILIES["secret_driver"] == ("secret_driver", "pypod_secret_drivers")
    assert RuntimeConfig().secret_driver == "file"


def test_create_and_find_by_name_id_and_prefix(rt):
    secret = rt.create_secret("db-pass", DATA, labels={"app": "web"})
    assert len(secret.id) == 25 and all(c in "0123456789abcdef" for c in secret.id)
    for key in ("db-pass", secret.id, secret.id[:6]):
        assert rt.lookup_secret(key) == secret
    assert rt.secret_data("db-pass") == (secret, DATA)
    assert isinstance(rt.secret_driver(), SecretDriver)
    assert [s.name for s in rt.secrets()] == ["db-pass"]


def test_inspect_document_is_podmans_and_holds_no_data(rt):
    secret = rt.create_secret("doc", b"never-shown", labels={"k": "v"})
    doc = rt.inspect_secret(secret)
    assert list(doc) == ["ID", "CreatedAt", "UpdatedAt", "Spec"]
    assert doc["Spec"] == {"Name": "doc", "Labels": {"k": "v"}, "Driver": {
        "Name": "file",
        "Options": {"path": os.path.join(rt.config.graph_root, "secrets", "filedriver")}}}
    assert doc["CreatedAt"].endswith("Z") and doc["CreatedAt"] == doc["UpdatedAt"]
    assert "never-shown" not in json.dumps(doc)


def test_layout_under_the_graph_root_is_podmans_and_private(rt):
    secret = rt.create_secret("layout", DATA)
    root = os.path.join(rt.config.graph_root, "secrets")
    with open(os.path.join(root, "secrets.json")) as f:
        db = json.load(f)
    assert db["nameToID"] == {"layout": secret.id} and db["idToName"] == {secret.id: "layout"}
    assert db["secrets"][secret.id]["driver"] == "file"
    assert "s3cr3t" not in json.dumps(db)  # the records never hold the data
    for path in (root, os.path.join(root, "filedriver")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    for path in (os.path.join(root, "secrets.json"),
                 os.path.join(root, "filedriver", "secretsdata.json")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("name", ["-lead", "trail-", "trail.", "a/b", "a b", "",
                                  "x" * 65, "ünï"])
def test_bad_names_are_refused_in_podmans_words(rt, name):
    with pytest.raises(InvalidArgError, match="only 64 .* invalid secret name"):
        rt.create_secret(name, DATA)
    assert rt.secrets() == []


def test_longest_name_and_data_limits(rt):
    assert rt.create_secret("x" * 64, b"x" * 511999).name == "x" * 64
    for data in (b"", b"x" * 512000):
        with pytest.raises(InvalidArgError, match="larger than 0 and less than 512000"):
            rt.create_secret("sized", data)
    assert not rt.has_secret("sized")


def test_name_in_use_stores_nothing(rt):
    rt.create_secret("once", b"first")
    with pytest.raises(SecretExistsError, match="once: secret name in use"):
        rt.create_secret("once", b"second")
    assert rt.secret_data("once")[1] == b"first"
    assert len(rt.secret_driver().list(rt.lookup_secret("once").driver_options)) == 1


def test_missing_secret_is_podmans_error(rt):
    with pytest.raises(NoSuchSecretError,
                       match='^no secret with name or id "ghost": no such secret$'):
        rt.lookup_secret("ghost")
    with pytest.raises(NoSuchSecretError):
        rt.remove_secret("ghost")


def test_remove_forgets_record_and_data(rt):
    secret = rt.create_secret("gone", DATA)
    assert rt.remove_secret(secret.id[:8]) == secret
    assert not rt.has_secret("gone")
    assert rt.secret_driver().list(secret.driver_options) == []


def test_drivers_pypod_does_not_build_are_refused_by_name(rt):
    for name in ("pass", "shell"):
        with pytest.raises(InvalidArgError, match=f"secret driver '{name}' is not supported"):
            rt.create_secret("x", DATA, driver=name)
    with pytest.raises(BackendNotFoundError, match="installed: file"):
        rt.create_secret("x", DATA, driver="vault")
    assert rt.secrets() == []


def test_file_driver_options(rt, tmp_path):
    elsewhere = str(tmp_path / "elsewhere")
    secret = rt.create_secret("moved", DATA, driver_options={"path": elsewhere})
    assert secret.driver_options == {"path": elsewhere}
    assert os.path.exists(os.path.join(elsewhere, "secretsdata.json"))
    assert rt.secret_data("moved")[1] == DATA
    with pytest.raises(InvalidArgError, match="invalid driver option 'colour'"):
        rt.create_secret("opt", DATA, driver_options={"colour": "red"})
    with pytest.raises(InvalidArgError, match="must be absolute"):
        rt.create_secret("opt", DATA, driver_options={"path": "relative"})


def test_secrets_outlive_the_runtime(make_runtime):
    make_runtime().create_secret("kept", DATA)
    assert make_runtime().secret_data("kept")[1] == DATA


@pytest.mark.parametrize(("text", "expected"), [
    ("tok", ContainerSecret(name="tok", id="")),
    ("tok,type=env", ContainerSecret(name="tok", id="", type="env")),
    ("source=tok,target=/etc/k,mode=0400,uid=1000,GID=5",
     ContainerSecret(name="tok", id="", target="/etc/k", mode=0o400, uid=1000, gid=5)),
])
def test_parse_secret_as_podman(text, expected):
    assert parse_secret(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("tok,type=file", "type file is invalid: parsing secret"),
    ("tok,type=env,type=mount", "cannot set more than one secret type"),
    ("tok,mode=9", "mode 9 invalid"),
    ("tok,uid=-1", "UID -1 invalid"),
    ("tok,type=env,uid=1", "UID, GID, Mode options cannot be set with secret type env"),
    ("tok,colour=red", "option colour=red invalid"),
    ("tok,bare", "option bare must be in form option=value"),
    ("type=env", "no source found type=env"),
])
def test_parse_secret_errors_are_podmans(text, message):
    with pytest.raises(InvalidArgError, match=message):
        parse_secret(text)
