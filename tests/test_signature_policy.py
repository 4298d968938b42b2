"""policy.json: insecureAcceptAnything and reject by transport and scope; signature
requirements refused as unsupported."""

from __future__ import annotations

import json

import pytest

from pypod_core.errors import ConfigError, PolicyError
from pypod_core.host.policy import load_policy, policy_path


def _policy(tmp_path, data):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    return load_policy(str(path))


ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]


def test_accept_anything_accepts(tmp_path):
    _policy(tmp_path, {"default": ACCEPT}).check("docker", "a.io/x:latest")


def test_reject_gives_podmans_message(tmp_path):
    policy = _policy(tmp_path, {"default": REJECT})
    with pytest.raises(PolicyError, match=r"^Source image rejected: Running image "
                                          r"docker://a.io/x:latest is rejected by policy\.$"):
        policy.check("docker", "a.io/x:latest")


@pytest.mark.parametrize("scope, accepted", [
    ("a.io/team/img:1", True), ("a.io/team/other:1", True), ("a.io/x:1", False),
    ("b.io/team/img:1", False), ("r.corp.example/x:1", True), ("a.io/team/img:bad", False),
])
def test_most_specific_scope_wins(tmp_path, scope, accepted):
    policy = _policy(tmp_path, {"default": REJECT, "transports": {"docker": {
        "a.io/team": ACCEPT, "a.io/team/img:bad": REJECT, "*.example": ACCEPT}}})
    if accepted:
        policy.check("docker", scope)
    else:
        with pytest.raises(PolicyError):
            policy.check("docker", scope)


def test_transport_default_scope_before_the_global_default(tmp_path):
    policy = _policy(tmp_path, {"default": ACCEPT, "transports": {"docker": {"": REJECT}}})
    with pytest.raises(PolicyError):
        policy.check("docker", "a.io/x:1")
    policy.check("oci", "/some/dir")


@pytest.mark.parametrize("kind", ["signedBy", "sigstoreSigned"])
def test_signature_requirements_are_refused_as_unsupported(tmp_path, kind):
    policy = _policy(tmp_path, {"default": [{"type": kind, "keyType": "GPGKeys"}]})
    with pytest.raises(PolicyError, match=f"'{kind}' signature check.*not support"):
        policy.check("docker", "a.io/x:1")


@pytest.mark.parametrize("data, what", [
    ({}, "default"), ({"default": ACCEPT, "extra": 1}, "unknown key 'extra'"),
    ({"default": [{"type": "maybe"}]}, "unknown requirement type 'maybe'"),
    ({"default": "accept"}, "list of requirements"),
])
def test_a_malformed_policy_names_the_file(tmp_path, data, what):
    with pytest.raises(ConfigError, match=what) as info:
        _policy(tmp_path, data)
    assert "policy.json" in str(info.value)


def test_a_missing_policy_file_is_an_error(tmp_path):
    with pytest.raises(PolicyError, match="no policy.json file found"):
        load_policy(str(tmp_path / "nope.json"))


def test_policy_path_prefers_the_configured_file(monkeypatch, tmp_path):
    assert policy_path("/x/policy.json") == "/x/policy.json"
    monkeypatch.setattr("pypod_core.host.policy.PYPOD_POLICY", str(tmp_path / "no1"))
    monkeypatch.setattr("pypod_core.host.policy.SYSTEM_POLICY", str(tmp_path / "no2"))
    with pytest.raises(PolicyError, match="no policy.json file found at any of"):
        policy_path("", rootless=False)
    (tmp_path / "no2").write_text("{}")
    assert policy_path("", rootless=False) == str(tmp_path / "no2")
