"""auth.json: lookup order, per-repository keys, Docker's config.json, --creds, writing."""

from __future__ import annotations

import base64
import json
import os

import pytest

from pypod_core.errors import ConfigError, InvalidArgError, RegistryAuthError
from pypod_core.host import auth


def _auth(user, password):
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _write(path, auths, **extra):
    path.write_text(json.dumps({"auths": auths, **extra}))
    return str(path)


def test_the_longest_key_covering_the_image_wins(tmp_path):
    path = _write(tmp_path / "auth.json", {"a.io": _auth("host", "1"),
                                           "a.io/team": _auth("team", "2")})
    assert auth.lookup("a.io/team/img", path).username == "team"
    assert auth.lookup("a.io/other", path).username == "host"
    assert auth.lookup("b.io/x", path) is None


def test_lookup_order_and_docker_config_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "missing.json"))
    (tmp_path / ".docker").mkdir()
    _write(tmp_path / ".docker/config.json", {"https://index.docker.io/v1/":
                                              _auth("hub", "pw")})
    assert auth.lookup("docker.io/library/busybox").username == "hub"
    _write(tmp_path / "missing.json", {"docker.io": _auth("mine", "pw")})
    assert auth.lookup("docker.io/library/busybox").username == "mine"


def test_a_credential_helper_is_refused_not_ignored(tmp_path):
    path = _write(tmp_path / "auth.json", {}, credHelpers={"a.io": "secretservice"})
    with pytest.raises(RegistryAuthError, match="credential helper"):
        auth.lookup("a.io/x", path)


def test_a_malformed_entry_names_the_file(tmp_path):
    path = _write(tmp_path / "auth.json", {"a.io": {"auth": "bm9jb2xvbg=="}})
    with pytest.raises(ConfigError, match="auth.json.*a.io"):
        auth.lookup("a.io/x", path)


def test_creds_flag():
    assert auth.parse_creds("u:p:q") == auth.Credentials("u", "p:q")
    assert "p:q" not in repr(auth.parse_creds("u:p:q"))
    with pytest.raises(InvalidArgError, match="--creds"):
        auth.parse_creds(":pw")


def test_store_and_remove_keep_other_entries(tmp_path):
    path = _write(tmp_path / "auth.json", {"b.io": _auth("b", "1")})
    auth.store("a.io", auth.Credentials("a", "2"), path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert auth.lookup("a.io/x", path) == auth.Credentials("a", "2")
    assert auth.remove("a.io", path) and not auth.remove("a.io", path)
    assert auth.lookup("b.io/x", path).username == "b"


def test_the_default_file_is_registry_auth_file_then_docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "env.json"))
    assert auth.default_auth_file() == str(tmp_path / "env.json")
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    assert auth.default_auth_file() == str(tmp_path / "docker" / "config.json")
    path = auth.store("a.io", auth.Credentials("u", "p"))
    assert path == str(tmp_path / "docker" / "config.json")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert auth.lookup("a.io/x").username == "u"
    assert auth.remove_all() == path and json.loads(open(path).read()) == {"auths": {}}
