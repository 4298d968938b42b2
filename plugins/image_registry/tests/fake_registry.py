"""A tiny registry on http.server, for what Debian's docker-registry cannot be made to do:
Bearer token auth (its token auth needs a signed JWT issuer), a 503 once, a redirect, a
blob whose bytes do not match its digest, a connection that drops mid-blob; and for
pushes (HEAD, POST, PATCH, PUT, DELETE) the same faults on uploads
(``upload_faults``).  A fake
only where the real thing cannot behave so; everything else is tested against the real
registry."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

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
    token_requests: list[dict[str, Any]] = attrs.field(factory=list)
    #: Upload sessions (uuid -> bytes so far), and faults for upload requests, taken in
    #: order: "METHOD:503" answers 503, "METHOD:drop" takes the body and closes the
    #: connection without an answer.
    uploads: dict[str, bytearray] = attrs.field(factory=dict)
    upload_faults: list[str] = attrs.field(factory=list)
    #: (method, path) of every push request.
    push_requests: list[tuple[str, str]] = attrs.field(factory=list)

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
            if self.command != "HEAD":  # a HEAD's answer has no body, whatever it says
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/token":
                query = urllib.parse.parse_qsl(url.query)
                fake.token_requests.append({**dict(query), "scopes": [
                    v for k, v in query if k == "scope"], "authorization":
                    self.headers.get("Authorization", "")})
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
            if "/blobs/uploads/" in url.path:  # an upload's status
                have = fake.uploads.get(parts[-1])
                if have is None:
                    return self.send(404, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}')
                return self.send(204, b"", {"Range": f"0-{max(len(have) - 1, 0)}"})
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

        # -- pushes ----------------------------------------------------------------------

        def _push_start(self) -> tuple[list[str], dict[str, list[str]], bytes] | None:
            """Read the body, record the request, check the token; None if answered."""
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.push_requests.append((self.command, url.path))
            if fake.bearer and self.headers.get("Authorization") != "Bearer tok123":
                realm = f"http://{fake.host}/token"
                repo = "/".join(url.path.split("/")[2:-2])
                self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                    "WWW-Authenticate": f'Bearer realm="{realm}",service="fake",'
                                        f'scope="repository:{repo}:pull,push"'})
                return None
            if fake.upload_faults and fake.upload_faults[0].startswith(self.command + ":") \
                    and "/uploads/" in url.path:
                fault = fake.upload_faults.pop(0).partition(":")[2]
                if fault == "503":
                    self.send(503, b'{"errors":[{"code":"UNAVAILABLE"}]}')
                    return None
                if fault == "drop":
                    self._absorb(url, body)  # the chunk arrived; the answer is lost
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
            return url.path.split("/"), dict(urllib.parse.parse_qs(url.query)), body

        def _absorb(self, url: urllib.parse.SplitResult, body: bytes) -> None:
            session = url.path.rsplit("/", 1)[-1]
            if session in fake.uploads:
                fake.uploads[session] += body

        def do_HEAD(self) -> None:  # noqa: N802
            started = self._push_start()
            if started is None:
                return
            parts = started[0]
            digest = parts[-1]
            if fake.redirect and digest in fake.blobs:
                return self.send(307, b"", {"Location": f"http://{fake.redirect}"
                                                        f"{'/'.join(parts)}"})
            if parts[-2] == "blobs" and digest in fake.blobs:
                self.send_response(200)
                self.send_header("Content-Length", str(len(fake.blobs[digest])))
                self.end_headers()
                return None
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None

        def do_POST(self) -> None:  # noqa: N802
            started = self._push_start()
            if started is None:
                return
            parts, query, _ = started
            repo = "/".join(parts[2:-3])
            if "mount" in query and query["mount"][0] in fake.blobs:
                return self.send(201, b"", {"Location": f"/v2/{repo}/blobs/"
                                                        f"{query['mount'][0]}"})
            session = uuid.uuid4().hex
            fake.uploads[session] = bytearray()
            return self.send(202, b"", {"Location": f"http://{fake.host}/v2/{repo}/blobs/"
                                                    f"uploads/{session}?_state=x",
                                        "Range": "0-0"})

        def do_PATCH(self) -> None:  # noqa: N802
            started = self._push_start()
            if started is None:
                return
            parts, _, body = started
            session = parts[-1]
            if session not in fake.uploads:
                return self.send(404, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}')
            start = int(self.headers.get("Content-Range", "0-0").partition("-")[0])
            if start != len(fake.uploads[session]):
                return self.send(416)
            fake.uploads[session] += body
            return self.send(202, b"", {"Location": self.path, "Range":
                                        f"0-{len(fake.uploads[session]) - 1}"})

        def do_PUT(self) -> None:  # noqa: N802
            started = self._push_start()
            if started is None:
                return
            parts, query, body = started
            if parts[-2] == "manifests":
                repo = "/".join(parts[2:-2])
                digest = digest_of(body)
                kind = self.headers.get("Content-Type", "")
                fake.manifests[f"{repo}:{parts[-1]}"] = fake.manifests[
                    f"{repo}:{digest}"] = (body, kind)
                return self.send(201, b"", {"Docker-Content-Digest": digest})
            session = parts[-1]
            if session not in fake.uploads:
                return self.send(404, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}')
            data = bytes(fake.uploads.pop(session) + body)
            if digest_of(data) != query["digest"][0]:
                return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            fake.blobs[query["digest"][0]] = data
            return self.send(201)

        def do_DELETE(self) -> None:  # noqa: N802
            started = self._push_start()
            if started is not None:
                fake.uploads.pop(started[0][-1], None)
                self.send(204)

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
