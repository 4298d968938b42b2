"""A registry client on ``http.client``: the distribution spec's pull side.

One client per registry host.  It chooses the scheme (https, verified unless the
registry is insecure; an insecure one is tried over plain http first, then https
without verification), authenticates when the registry asks (``WWW-Authenticate``:
Basic with the credentials, or Bearer: a token from the realm for the scope), follows
redirects (never sending the registry's credentials to another host), and retries
transient failures (connection errors, 429, 5xx) with a growing pause.  Connections are
kept per thread, so blobs can be fetched in parallel.  A TLS context is made only for
an https connection (``http.client`` itself imports ``ssl`` when it is imported, so the
module's cost is paid anyway; building a context, which loads the CA store, is not).
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
from collections.abc import Mapping
from typing import Any

from pypod_core.errors import NoSuchImageError, RegistryAuthError, RegistryError
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
                 backoff: float = 0.2):
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
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            else:
                context = ssl.create_default_context()
                if scheme == "https-noverify":
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout,
                                                   context=context)
            pool[(scheme, netloc)] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self._local.__dict__.get("pool", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close this thread's connections."""
        for conn in self._local.__dict__.pop("pool", {}).values():
            conn.close()

    def _send(self, scheme: str, netloc: str, method: str, path: str,
              headers: Mapping[str, str]) -> http.client.HTTPResponse:
        """One request on a kept connection, once again on a fresh one if the kept
        one had been closed by the server meanwhile."""
        for attempt in (0, 1):
            conn = self._connection(scheme, netloc)
            try:
                conn.request(method, path, headers=dict(headers))
                response = conn.getresponse()
                response._pypod_connection = conn  # type: ignore[attr-defined]
                self._local.__dict__.setdefault("last", {})[(scheme, netloc)] = response
                return response
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self._drop(scheme, netloc)
                if attempt:
                    raise TransientRegistryError(
                        f"{self.host}: connection lost: {exc}") from exc
            except OSError:
                self._drop(scheme, netloc)
                raise
        raise AssertionError("unreachable")

    # -- requests --------------------------------------------------------------------

    def get(self, path: str, headers: Mapping[str, str] | None = None, *,
            scope: str = "", what: str = "") -> http.client.HTTPResponse:
        """GET ``path`` (``/v2/...``): the 2xx response, its body not yet read.
        NoSuchImageError for 404, RegistryAuthError for 401/403 after authenticating,
        RegistryError for the rest; transient failures are retried."""
        for attempt in range(self.retries + 1):
            try:
                return self._get_once(path, dict(headers or {}), scope, what)
            except TransientRegistryError as exc:
                if attempt == self.retries:
                    raise RegistryError(f"{exc} (tried {attempt + 1} times)") from None
                time.sleep(getattr(exc, "retry_after", None)
                           or self.backoff * (2 ** attempt))
        raise AssertionError("unreachable")

    def _get_once(self, path: str, headers: dict[str, str], scope: str,
                  what: str) -> http.client.HTTPResponse:
        authenticated = False
        while True:
            response = self._follow(path, headers, scope)
            if response.status == 401 and not authenticated:
                challenge = response.getheader("WWW-Authenticate", "")
                body = response.read()
                self._authenticate(challenge, scope, body, what or path)
                authenticated = True
                continue
            return self._check(response, what or path)

    def _follow(self, path: str, headers: dict[str, str], scope: str
                ) -> http.client.HTTPResponse:
        """Send to the registry, following redirects; the credentials go only to it."""
        scheme, netloc = self._scheme(), self.endpoint
        url_path = path
        own = True
        for _ in range(_MAX_REDIRECTS + 1):
            sent = {"User-Agent": USER_AGENT, **headers}
            if own:
                auth = self._auth_header(scope)
                if auth:
                    sent["Authorization"] = auth
            try:
                response = self._request_scheme(scheme, netloc, url_path, sent, own)
            except TRANSIENT_ERRORS as exc:
                self._drop(scheme, netloc)
                raise TransientRegistryError(f"{self.host}: {url_path}: {exc}") from exc
            if response.status not in _REDIRECTS:
                return response
            location = response.getheader("Location", "")
            response.read()
            if not location:
                raise RegistryError(f"{self.host}: redirect without a Location for {path}")
            target = urllib.parse.urlsplit(urllib.parse.urljoin(
                f"{_plain(scheme)}://{netloc}{url_path}", location))
            new_scheme = target.scheme if target.scheme == "http" else (
                "https-noverify" if scheme == "https-noverify" and
                target.netloc == netloc else "https")
            own = own and target.netloc == netloc
            scheme, netloc = new_scheme, target.netloc
            url_path = target.path + (f"?{target.query}" if target.query else "")
        raise RegistryError(f"{self.host}: too many redirects for {path}")

    def _request_scheme(self, scheme: str, netloc: str, path: str, headers: dict[str, str],
                        own: bool) -> http.client.HTTPResponse:
        """Send; on the registry itself, the first request also settles the scheme."""
        if not own or len(self._schemes) == 1:
            return self._checked_send(scheme, netloc, path, headers)
        try:
            response = self._checked_send(scheme, netloc, path, headers)
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
            return self._checked_send(self._schemes[0], netloc, path, headers)
        except OSError as exc:
            raise RegistryError(f"pinging container registry {self.host}: {first_error}; "
                                f"over https: {exc}") from None

    def _checked_send(self, scheme: str, netloc: str, path: str, headers: dict[str, str]
                      ) -> http.client.HTTPResponse:
        try:
            return self._send(scheme, netloc, "GET", path, headers)
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
            raise RegistryAuthError(
                f"{what}: {text or 'unauthorized'} (HTTP {status} from {self.host}): "
                f"log in, or give --creds or --authfile")
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
                raise RegistryAuthError(
                    f"{what}: {error_text(body) or 'unauthorized: authentication required'}"
                    f" (log in, or give --creds or --authfile)")
            self._basic = True
            return
        if kind != "bearer" or "realm" not in params:
            raise RegistryAuthError(f"{self.host}: unsupported authentication challenge "
                                    f"{challenge!r}")
        token = self._fetch_token(params, params.get("scope") or scope)
        with self._lock:
            self._tokens[scope] = token

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        """GET the realm with service and scope (Basic credentials if any)."""
        realm = urllib.parse.urlsplit(params["realm"])
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryAuthError(f"{self.host}: bad token realm {params['realm']!r}")
        query = [(k, v) for k, v in urllib.parse.parse_qsl(realm.query)]
        if params.get("service"):
            query.append(("service", params["service"]))
        if scope:
            query.append(("scope", scope))
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
            raise RegistryAuthError(f"{self.host}: the token server refused the "
                                    f"credentials: {error_text(body) or response.reason}")
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
