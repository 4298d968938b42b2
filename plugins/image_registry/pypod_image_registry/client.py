"""A registry client on ``http.client``: the requests of the distribution spec, pulls'
and pushes alike.

One client per registry host.  It chooses the scheme (https, verified unless the
registry is insecure; an insecure one is tried over plain http first, then https
without verification), authenticates when the registry asks (``WWW-Authenticate``:
Basic with the credentials, or Bearer: a token from the realm for the scope), follows
redirects (never sending the registry's credentials to another host), and retries
transient failures (connection errors, 429, 5xx) with a growing pause.  A request's
body is bytes or a callable that makes a fresh stream each time, so that a retry, a
redirect or an authentication round can send it again.  TLS trusts the system's CAs
plus a certs.d directory's (``--cert-dir``, else ``/etc/containers/certs.d/HOST``):
``*.crt`` CAs and ``*.cert``/``*.key`` client certificates, as containers-certs.d(5).
Connections are kept per thread, so blobs can be fetched in parallel.  A TLS context
is made only for an https connection (``http.client`` itself imports ``ssl`` when it
is imported, so the module's cost is paid anyway; building a context, which loads the
CA store, is not).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from typing import Any, BinaryIO

from pypod_core.errors import (
    NoSuchImageError,
    RegistryAuthError,
    RegistryError,
    RegistryUnauthorizedError,
)
from pypod_core.host.auth import Credentials
from pypod_core.host.reference import DOCKER_HUB, DOCKER_HUB_ENDPOINT

USER_AGENT = "pypod/0.1"
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
_MAX_RETRY_AFTER = 5.0
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    ConnectionError, TimeoutError, http.client.IncompleteRead,
    http.client.RemoteDisconnected, http.client.BadStatusLine)
#: A request body: bytes, or a callable giving a fresh stream (or bytes) per sending.
Body = bytes | Callable[[], "BinaryIO | bytes"] | None
#: How much http.client sends per write of a streamed body (its default is 8 KiB).
_BLOCK = 1 << 18
_CHALLENGE = re.compile(r'([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


class TransientRegistryError(RegistryError):
    """A failure that may pass (the registry overloaded, a connection dropped)."""


#: What makes an insecure registry's first scheme (plain http) give way to https.
_FALLBACK_ERRORS: tuple[type[Exception], ...] = (
    TransientRegistryError, OSError, *TRANSIENT_ERRORS)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ``("bearer", {...})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE.finditer(rest)}
    return scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()}


def error_text(body: bytes) -> str:
    """The registry's error as podman prints it (``manifest unknown: manifest
    unknown``), or the start of the body."""
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return f"{str(first.get('code', '')).lower().replace('_', ' ')}: " \
               f"{first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return body[:200].decode(errors="replace").strip()


class RegistryClient:
    """Requests to one registry host, authenticated, redirected and retried."""

    def __init__(self, host: str, *, insecure: bool = False, credentials:
                 Credentials | None = None, retries: int = 3, timeout: float = 60.0,
                 backoff: float = 0.2, cert_dir: str = ""):
        self.host = host
        self.endpoint = DOCKER_HUB_ENDPOINT if host == DOCKER_HUB else host
        self.insecure = insecure
        self.credentials = credentials
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        # Insecure: plain http first (a TLS server answers it with an error), then
        # https without verification.  Decided on the first request, then kept.
        self._schemes = ["http", "https-noverify"] if insecure else ["https"]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False
        self.cert_dir = cert_dir
        self._contexts: dict[str, ssl.SSLContext] = {}

    # -- connections -----------------------------------------------------------------

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = \
            self._local.__dict__.setdefault("pool", {})
        conn = pool.get((scheme, netloc))
        last = self._local.__dict__.get("last", {}).get((scheme, netloc))
        if conn is not None and last is not None and not last.isclosed():
            conn.close()  # the last response was abandoned half read: start afresh
            conn = None
        if conn is None:
            if scheme == "http":
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout,
                                                  blocksize=_BLOCK)
            else:
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout,
                                                   context=self._context(scheme, netloc),
                                                   blocksize=_BLOCK)
            pool[(scheme, netloc)] = conn
        return conn

    def _context(self, scheme: str, netloc: str) -> ssl.SSLContext:
        """The TLS context for ``netloc`` (made once: loading the CAs costs): the
        system's CAs and the certs.d directory's; unverified for ``https-noverify``."""
        key = f"{scheme} {netloc}"
        with self._lock:
            if key not in self._contexts:
                # lazy: only an https registry reads certs.d
                from pypod_image_registry.certs import tls_context

                own = netloc == self.endpoint
                self._contexts[key] = tls_context(
                    self.host if own else netloc, verify=scheme != "https-noverify",
                    cert_dir=self.cert_dir if own else "")
            return self._contexts[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self._local.__dict__.get("pool", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close this thread's connections."""
        for conn in self._local.__dict__.pop("pool", {}).values():
            conn.close()

    def _send(self, scheme: str, netloc: str, method: str, path: str,
              headers: Mapping[str, str], body: Body = None) -> http.client.HTTPResponse:
        """One request on a kept connection, once again on a fresh one if the kept
        one had been closed by the server meanwhile.  Not a PATCH or a streamed
        body: the server may have taken it before the connection broke, and sending it
        again would append it twice (the upload asks the registry where it is)."""
        again = method != "PATCH" and not callable(body)
        for attempt in (0, 1):
            conn = self._connection(scheme, netloc)
            try:
                conn.request(method, path, body=_payload(body), headers=dict(headers))
                response = conn.getresponse()
                response._pypod_connection = conn  # type: ignore[attr-defined]
                self._local.__dict__.setdefault("last", {})[(scheme, netloc)] = response
                return response
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self._drop(scheme, netloc)
                if attempt or not again:
                    raise TransientRegistryError(
                        f"{self.host}: connection lost: {exc}") from exc
            except BaseException:
                # Anything else (a timeout, the body's reader failing, a digest
                # mismatch found while sending): the connection is mid-request.
                self._drop(scheme, netloc)
                raise
        raise AssertionError("unreachable")

    # -- requests --------------------------------------------------------------------

    def get(self, path: str, headers: Mapping[str, str] | None = None, *,
            scope: str = "", what: str = "") -> http.client.HTTPResponse:
        """GET ``path`` (``/v2/...``): the 2xx response, its body not yet read.
        NoSuchImageError for 404, RegistryUnauthorizedError for 401 after
        authenticating (RegistryAuthError for 403), RegistryError for the rest;
        transient failures are retried."""
        return self.request("GET", path, headers, scope=scope, what=what)

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                *, body: Body = None, scope: str = "", what: str = "",
                accept: Collection[int] = (), retries: int | None = None
                ) -> http.client.HTTPResponse:
        """Send ``method`` to ``path`` (``/v2/...``, or an absolute URL the registry
        gave, such as an upload's ``Location``) and return the response, its body not
        yet read: a 2xx one, or one whose status is in ``accept`` (HEAD's 404).  Errors
        as :meth:`get`'s.  Transient failures are retried ``retries`` times (default:
        the client's); with ``retries=0`` a TransientRegistryError reaches the caller,
        which may resume (a chunked upload)."""
        tries = self.retries if retries is None else retries
        for attempt in range(tries + 1):
            try:
                return self._once(method, path, dict(headers or {}), body, scope,
                                  what or path, frozenset(accept))
            except TransientRegistryError as exc:
                if attempt == tries:
                    if not tries:
                        raise
                    raise RegistryError(f"{exc} (tried {attempt + 1} times)") from None
                time.sleep(getattr(exc, "retry_after", None)
                           or self.backoff * (2 ** attempt))
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, headers: dict[str, str], body: Body,
              scope: str, what: str, accept: frozenset[int]) -> http.client.HTTPResponse:
        authenticated = False
        while True:
            sent_auth = self._auth_header(scope)
            response = self._follow(method, path, headers, body, scope)
            if response.status == 401 and not authenticated:
                challenge = response.getheader("WWW-Authenticate", "")
                text = response.read()
                # Another thread may have authenticated while this request was on its
                # way without credentials: then send it again with them.
                if self._auth_header(scope) == sent_auth:
                    self._authenticate(challenge, scope, text, what)
                authenticated = True
                continue
            if response.status in accept:
                return response
            return self._check(response, what)

    def _target(self, url: str, base: tuple[str, str, str] | None = None
                ) -> tuple[str, str, str, bool]:
        """(scheme, netloc, path, whether it is the registry itself) of ``url``, a
        path on the registry or a URL (relative to ``base``, a redirect's origin)."""
        scheme = self._scheme()
        if base is None and not url.startswith(("http://", "https://")):
            return scheme, self.endpoint, url, True
        origin = base or (scheme, self.endpoint, "/v2/")
        target = urllib.parse.urlsplit(urllib.parse.urljoin(
            f"{_plain(origin[0])}://{origin[1]}{origin[2]}", url))
        own = target.netloc == self.endpoint
        if target.scheme == "http":
            new_scheme = "http"
        elif own and scheme == "https-noverify":
            new_scheme = "https-noverify"
        else:
            new_scheme = "https"
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        return new_scheme, target.netloc, path, own

    def _follow(self, method: str, path: str, headers: dict[str, str], body: Body,
                scope: str) -> http.client.HTTPResponse:
        """Send to the registry, following redirects; the credentials go only to it."""
        scheme, netloc, url_path, own = self._target(path)
        for _ in range(_MAX_REDIRECTS + 1):
            sent = {"User-Agent": USER_AGENT, **headers}
            if own:
                auth = self._auth_header(scope)
                if auth:
                    sent["Authorization"] = auth
            try:
                response = self._request_scheme(method, scheme, netloc, url_path, sent,
                                                body, own)
            except TRANSIENT_ERRORS as exc:
                self._drop(scheme, netloc)
                raise TransientRegistryError(f"{self.host}: {url_path}: {exc}") from exc
            if response.status not in _REDIRECTS:
                return response
            location = response.getheader("Location", "")
            response.read()
            if not location:
                raise RegistryError(f"{self.host}: redirect without a Location for {path}")
            if response.status == 303 and method != "HEAD":
                method, body = "GET", None  # "see other": fetch it, send nothing
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in ("content-type", "content-length")}
            was_own = own
            scheme, netloc, url_path, own = self._target(location, (scheme, netloc,
                                                                     url_path))
            own = own and was_own
        raise RegistryError(f"{self.host}: too many redirects for {path}")

    def _request_scheme(self, method: str, scheme: str, netloc: str, path: str,
                        headers: dict[str, str], body: Body, own: bool
                        ) -> http.client.HTTPResponse:
        """Send; on the registry itself, the first request also settles the scheme."""
        if not own or len(self._schemes) == 1:
            return self._checked_send(method, scheme, netloc, path, headers, body)
        try:
            response = self._checked_send(method, scheme, netloc, path, headers, body)
        except _FALLBACK_ERRORS as exc:
            if len(self._schemes) == 1 or scheme != self._schemes[0]:
                raise
            first_error: BaseException = exc
        else:
            if response.status != 400:
                with self._lock:
                    self._schemes = [scheme]
                return response
            response.read()
            first_error = RegistryError("HTTP 400 over plain http")
        with self._lock:
            if len(self._schemes) > 1:
                self._schemes = self._schemes[1:]
        try:
            return self._checked_send(method, self._schemes[0], netloc, path, headers,
                                      body)
        except OSError as exc:
            raise RegistryError(f"pinging container registry {self.host}: {first_error}; "
                                f"over https: {exc}") from None

    def _checked_send(self, method: str, scheme: str, netloc: str, path: str,
                      headers: dict[str, str], body: Body) -> http.client.HTTPResponse:
        try:
            return self._send(scheme, netloc, method, path, headers, body)
        except TRANSIENT_ERRORS:
            raise
        except OSError as exc:
            raise RegistryError(_describe_os_error(self.host, scheme, netloc, exc)) \
                from None

    def _scheme(self) -> str:
        return self._schemes[0]

    def _check(self, response: http.client.HTTPResponse, what: str
               ) -> http.client.HTTPResponse:
        status = response.status
        if 200 <= status < 300:
            return response
        body = response.read()
        text = error_text(body) or response.reason
        if status in _TRANSIENT_STATUS:
            error = TransientRegistryError(f"{self.host}: {what}: HTTP {status}: {text}")
            retry_after = response.getheader("Retry-After", "")
            if retry_after.isdigit():
                error.retry_after = min(float(retry_after), _MAX_RETRY_AFTER)  # type: ignore[attr-defined]
            raise error
        if status in (401, 403):
            kind = RegistryUnauthorizedError if status == 401 else RegistryAuthError
            raise kind(f"{what}: {text or 'unauthorized'} (HTTP {status} from "
                       f"{self.host}): log in, or give --creds or --authfile")
        if status == 404:
            raise NoSuchImageError(f"{what}: {text or 'not found'}")
        raise RegistryError(f"{self.host}: {what}: HTTP {status}: {text}")

    # -- authentication --------------------------------------------------------------

    def _auth_header(self, scope: str) -> str:
        token = self._tokens.get(scope) or self._tokens.get("")
        if token:
            return f"Bearer {token}"
        if self._basic and self.credentials:
            pair = f"{self.credentials.username}:{self.credentials.password}"
            return "Basic " + base64.b64encode(pair.encode()).decode()
        return ""

    def _authenticate(self, challenge: str, scope: str, body: bytes, what: str) -> None:
        """Answer a 401: remember to send Basic credentials, or get a Bearer token."""
        kind, params = parse_challenge(challenge)
        if kind == "basic":
            if not self.credentials or self._basic:
                raise RegistryUnauthorizedError(
                    f"{what}: {error_text(body) or 'unauthorized: authentication required'}"
                    f" (log in, or give --creds or --authfile)")
            self._basic = True
            return
        if kind != "bearer" or "realm" not in params:
            raise RegistryAuthError(f"{self.host}: unsupported authentication challenge "
                                    f"{challenge!r}")
        token = self._fetch_token(params, scope)
        with self._lock:
            self._tokens[scope] = token

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        """GET the realm with service and scopes: the challenge's and ``scope``'s
        (space-separated, e.g. a push's ``repository:A:pull,push repository:B:pull``
        to mount from B), with Basic credentials if any."""
        realm = urllib.parse.urlsplit(params["realm"])
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryAuthError(f"{self.host}: bad token realm {params['realm']!r}")
        query = [(k, v) for k, v in urllib.parse.parse_qsl(realm.query)]
        if params.get("service"):
            query.append(("service", params["service"]))
        scopes = dict.fromkeys([*params.get("scope", "").split(), *scope.split()])
        query += [("scope", one) for one in scopes]
        headers = {"User-Agent": USER_AGENT}
        if self.credentials and self.credentials.username:
            query.append(("account", self.credentials.username))
            pair = f"{self.credentials.username}:{self.credentials.password}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        path = (realm.path or "/") + "?" + urllib.parse.urlencode(query)
        scheme = realm.scheme
        if scheme == "https" and self.insecure:
            scheme = "https-noverify"
        try:
            response = self._send(scheme, realm.netloc, "GET", path, headers)
            body = response.read()
        except OSError as exc:
            raise RegistryAuthError(_describe_os_error(self.host, scheme, realm.netloc, exc)) \
                from None
        if response.status in (401, 403):
            raise RegistryUnauthorizedError(
                f"{self.host}: the token server refused the credentials: "
                f"{error_text(body) or response.reason}")
        if response.status != 200:
            raise RegistryAuthError(f"{self.host}: token server {realm.netloc}: HTTP "
                                    f"{response.status}: {error_text(body)}")
        try:
            data: dict[str, Any] = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(f"{self.host}: the token server gave no token")
        return token


def abandon(response: http.client.HTTPResponse) -> None:
    """Close ``response``; if its body was not read to the end, close its connection
    too, so that no later request reads the rest of this body as its answer."""
    if response.fp is not None:
        conn = getattr(response, "_pypod_connection", None)
        if conn is not None:
            conn.close()
    response.close()


def _payload(body: Body) -> BinaryIO | bytes | None:
    """What to send for ``body``: made afresh for each sending."""
    return body() if callable(body) else body


def _plain(scheme: str) -> str:
    return "https" if scheme.startswith("https") else "http"


def _describe_os_error(host: str, scheme: str, netloc: str, exc: OSError) -> str:
    url = f"{_plain(scheme)}://{netloc}/v2/"
    reason = getattr(exc, "reason", "") or exc.strerror or str(exc)
    if type(exc).__name__.startswith("SSL"):
        return (f"pinging container registry {host}: {url}: TLS failed ({reason}); if it "
                "is an http registry, use --tls-verify=false or mark it insecure in "
                "registries.conf")
    return f"pinging container registry {host}: {url}: {reason}"
