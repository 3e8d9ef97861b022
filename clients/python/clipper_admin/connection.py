"""ClipperConnection: Clipper's admin client, speaking to clipper's management API (:1338) and query API (:1337)."""

from __future__ import annotations

import base64
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import requests

from .args import as_int as _int
from .exceptions import ClipperException
from .lifecycle import LifecycleMethods
from .models import ModelMethods

DEFAULT_URL = "http://127.0.0.1:1338"
DEFAULT_QUERY_PORT = 1337
DEFAULT_TIMEOUT_SECONDS = 120.0

Json = Any

# Sentinel for "send no body" (None is a valid JSON body: null).
_NO_BODY = object()


def _jsonable_input(value: Any) -> Any:
    """One query input as JSON: bytes become base64 (the `bytes` input type), numpy arrays become lists."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "tolist") and not isinstance(value, (str, list, tuple)):
        return value.tolist()
    return value


def _host_port(url: str, port: Optional[int] = None) -> str:
    """`host:port` of a URL (IPv6 hosts in brackets); `port` replaces the URL's own."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ClipperException(f"'{url}' is not a URL with a host, such as http://127.0.0.1:1338")
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


class ClipperConnection(LifecycleMethods, ModelMethods):
    """A connection to clipper: Clipper's ``ClipperConnection`` methods, plus query helpers.

    ``ClipperConnection(LocalContainerManager())`` (or ``DockerContainerManager()``, as in Clipper) and then
    ``start_clipper()`` or ``connect()``; ``ClipperConnection()`` or ``ClipperConnection(url=...)`` talks to a
    server that runs already. Every method raises :class:`ClipperException` on failure, with the server's
    ``error`` and ``cause``. Unlike Clipper, methods do not require ``connect()`` first.
    """

    def __init__(
        self,
        container_manager: Any = None,
        url: str = DEFAULT_URL,
        token: Optional[str] = None,
        query_url: Optional[str] = None,
        data_dir: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Describes the connection; nothing is sent until a method is called (see :meth:`connect`).

        Args:
            container_manager: Clipper's first argument: a ``LocalContainerManager``, ``DockerContainerManager``
                or ``KubernetesContainerManager``, which knows (or starts) the server. A string here is taken as ``url``.
            url: without a container manager, the management API, ``http://127.0.0.1:1338`` by default.
            token: the management token. When None: the container manager's, else ``CLIPPER_TOKEN``, else the file
                ``<data_dir>/token`` (read when first needed, so a server started later still works).
            query_url: the query API; by default the management URL's scheme and host with port 1337.
            data_dir: the server's data directory, for the token file; default ``CLIPPER_DATA_DIR``, else ``./.clipper``.
            timeout: seconds to wait for any one answer. Deploys wait for the replicas to load, so keep it generous.
        """
        if isinstance(container_manager, str):
            url, container_manager = container_manager, None
        self.cm = container_manager
        self._url = url.rstrip("/")
        parts = urlsplit(self._url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClipperException(f"url '{url}' must be an http(s) URL such as {DEFAULT_URL}")
        self._query_url = (query_url or f"{parts.scheme}://{_host_port(self._url, DEFAULT_QUERY_PORT)}").rstrip("/")
        self.data_dir = data_dir or os.environ.get("CLIPPER_DATA_DIR") or ".clipper"
        self.timeout = timeout
        self.connected = False
        self._token = token
        self._token_source = "the token argument" if token else None
        self._session = requests.Session()
        #: app name → the query token predict sends (set by register_application or set_query_token).
        self._query_tokens: Dict[str, str] = {}

    @property
    def url(self) -> str:
        """The management API's URL (the container manager's, when there is one)."""
        return self.cm.admin_url if self.cm is not None else self._url

    @property
    def query_url(self) -> str:
        """The query API's URL (the container manager's, when there is one)."""
        return self.cm.query_url if self.cm is not None else self._query_url

    # ---- token and HTTP -------------------------------------------------------------------------------------

    def _resolve_token(self) -> Tuple[Optional[str], str]:
        """The token and where it came from: argument, CLIPPER_TOKEN, or the data directory's token file."""
        if self._token:
            return self._token, self._token_source or "the token argument"
        if self.cm is not None:
            token = self.cm.get_token()
            if token:
                return token, f"the {type(self.cm).__name__}"
        env = os.environ.get("CLIPPER_TOKEN", "").strip()
        if env:
            return env, "CLIPPER_TOKEN"
        path = os.path.join(self.data_dir, "token")
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError:
            return None, path
        if token:
            self._token, self._token_source = token, path
        return token or None, path

    def _auth_header(self) -> Dict[str, str]:
        token, source = self._resolve_token()
        if not token:
            raise ClipperException(
                f"no management token: {source} cannot be read and neither token= nor CLIPPER_TOKEN is set",
                cause="pass ClipperConnection(token=...), set CLIPPER_TOKEN, or data_dir= the server's --data-dir",
                code="unauthorized",
            )
        return {"Authorization": f"Bearer {token}"}

    def _send(
        self,
        method: str,
        base: str,
        path: str,
        *,
        json_body: Any = _NO_BODY,
        data: Any = None,
        auth: bool = True,
        params: Optional[Dict[str, str]] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> requests.Response:
        """One HTTP call; connection failures, timeouts and error statuses become ClipperException."""
        headers = {**(self._auth_header() if auth else {}), **(headers or {})}
        kwargs: Dict[str, Any] = {"headers": headers, "timeout": self.timeout}
        if params:
            kwargs["params"] = params
        if json_body is not _NO_BODY:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
            headers["Content-Type"] = "application/octet-stream"
        target = f"{method} {base}{path}"
        try:
            res = self._session.request(method, base + path, **kwargs)
        except requests.Timeout as err:
            raise ClipperException(
                f"{target}: no answer within {self.timeout:g} s", cause="raise ClipperConnection(timeout=...) or look at the server's log"
            ) from err
        except requests.ConnectionError as err:
            raise ClipperException(
                f"could not reach clipper at {base} ({target}): is `clipper serve` running there?", cause=str(err)
            ) from err
        if res.status_code >= 400:
            raise self._error(res, target, query_token_sent=None if auth else "Authorization" in headers)
        return res

    def _error(self, res: requests.Response, target: str, query_token_sent: Optional[bool] = None) -> ClipperException:
        """The server's JSON error ({error, cause, code}) as a ClipperException; other bodies are quoted.
        ``query_token_sent`` is None for a management call, else whether a query sent a query token."""
        try:
            body = res.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            error, cause, code = str(body["error"]), body.get("cause"), body.get("code")
        else:
            error, cause, code = (res.text.strip()[:300] or res.reason or "no body"), None, None
        if res.status_code == 401 and query_token_sent is not None:
            # A query is refused for its app's query token, never for the management token (queries send none).
            error = f"{error}: {'the query token sent was refused' if query_token_sent else 'no query token was sent'}"
            cause = "pass predict(..., query_token=...), or register_application(..., query_token=...) or set_query_token(app, token) on this connection"
        elif res.status_code == 401:
            _, source = self._resolve_token()
            error = f"{error}: the server refused the token from {source}"
            cause = cause or "use the token in the server's <data-dir>/token, or the CLIPPER_TOKEN it was started with"
        message = f"{target} failed with {res.status_code}: {error}" + (f" ({cause})" if cause else "")
        return ClipperException(message, error=error, cause=cause, code=code, status=res.status_code)

    def _admin(self, path: str, body: Any = _NO_BODY, method: str = "POST") -> Json:
        """An authenticated management call; returns the parsed JSON answer."""
        if method == "POST" and body is _NO_BODY:
            body = {}
        res = self._send(method, self.url, f"/admin/{path}", json_body=body)
        try:
            return res.json()
        except ValueError as err:
            raise ClipperException(f"/admin/{path} answered {res.status_code} with a body that is not JSON: {res.text[:200]!r}") from err

    def _admin_or_none(self, path: str, body: Any) -> Optional[Json]:
        """Like _admin, but None for an unknown name: the server answers Clipper's ``{}`` (older servers a 404)."""
        try:
            found = self._admin(path, body)
            return None if found == {} else found
        except ClipperException as err:
            if err.status == 404:
                return None
            raise

    # ---- connection ------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Checks that the management API answers ``GET /admin/ping`` and that it accepts the token.

        Raises:
            ClipperException: when the server is unreachable, is not clipper, or refuses the token.
        """
        if self.cm is not None:
            self.cm.connect()
        res = self._send("GET", self.url, "/admin/ping", auth=False)
        if res.text.strip() != "pong":
            raise ClipperException(
                f"{self.url} answered /admin/ping with {res.text[:80]!r}, not 'pong': is this clipper's management API (port 1338)?"
            )
        self._admin("get_all_applications", {"verbose": False})
        self.connected = True

    def get_query_addr(self) -> str:
        """The query API's ``host:port`` (``"127.0.0.1:1337"`` by default), as Clipper's method returns it."""
        return self.cm.get_query_addr() if self.cm is not None else _host_port(self.query_url)

    def get_metric_addr(self) -> str:
        """Where Prometheus scrapes: clipper serves ``/metrics`` on the query API, so this is its ``host:port``
        (Clipper ran a separate Prometheus server)."""
        return self.get_query_addr()

    # ---- applications ----------------------------------------------------------------------------------------

    def register_application(
        self, name: str, input_type: str, default_output: str, slo_micros: int, cache: bool = True, query_token: Optional[str] = None
    ) -> None:
        """Creates an application: the endpoint ``POST /<name>/predict`` on the query API.

        Args:
            name: 1-63 lowercase letters, digits, '-' and '.'.
            input_type: one of ``integers``, ``floats``, ``doubles``, ``strings``, ``bytes``.
            default_output: what a query gets when no prediction is ready within the SLO.
            slo_micros: the latency objective in microseconds (1000 to 60000000).
            cache: whether identical queries are answered from the prediction cache (a clipper addition; the
                server keeps it per application).
            query_token: a secret of 16 to 256 characters that every query of the app must then carry (a clipper
                addition; only its hash is stored). This connection remembers it: its ``predict`` sends it.

        Raises:
            ClipperException: with status 409 when the application exists already, 400 for a bad field.
        """
        if not isinstance(cache, bool):
            raise ClipperException(f"cache must be True or False, got {cache!r}")
        if query_token is not None and not isinstance(query_token, str):
            raise ClipperException(f"query_token must be a string, got {type(query_token).__name__}")
        body = {
            "name": name,
            "input_type": input_type,
            "default_output": str(default_output),
            "latency_slo_micros": _int("slo_micros", slo_micros),
            "cache": cache,
        }
        if query_token:
            body["query_token"] = query_token
        self._admin("add_app", body)
        if query_token:
            self._query_tokens[name] = query_token

    def get_all_apps(self, verbose: bool = False) -> List[Any]:
        """All applications: their names, or with ``verbose=True`` a dict per application."""
        return self._admin("get_all_applications", {"verbose": bool(verbose)})

    def get_app_info(self, name: str) -> Optional[Dict[str, Any]]:
        """One application as a dict (input type, default output, SLO, policy, linked models); None when unknown."""
        return self._admin_or_none("get_application", {"name": name})

    def unregister_application(self, name: str) -> None:
        """Deletes an application and its links; its models keep running."""
        self._admin("delete_app", {"name": name})

    def delete_application(self, name: str) -> None:
        """Clipper's older name of :meth:`unregister_application`."""
        self.unregister_application(name)

    def link_model_to_app(self, app_name: str, model_name: str) -> List[str]:
        """Routes an application's queries to a model (its current version). Returns the app's linked models."""
        return self._admin("add_model_links", {"app_name": app_name, "model_names": [model_name]})["linked_models"]

    def unlink_model_from_app(self, app_name: str, model_name: str) -> List[str]:
        """Removes a model's link to an application. Returns the models still linked."""
        return self._admin("delete_model_links", {"app_name": app_name, "model_names": [model_name]})["linked_models"]

    def get_linked_models(self, app_name: str) -> List[str]:
        """The names of the models linked to an application."""
        return self._admin("get_linked_models", {"app_name": app_name})

    # ---- queries ---------------------------------------------------------------------------------------------

    def set_query_token(self, app_name: str, query_token: Optional[str]) -> None:
        """The query token ``predict`` sends for ``app_name`` (None: none); ``register_application`` sets it."""
        if query_token:
            self._query_tokens[app_name] = query_token
        else:
            self._query_tokens.pop(app_name, None)

    def _query(self, app_name: str, body: Dict[str, Any], query_token: Optional[str]) -> requests.Response:
        token = query_token or self._query_tokens.get(app_name)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return self._send("POST", self.query_url, f"/{app_name}/predict", auth=False, json_body=body, headers=headers)

    def predict(self, app_name: str, input: Any, query_token: Optional[str] = None) -> Dict[str, Any]:  # noqa: A002 - Clipper's parameter name
        """Sends one query; returns ``{"query_id", "output", "default"}`` (and ``default_explanation``).

        ``input`` is a list of numbers, a string, or bytes (sent base64-encoded for the ``bytes`` input type).
        ``query_token``: the app's query token, when it has one (default: the one this connection registered
        the app with, or set with :meth:`set_query_token`).
        """
        return self._query(app_name, {"input": _jsonable_input(input)}, query_token).json()

    def predict_batch(self, app_name: str, inputs: Sequence[Any], query_token: Optional[str] = None) -> List[Dict[str, Any]]:
        """Sends several queries in one request; returns one answer dict per input, in order."""
        return self._query(app_name, {"input_batch": [_jsonable_input(i) for i in inputs]}, query_token).json()["batch_predictions"]
