"""``pypod login`` / ``logout`` and ``runtime.login``/``logout`` against Debian's
docker-registry with basic auth (an htpasswd file): credentials checked before they are
written, the auth file in containers' format with mode 0600, podman's lines and exit
codes (checked against podman 4.3.1 on the same registry), anonymous pulls refused in
one line and pulls after a login working, for pypod and for podman reading pypod's
file; ``--cert-dir`` against an https registry."""

from __future__ import annotations

import base64
import gzip
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import (
    LAYER_GZIP,
    digest_of,
    image_config,
    make_tar,
    run_registry,
    self_signed,
)

from conftest import REGISTRY_PASSWORD, REGISTRY_USER, need_binary, run_pypod
from pypod_core.engine.login import LogoutResult
from pypod_core.errors import InvalidArgError, RegistryAuthError, RegistryUnauthorizedError

ACCEPT = {"default": [{"type": "insecureAcceptAnything"}]}


@pytest.fixture
def flags(tmp_path: Path, runtime_options: dict[str, Any], registries_conf: str) -> list[str]:
    """``--config`` for this test's store, its registries.conf (both registries
    insecure) and an accept-all policy."""
    import tomli_w

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(ACCEPT))
    config = tmp_path / "login.conf"
    config.write_text(tomli_w.dumps({**runtime_options, "registries_conf": registries_conf,
                                     "signature_policy": str(policy)}))
    return ["--config", str(config)]


@pytest.fixture
def authfile(tmp_path: Path) -> str:
    return str(tmp_path / "auth" / "auth.json")


@pytest.fixture(scope="module")
def private_image(auth_registry: Any) -> str:
    """An image only the registry's user may pull."""
    tar = make_tar({"etc/secret": b"for users only\n"})
    auth_registry.push_image("login/private", "latest",
                             [(gzip.compress(tar, mtime=0), LAYER_GZIP)],
                             image_config([digest_of(tar)]))
    return f"{auth_registry.host}/login/private"


def login(flags: list[str], *args: str, env: dict[str, str] | None = None,
          input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_pypod(*flags, "login", *args, env=env, input=input)


def test_a_wrong_password_is_one_line_and_writes_nothing(flags, auth_registry, authfile):
    done = login(flags, "--authfile", authfile, "-u", REGISTRY_USER, "-p", "wrong",
                 auth_registry.host)
    assert done.returncode == 125 and done.stdout == ""
    assert done.stderr == (f'Error: logging into "{auth_registry.host}": invalid '
                           'username/password\n')
    assert not os.path.exists(authfile)


def test_login_checks_writes_0600_and_the_pull_then_works(flags, auth_registry, authfile,
                                                         private_image):
    anonymous = run_pypod(*flags, "pull", "-q", private_image,
                          env={"REGISTRY_AUTH_FILE": authfile,
                               "HOME": str(Path(authfile).parent.parent)})
    assert anonymous.returncode == 125
    assert anonymous.stderr.count("\n") == 1 and "unauthorized: authentication required" \
        in anonymous.stderr
    done = login(flags, "--authfile", authfile, "-u", REGISTRY_USER, "-p", REGISTRY_PASSWORD,
                 auth_registry.host)
    assert (done.returncode, done.stdout, done.stderr) == (0, "Login Succeeded!\n", "")
    assert stat.S_IMODE(os.stat(authfile).st_mode) == 0o600
    pair = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
    assert json.loads(Path(authfile).read_text()) == {
        "auths": {auth_registry.host: {"auth": pair}}}
    pulled = run_pypod(*flags, "pull", "-q", "--authfile", authfile, private_image)
    assert pulled.returncode == 0, pulled.stderr


def test_registry_auth_file_is_the_default_and_other_entries_stay(flags, auth_registry,
                                                                  authfile, private_image):
    os.makedirs(os.path.dirname(authfile))
    Path(authfile).write_text(json.dumps({"auths": {"other.example": {"auth": "eDp5"}},
                                          "other": 1}))
    env = {"REGISTRY_AUTH_FILE": authfile}
    done = login(flags, "-u", REGISTRY_USER, "-p", REGISTRY_PASSWORD, "-v",
                 auth_registry.host, env=env)
    assert done.stdout == f"Used:  {authfile}\nLogin Succeeded!\n", done.stderr
    data = json.loads(Path(authfile).read_text())
    assert set(data["auths"]) == {"other.example", auth_registry.host} and data["other"] == 1
    assert run_pypod(*flags, "pull", "-q", private_image, env=env).returncode == 0
    got = login(flags, "--get-login", auth_registry.host, env=env)
    assert (got.returncode, got.stdout) == (0, f"{REGISTRY_USER}\n")


def test_existing_credentials_are_checked_first(flags, auth_registry, authfile):
    login(flags, "--authfile", authfile, "-u", REGISTRY_USER, "-p", REGISTRY_PASSWORD,
          auth_registry.host)
    done = login(flags, "--authfile", authfile, auth_registry.host)
    assert done.returncode == 0
    assert done.stdout == (f"Authenticating with existing credentials for "
                           f"{auth_registry.host}\nExisting credentials are valid. Already "
                           f"logged in to {auth_registry.host}\n")


def test_password_stdin_and_a_namespace_key(flags, auth_registry, authfile):
    key = f"{auth_registry.host}/login"
    done = login(flags, "--authfile", authfile, "-u", REGISTRY_USER, "--password-stdin", key,
                 input=REGISTRY_PASSWORD + "\n")
    assert done.stdout == "Login Succeeded!\n", done.stderr
    assert list(json.loads(Path(authfile).read_text())["auths"]) == [key]
    no_user = login(flags, "--authfile", authfile, "--password-stdin", key, input="x\n")
    assert no_user.stderr == "Error: Must provide --username with --password-stdin\n"
    tagged = login(flags, "--authfile", authfile, "-u", "a", "-p", "b", key + ":1")
    assert tagged.returncode == 125
    assert tagged.stderr == f'Error: reference "{key}:1" contains tag or digest\n'


def test_no_password_and_no_terminal(flags, auth_registry, authfile):
    done = login(flags, "--authfile", authfile, "-u", REGISTRY_USER, auth_registry.host,
                 input="")
    assert (done.returncode, done.stdout) == (125, "Password: ")
    assert done.stderr == ("Error: getting username and password: reading password: "
                           "inappropriate ioctl for device\n")


def test_logout(flags, auth_registry, authfile):
    login(flags, "--authfile", authfile, "-u", REGISTRY_USER, "-p", REGISTRY_PASSWORD,
          auth_registry.host)
    done = run_pypod(*flags, "logout", "--authfile", authfile, auth_registry.host)
    assert done.stdout == f"Removed login credentials for {auth_registry.host}\n"
    assert json.loads(Path(authfile).read_text()) == {"auths": {}}
    again = run_pypod(*flags, "logout", "--authfile", authfile, auth_registry.host)
    assert (again.returncode, again.stderr) == (
        125, f"Error: not logged into {auth_registry.host}\n")
    assert run_pypod(*flags, "logout", "--authfile", authfile, "--all").stdout == \
        "Removed login credentials for all registries\n"
    both = run_pypod(*flags, "logout", "--authfile", authfile, "--all", "x")
    assert both.stderr == "Error: --all takes no arguments\n"
    missing = run_pypod(*flags, "logout", "--authfile", authfile + ".no", "x")
    assert missing.stderr == (f"Error: checking authfile: stat {authfile}.no: no such file "
                              "or directory\n")


def test_logout_of_credentials_only_docker_has_is_podmans_hint(flags, auth_registry,
                                                              registries_conf, tmp_path):
    """The auth file lacks the registry, Docker's ~/.docker/config.json has it: valid
    credentials are podman's hint (exit 0), stale ones ``not logged into``; the file is
    left as it was; podman 4.3.1 says the same on the same files."""
    need_binary("podman", "podman")
    import tempfile

    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    docker = home / ".docker" / "config.json"
    ours_file = tmp_path / "containers-auth.json"
    ours_file.write_text('{"auths": {}}')
    env = {"HOME": str(home), "REGISTRY_AUTH_FILE": str(ours_file),
           "CONTAINERS_REGISTRIES_CONF": registries_conf}
    run = tempfile.mkdtemp(prefix="pp-")  # podman wants a short runroot
    podman = ["podman", "--root", str(tmp_path / "proot"), "--runroot", run,
              "--storage-driver", "vfs", "logout", auth_registry.host]
    host = auth_registry.host
    hint = (f"Not logged into {host} with current tool. Existing credentials were "
            "established via docker login. Please use docker logout instead.\n")
    try:
        for password, wanted in ((REGISTRY_PASSWORD, (0, hint, "")),
                                 ("stale", (125, "", f"Error: not logged into {host}\n"))):
            pair = base64.b64encode(f"{REGISTRY_USER}:{password}".encode()).decode()
            docker.write_text(json.dumps({"auths": {host: {"auth": pair}}}))
            before = docker.read_bytes()
            ours = run_pypod(*flags, "logout", host, env=env)
            assert (ours.returncode, ours.stdout, ours.stderr) == wanted
            assert docker.read_bytes() == before
            assert json.loads(ours_file.read_text()) == {"auths": {}}
            theirs = subprocess.run(podman, capture_output=True, text=True,
                                    env={**os.environ, **env})
            assert (theirs.returncode, theirs.stdout, theirs.stderr) == wanted
    finally:
        subprocess.run(["rm", "-rf", run], check=False)


def test_an_http_registry_without_tls_verify_false_is_one_line(flags, auth_registry,
                                                               authfile, tmp_path):
    import tomli_w

    # A config whose registries.conf does not mark the registry insecure.
    config = tmp_path / "strict.conf"
    config.write_text(tomli_w.dumps({"graph_root": str(tmp_path / "s"), "run_root":
                                     str(tmp_path / "sr"), "registries_conf":
                                     str(tmp_path / "none.conf")}))
    done = run_pypod("--config", str(config), "login", "--authfile", authfile, "-u",
                     REGISTRY_USER, "-p", REGISTRY_PASSWORD, auth_registry.host)
    assert done.returncode == 125 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f'Error: authenticating creds for "{auth_registry.host}"')
    assert "--tls-verify=false" in done.stderr


def test_podman_reads_the_auth_file_pypod_wrote(flags, auth_registry, authfile,
                                                private_image, tmp_path):
    need_binary("podman", "podman")
    login(flags, "--authfile", authfile, "-u", REGISTRY_USER, "-p", REGISTRY_PASSWORD,
          auth_registry.host)
    import tempfile

    run = tempfile.mkdtemp(prefix="pp-")  # podman wants a short runroot
    done = subprocess.run(["podman", "--root", str(tmp_path / "proot"), "--runroot",
                           str(run), "--storage-driver", "vfs", "pull", "-q",
                           "--tls-verify=false", "--authfile", authfile, private_image],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    subprocess.run(["podman", "--root", str(tmp_path / "proot"), "--runroot", str(run),
                    "--storage-driver", "vfs", "rmi", "-a", "-f"], capture_output=True)
    subprocess.run(["rm", "-rf", run], check=False)


# -- from Python ---------------------------------------------------------------------------


@pytest.fixture
def rt(make_runtime: Any, registries_conf: str) -> Any:
    return make_runtime(registries_conf=registries_conf)


def test_runtime_login_and_logout(rt, auth_registry, authfile):
    with pytest.raises(RegistryUnauthorizedError, match="invalid username/password"):
        rt.login(auth_registry.host, REGISTRY_USER, "wrong", authfile=authfile)
    result = rt.login(auth_registry.host, REGISTRY_USER, REGISTRY_PASSWORD,
                      authfile=authfile)
    assert (result.key, result.username, result.authfile, result.existing) == (
        auth_registry.host, REGISTRY_USER, authfile, False)
    assert rt.login(auth_registry.host, authfile=authfile).existing
    assert rt.get_login(auth_registry.host, authfile) == REGISTRY_USER
    assert rt.logout(auth_registry.host, authfile=authfile) == LogoutResult(
        auth_registry.host, removed=True)
    with pytest.raises(RegistryAuthError, match="not logged into"):
        rt.get_login(auth_registry.host, authfile)
    with pytest.raises(InvalidArgError, match="a user name and a password are needed"):
        rt.login(auth_registry.host, authfile=authfile)


def test_login_without_a_registry_uses_the_first_search_registry(rt, registry, authfile):
    # The anonymous registry answers /v2/ without a challenge: nothing to refuse.
    assert rt.login("", "anyone", "x", authfile=authfile).key == registry.host


def test_cert_dir_trusts_the_registrys_ca(rt, tmp_path, authfile):
    directory = tmp_path / "tls"
    directory.mkdir()
    cert, key = self_signed(str(directory))
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(Path(cert).read_bytes())
    with run_registry(str(directory), tls=(cert, key)) as tls:
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            rt.login(tls.host, "u", "p", authfile=authfile, tls_verify=True)
        result = rt.login(tls.host, "u", "p", authfile=authfile, tls_verify=True,
                          cert_dir=str(certs))
        assert result.authfile == authfile
        (certs / "client.cert").write_bytes(b"")
        with pytest.raises(Exception, match="missing key client.key"):
            rt.login(tls.host, "u", "p", authfile=authfile, tls_verify=True,
                     cert_dir=str(certs))
