"""Test helpers: a real registry (Debian's docker-registry) on 127.0.0.1, our own
minimal push (monolithic blob upload, manifest PUT), and images built in memory.

The pushes are the tests' own code on http.client, not the transport under test."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Iterator

import attrs

from pypod_core.testing.host import need_binary

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tar(files: dict[str, bytes]) -> bytes:
    """A layer tar of regular files (mode 0644, root-owned, fixed mtime)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def compress(tar: bytes, compression: str) -> tuple[bytes, str]:
    """The blob and OCI media type of ``tar`` compressed with gzip, zstd or none."""
    if compression == "gzip":
        return gzip.compress(tar, compresslevel=1, mtime=0), LAYER_GZIP
    if compression == "zstd":
        need_binary("zstd", "zstd")
        return subprocess.run(["zstd", "-q", "-c"], input=tar, capture_output=True,
                              check=True).stdout, LAYER_ZSTD
    return tar, LAYER_TAR


def image_config(diff_ids: list[str], arch: str = "amd64", **labels: str) -> bytes:
    return json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["sh"], "Labels": {"arch": arch, **labels}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }, sort_keys=True).encode()


@attrs.define
class Registry:
    """A docker-registry process serving ``host`` (``127.0.0.1:PORT``)."""

    host: str
    root: str
    process: subprocess.Popen | None = None
    user: str = ""
    password: str = ""
    tls: bool = False

    def connection(self) -> http.client.HTTPConnection:
        if self.tls:
            import ssl

            context = ssl._create_unverified_context()  # the tests' own self-signed cert
            return http.client.HTTPSConnection(self.host, timeout=30, context=context)
        return http.client.HTTPConnection(self.host, timeout=30)

    def headers(self) -> dict[str, str]:
        if not self.user:
            return {}
        pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = self.connection()
        conn.request(method, path, body=body, headers={**self.headers(), **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response

    def push_blob(self, repo: str, data: bytes) -> str:
        """Monolithic upload: POST for a session, PUT the bytes with ?digest=."""
        digest = digest_of(data)
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert started.status == 202, started.status
        location = urllib.parse.urlsplit(started.getheader("Location", ""))
        query = (location.query + "&" if location.query else "") + \
            urllib.parse.urlencode({"digest": digest})
        done = self.request("PUT", f"{location.path}?{query}", data,
                            {"Content-Type": "application/octet-stream"})
        assert done.status == 201, done.status
        return digest

    def push_manifest(self, repo: str, ref: str, manifest: bytes, media_type: str) -> str:
        done = self.request("PUT", f"/v2/{repo}/manifests/{ref}", manifest,
                            {"Content-Type": media_type})
        assert done.status == 201, (done.status, manifest)
        return digest_of(manifest)

    def push_image(self, repo: str, tag: str, layers: list[tuple[bytes, str]],
                   config: bytes, *, media_type: str = OCI_MANIFEST,
                   with_media_type: bool = True) -> tuple[str, bytes]:
        """Push blobs and a manifest; its digest and bytes."""
        config_type = DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG
        doc: dict = {"schemaVersion": 2}
        if with_media_type:
            doc["mediaType"] = media_type
        doc["config"] = {"mediaType": config_type, "digest": self.push_blob(repo, config),
                         "size": len(config)}
        doc["layers"] = [{"mediaType": kind, "digest": self.push_blob(repo, blob),
                          "size": len(blob)} for blob, kind in layers]
        raw = json.dumps(doc).encode()
        return self.push_manifest(repo, tag, raw, media_type), raw

    def blob_path(self, digest: str) -> str:
        hexa = digest.split(":", 1)[1]
        return os.path.join(self.root, "docker/registry/v2/blobs/sha256", hexa[:2], hexa,
                            "data")


@contextlib.contextmanager
def run_registry(directory: str, htpasswd: str = "", tls: tuple[str, str] | None = None
                 ) -> Iterator[Registry]:
    """Start ``docker-registry serve`` on a free loopback port (https with ``tls``, a
    (certificate, key) pair); stop only its pid."""
    port = free_port()
    root = os.path.join(directory, "data")
    os.makedirs(root, exist_ok=True)
    auth = (f"auth:\n  htpasswd:\n    realm: pypod-test\n    path: {htpasswd}\n"
            if htpasswd else "")
    tls_conf = (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "")
    config = os.path.join(directory, "config.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n{tls_conf}{auth}")
    log = open(os.path.join(directory, "registry.log"), "wb")
    need_binary("docker-registry", "docker-registry")
    process = subprocess.Popen(["docker-registry", "serve", config], stdout=log,
                               stderr=subprocess.STDOUT)
    registry = Registry(f"127.0.0.1:{port}", root, process, tls=bool(tls))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = registry.request("GET", "/v2/").status
                if status in (200, 401):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: see {log.name}")
            time.sleep(0.05)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd line (docker-registry accepts only bcrypt), made by Debian's
    ``htpasswd`` (apache2-utils): Python's ``crypt`` is gone from 3.13.  Cost 4, the
    lowest: the registry checks the hash on every request."""
    htpasswd = need_binary("htpasswd", "apache2-utils")
    out = subprocess.run([htpasswd, "-n", "-b", "-B", "-C", "4", user, password],
                         capture_output=True, text=True, check=True).stdout
    line = out.strip()
    assert line.startswith(f"{user}:$2"), line  # a bcrypt hash
    return line + "\n"


def self_signed(directory: str) -> tuple[str, str]:
    """A certificate and key for 127.0.0.1 (openssl)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    need_binary("openssl", "openssl")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key
