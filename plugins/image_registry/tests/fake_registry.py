"""A tiny registry on http.server, for what Debian's docker-registry cannot be made to do:
Bearer token auth (its token auth needs a signed JWT issuer), a 503 once, a redirect, a
blob whose bytes do not match its digest, a connection that drops mid-blob.  A fake
only where the real thing cannot behave so; everything else is tested against the real
registry."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator

import attrs
from registry_helpers import OCI_MANIFEST, digest_of


@attrs.define
class FakeRegistry:
    """What the fake serves and what it saw.  ``blobs`` and ``manifests`` map a digest
    (or a tag) to bytes; ``fail_once`` holds paths answered 503 once; ``redirect``
    sends blob requests to ``http://<redirect>``; ``bearer`` demands a token."""

    host: str = ""
    blobs: dict[str, bytes] = attrs.field(factory=dict)
    manifests: dict[str, tuple[bytes, str]] = attrs.field(factory=dict)
    fail_once: set[str] = attrs.field(factory=set)
    fail_always: bool = False
    drop_once: set[str] = attrs.field(factory=set)
    redirect: str = ""
    bearer: bool = False
    content_type: bool = True
    requests: list[tuple[str, dict[str, str]]] = attrs.field(factory=list)
    token_requests: list[dict[str, str]] = attrs.field(factory=list)

    def add_image(self, repo: str, tag: str, layers: list[bytes], config: bytes,
                  with_media_type: bool = True) -> str:
        doc: dict = {"schemaVersion": 2}
        if with_media_type:
            doc["mediaType"] = OCI_MANIFEST
        doc["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                         "digest": digest_of(config), "size": len(config)}
        doc["layers"] = [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                          "digest": digest_of(blob), "size": len(blob)} for blob in layers]
        for blob in (config, *layers):
            self.blobs[digest_of(blob)] = blob
        raw = json.dumps(doc).encode()
        self.manifests[f"{repo}:{tag}"] = self.manifests[f"{repo}:{digest_of(raw)}"] = \
            (raw, OCI_MANIFEST)
        return digest_of(raw)

    def blob_requests(self) -> list[str]:
        return [path for path, _ in self.requests if "/blobs/" in path]


def _handler(fake: FakeRegistry) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
                 ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/token":
                fake.token_requests.append({**dict(urllib.parse.parse_qsl(url.query)),
                                            "authorization": self.headers.get(
                                                "Authorization", "")})
                return self.send(200, json.dumps({"token": "tok123"}).encode())
            fake.requests.append((url.path, dict(self.headers)))
            if fake.fail_always or url.path in fake.fail_once:
                fake.fail_once.discard(url.path)
                return self.send(503, b'{"errors":[{"code":"UNAVAILABLE",'
                                      b'"message":"try later"}]}')
            if fake.bearer and self.headers.get("Authorization") != "Bearer tok123":
                realm = f"http://{fake.host}/token"
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                    "WWW-Authenticate": f'Bearer realm="{realm}",service="fake",'
                                        f'scope="repository:{url.path.split("/")[2]}:pull"'})
            parts = url.path.split("/")
            if url.path == "/v2/":
                return self.send(200, b"{}")
            if len(parts) < 5:
                return self.send(404)
            repo, kind, ref = "/".join(parts[2:-2]), parts[-2], parts[-1]
            if kind == "manifests" and f"{repo}:{ref}" in fake.manifests:
                raw, media_type = fake.manifests[f"{repo}:{ref}"]
                headers = {"Content-Type": media_type} if fake.content_type else {}
                return self.send(200, raw, headers)
            if kind == "blobs" and ref in fake.blobs:
                if fake.redirect:
                    return self.send(307, b"", {
                        "Location": f"http://{fake.redirect}{url.path}"})
                if url.path in fake.drop_once:
                    fake.drop_once.discard(url.path)
                    data = fake.blobs[ref]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                return self.send(200, fake.blobs[ref])
            return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN",'
                                  b'"message":"manifest unknown"}]}')

    return Handler


@contextlib.contextmanager
def serve(fake: FakeRegistry) -> Iterator[FakeRegistry]:
    """Serve ``fake`` on a free loopback port in a thread; ``fake.host`` is its address."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
