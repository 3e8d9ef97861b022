"""ClipperConnection: Clipper's admin client, speaking to clipper's management API (:1338) and query API (:1337)."""
from __future__ import annotations

import base64
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

import requests

from .closure import serialize_closure
from .exceptions import ClipperException

DEFAULT_URL = "http://127.0.0.1:1338"
DEFAULT_QUERY_PORT = 1337
DEFAULT_TIMEOUT_SECONDS = 120.0

Json = Any
Names = Union[str, Sequence[str]]

# Sentinel for "send no body" (None is a valid JSON body: null).
_NO_BODY = object()


def _names(value: Names) -> List[str]:
    """Clipper accepts one name or a list of names."""
    return [value] if isinstance(value, str) else list(value)


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


class ClipperConnection:
    """A connection to a running ``clipper serve``: Clipper's admin methods plus query helpers.

    Every method raises :class:`ClipperException` on failure, with the server's ``error`` and ``cause``.
    """

    def __init__(self, url: str = DEFAULT_URL, token: Optional[str] = None, query_url: Optional[str] = None,
                 data_dir: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        """Describes the connection; nothing is sent until a method is called (see :meth:`connect`).

        Args:
            url: the management API, ``http://127.0.0.1:1338`` by default.
            token: the management token. When None: ``CLIPPER_TOKEN``, else the file ``<data_dir>/token``
                (read when first needed, so a server started later still works).
            query_url: the query API; by default the management URL's scheme and host with port 1337.
            data_dir: the server's data directory, for the token file; default ``CLIPPER_DATA_DIR``, else ``./.clipper``.
            timeout: seconds to wait for any one answer. Deploys wait for the replicas to load, so keep it generous.
        """
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClipperException(f"url '{url}' must be an http(s) URL such as {DEFAULT_URL}")
        self.query_url = (query_url or f"{parts.scheme}://{_host_port(self.url, DEFAULT_QUERY_PORT)}").rstrip("/")
        self.data_dir = data_dir or os.environ.get("CLIPPER_DATA_DIR") or ".clipper"
        self.timeout = timeout
        self.connected = False
        self._token = token
        self._token_source = "the token argument" if token else None
        self._session = requests.Session()

    # ---- token and HTTP -------------------------------------------------------------------------------------

    def _resolve_token(self) -> Tuple[Optional[str], str]:
        """The token and where it came from: argument, CLIPPER_TOKEN, or the data directory's token file."""
        if self._token:
            return self._token, self._token_source or "the token argument"
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
                code="unauthorized")
        return {"Authorization": f"Bearer {token}"}

    def _send(self, method: str, base: str, path: str, *, json_body: Any = _NO_BODY, data: Any = None,
              auth: bool = True) -> requests.Response:
        """One HTTP call; connection failures, timeouts and error statuses become ClipperException."""
        headers = self._auth_header() if auth else {}
        kwargs: Dict[str, Any] = {"headers": headers, "timeout": self.timeout}
        if json_body is not _NO_BODY:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
            headers["Content-Type"] = "application/octet-stream"
        target = f"{method} {base}{path}"
        try:
            res = self._session.request(method, base + path, **kwargs)
        except requests.Timeout as err:
            raise ClipperException(f"{target}: no answer within {self.timeout:g} s",
                                   cause="raise ClipperConnection(timeout=...) or look at the server's log") from err
        except requests.ConnectionError as err:
            raise ClipperException(f"could not reach clipper at {base} ({target}): is `clipper serve` running there?",
                                   cause=str(err)) from err
        if res.status_code >= 400:
            raise self._error(res, target)
        return res

    def _error(self, res: requests.Response, target: str) -> ClipperException:
        """The server's JSON error ({error, cause, code}) as a ClipperException; other bodies are quoted."""
        try:
            body = res.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            error, cause, code = str(body["error"]), body.get("cause"), body.get("code")
        else:
            error, cause, code = (res.text.strip()[:300] or res.reason or "no body"), None, None
        if res.status_code == 401:
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
            raise ClipperException(f"/admin/{path} answered {res.status_code} with a body that is not JSON: "
                                   f"{res.text[:200]!r}") from err

    def _admin_or_none(self, path: str, body: Any) -> Optional[Json]:
        """Like _admin, but None for a 404 (Clipper's getters answer None for unknown names)."""
        try:
            return self._admin(path, body)
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
        res = self._send("GET", self.url, "/admin/ping", auth=False)
        if res.text.strip() != "pong":
            raise ClipperException(f"{self.url} answered /admin/ping with {res.text[:80]!r}, not 'pong': "
                                   "is this clipper's management API (port 1338)?")
        self._admin("get_all_applications", {"verbose": False})
        self.connected = True

    def get_query_addr(self) -> str:
        """The query API's ``host:port`` (``"127.0.0.1:1337"`` by default), as Clipper's method returns it."""
        return _host_port(self.query_url)

    # ---- applications ----------------------------------------------------------------------------------------

    def register_application(self, name: str, input_type: str, default_output: str, slo_micros: int) -> None:
        """Creates an application: the endpoint ``POST /<name>/predict`` on the query API.

        Args:
            name: 1-63 lowercase letters, digits, '-' and '.'.
            input_type: one of ``integers``, ``floats``, ``doubles``, ``strings``, ``bytes``.
            default_output: what a query gets when no prediction is ready within the SLO.
            slo_micros: the latency objective in microseconds (1000 to 60000000).

        Raises:
            ClipperException: with status 409 when the application exists already, 400 for a bad field.
        """
        self._admin("add_app", {"name": name, "input_type": input_type,
                                       "default_output": str(default_output), "latency_slo_micros": int(slo_micros)})

    def get_all_apps(self, verbose: bool = False) -> List[Any]:
        """All applications: their names, or with ``verbose=True`` a dict per application."""
        return self._admin("get_all_applications", {"verbose": bool(verbose)})

    def get_app_info(self, name: str) -> Optional[Dict[str, Any]]:
        """One application as a dict (input type, default output, SLO, policy, linked models); None when unknown."""
        return self._admin_or_none("get_application", {"name": name})

    def delete_application(self, name: str) -> None:
        """Deletes an application and its links; its models keep running."""
        self._admin("delete_app", {"name": name})

    def link_model_to_app(self, app_name: str, model_name: str) -> List[str]:
        """Routes an application's queries to a model (its current version). Returns the app's linked models."""
        return self._admin("add_model_links", {"app_name": app_name, "model_names": [model_name]})["linked_models"]

    def unlink_model_from_app(self, app_name: str, model_name: str) -> List[str]:
        """Removes a model's link to an application. Returns the models still linked."""
        return self._admin("delete_model_links", {"app_name": app_name, "model_names": [model_name]})["linked_models"]

    def get_linked_models(self, app_name: str) -> List[str]:
        """The names of the models linked to an application."""
        return self._admin("get_linked_models", {"app_name": app_name})

    # ---- models ----------------------------------------------------------------------------------------------

    def deploy_model(self, name: str, version: Union[str, int], input_type: str, model_path: str, replicas: int = 1,
                     predict_method: str = "predict", app_name: Optional[str] = None) -> Dict[str, Any]:
        """Uploads a model file (a pickle or joblib file of an object with ``predict``) and starts its replicas.

        Returns once the replicas have loaded the model; the new version becomes the model's current one.
        A model that fails to load is not registered, and the runtime's error is in the exception.

        Args:
            name: the model's name.
            version: the version, such as ``1`` or ``"2024-05"``; it must be new for this model.
            input_type: ``integers``, ``floats``, ``doubles``, ``strings`` or ``bytes``.
            model_path: the local file to upload.
            replicas: how many processes serve it.
            predict_method: the method the runtime calls with a batch.
            app_name: also link the model to this application (created with defaults when missing).

        Returns:
            The model version as the server describes it (state, replicas, runtime_info, ...).
        """
        if not os.path.isfile(model_path):
            raise ClipperException(f"model_path '{model_path}' is not a file")
        with open(model_path, "rb") as f:
            artifact = self._upload(f)
        return self._add_model(name, version, input_type, artifact, os.path.basename(model_path), replicas,
                               predict_method, app_name)

    def deploy_python_closure(self, name: str, version: Union[str, int], input_type: str,
                              func: Callable[[List[Any]], Sequence[Any]], pkgs_to_install: Optional[List[str]] = None,
                              num_replicas: int = 1, app_name: Optional[str] = None) -> Dict[str, Any]:
        """Deploys a Python function as a model: it gets a list of inputs and returns one output per input.

        The function is serialized with cloudpickle (``pip install 'clipper_admin[closures]'``), by value, so the
        server's Python needs cloudpickle (the same release) and the packages the function imports, but not
        clipper_admin nor the caller's own modules.

        Args:
            name: the model's name.
            version: the version; it must be new for this model.
            input_type: ``integers``, ``floats``, ``doubles``, ``strings`` or ``bytes``.
            func: ``func(inputs: list) -> list``.
            pkgs_to_install: sent to the server as ``pkgs``; the server does not install packages today.
            num_replicas: how many processes serve it.
            app_name: also link the model to this application.

        Returns:
            The model version as the server describes it.
        """
        blob = serialize_closure(func)
        artifact = self._upload(blob)
        extra = {"pkgs": list(pkgs_to_install)} if pkgs_to_install else {}
        try:
            return self._add_model(name, version, input_type, artifact, f"{name}-closure.pkl", num_replicas,
                                   "predict", app_name, extra)
        except ClipperException as err:
            if "No module named 'cloudpickle'" in str(err):
                raise ClipperException(f"{err.msg} -- the server's Python cannot load closures: install cloudpickle "
                                       "(the same release as here) into the Python that `clipper serve --python` runs",
                                       error=err.error, cause=err.cause, code=err.code, status=err.status) from err
            raise

    def _upload(self, data: Any) -> str:
        """PUTs an artifact's bytes (bytes or an open binary file); returns its sha256."""
        return self._send("PUT", self.url, "/admin/artifacts", data=data).json()["sha256"]

    def _add_model(self, name: str, version: Union[str, int], input_type: str, sha256: str, artifact_name: str,
                   replicas: int, predict_method: str, app_name: Optional[str],
                   extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "model_name": name, "model_version": str(version), "input_type": input_type,
            "artifact_sha256": sha256, "artifact_name": artifact_name, "replicas": int(replicas),
            "predict_method": predict_method, **(extra or {}),
        }
        if app_name:
            body["app"] = {"name": app_name}
        return self._admin("add_model", body)

    def get_all_models(self, verbose: bool = False) -> List[Any]:
        """All model versions: ``"name:version"`` strings, or with ``verbose=True`` a dict per version."""
        return self._admin("get_all_models", {"verbose": bool(verbose)})

    def get_model_info(self, name: str, version: Union[str, int]) -> Optional[Dict[str, Any]]:
        """One model version as a dict; None when unknown."""
        return self._admin_or_none("get_model", {"model_name": name, "model_version": str(version)})

    def get_all_model_replicas(self, verbose: bool = False) -> List[Any]:
        """Running replicas: ``"name:version:replica_id"`` strings, or with ``verbose=True`` a dict per replica."""
        replicas = self._admin("get_all_containers", {})
        if verbose:
            return replicas
        names = []
        for r in replicas:
            key, replica_id = f"{r['model_name']}:{r['model_version']}", str(r["model_replica_id"])
            # clipper's replica ids are "<name>:<version>#<n>"; Clipper's strings end in the bare number.
            if replica_id.startswith(key + "#"):
                replica_id = replica_id[len(key) + 1:]
            names.append(f"{key}:{replica_id}")
        return names

    def set_model_version(self, name: str, version: Union[str, int]) -> Dict[str, Any]:
        """Makes an existing version the current one (a rollback or roll-forward); returns it once it serves."""
        return self._admin("set_model_version", {"model_name": name, "model_version": str(version)})

    def set_num_replicas(self, name: str, num_replicas: int) -> Dict[str, Any]:
        """Scales the current version of a model to ``num_replicas`` processes; returns the model."""
        return self._admin("set_num_replicas", {"model_name": name, "num_replicas": int(num_replicas)})

    def stop_models(self, model_names: Names) -> List[str]:
        """Stops and removes every version of each named model. Returns the names stopped."""
        return self._admin("stop_models", {"model_names": _names(model_names)})["stopped"]

    def stop_inactive_model_versions(self, model_names: Names) -> List[str]:
        """Removes every version but the current one of each named model. Returns the removed ``"name:version"``s."""
        return self._admin("stop_inactive_model_versions", {"model_names": _names(model_names)})["stopped"]

    def delete_versioned_model(self, model_name: str, version: Union[str, int]) -> None:
        """Removes one version of a model: its replicas, its registry entry and (when unused) its artifact."""
        self._admin("delete_versioned_model", {"model_name": model_name, "model_version": str(version)})

    # ---- queries ---------------------------------------------------------------------------------------------

    def predict(self, app_name: str, input: Any) -> Dict[str, Any]:  # noqa: A002 - Clipper's parameter name
        """Sends one query; returns ``{"query_id", "output", "default"}`` (and ``default_explanation``).

        ``input`` is a list of numbers, a string, or bytes (sent base64-encoded for the ``bytes`` input type).
        """
        return self._send("POST", self.query_url, f"/{app_name}/predict", auth=False,
                          json_body={"input": _jsonable_input(input)}).json()

    def predict_batch(self, app_name: str, inputs: Sequence[Any]) -> List[Dict[str, Any]]:
        """Sends several queries in one request; returns one answer dict per input, in order."""
        body = {"input_batch": [_jsonable_input(i) for i in inputs]}
        return self._send("POST", self.query_url, f"/{app_name}/predict", auth=False,
                          json_body=body).json()["batch_predictions"]
