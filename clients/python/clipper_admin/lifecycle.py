"""ClipperConnection's lifecycle methods: start and stop the server through the container manager, fetch logs
and metrics, and try a predict function locally. Mixed into :class:`ClipperConnection`."""

from __future__ import annotations

import os
import pickle
from typing import Any, Callable, Dict, List, Optional

from .container_manager import DEFAULT_PREDICTION_CACHE_SIZE_BYTES
from .exceptions import ClipperException


class LifecycleMethods:
    """Start, stop, logs, metrics."""

    cm: Any
    connected: bool
    query_url: str
    _admin: Callable[..., Any]
    _send: Callable[..., Any]
    connect: Callable[[], None]
    url: str

    def _manager(self, method: str) -> Any:
        if self.cm is None:
            raise ClipperException(
                f"{method} needs a container manager: ClipperConnection(LocalContainerManager()) "
                "or ClipperConnection(DockerContainerManager())"
            )
        return self.cm

    def start_clipper(
        self,
        query_frontend_image: Optional[str] = None,
        mgmt_frontend_image: Optional[str] = None,
        frontend_exporter_image: Optional[str] = None,
        cache_size: int = DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
        qf_http_thread_pool_size: int = 1,
        qf_http_timeout_request: int = 5,
        qf_http_timeout_content: int = 300,
        num_frontend_replicas: int = 1,
    ) -> None:
        """Starts clipper with the container manager, then connects.

        Args:
            query_frontend_image: DockerContainerManager: the server's image instead of its ``image``; clipper has one
                image for both frontends, so ``mgmt_frontend_image`` and ``frontend_exporter_image`` do not apply.
            cache_size: the prediction cache's size in entries (clipper counts entries, Clipper counted bytes);
                Clipper's default keeps the server's default (65536), 0 turns it off.
            qf_http_thread_pool_size, qf_http_timeout_request, qf_http_timeout_content: settings of Clipper's C++
                HTTP server; clipper's query API has none of them (one event loop; a query's deadline is its
                app's SLO), so they are accepted and unused.
            num_frontend_replicas: 1; one clipper process is the query frontend, so the Local and Docker managers
                refuse more with an error saying where several servers run (the Kubernetes fleet).
        """
        self._manager("start_clipper").start_clipper(
            query_frontend_image,
            mgmt_frontend_image,
            frontend_exporter_image,
            cache_size,
            qf_http_thread_pool_size,
            qf_http_timeout_request,
            qf_http_timeout_content,
            num_frontend_replicas,
        )
        self.connect()

    def stop_all(self, graceful: bool = True) -> None:
        """Stops the server the container manager started, and with it every model replica (graceful: SIGTERM /
        ``docker stop``, letting queries in flight finish; else SIGKILL / ``docker kill``)."""
        self._manager("stop_all").stop_all(graceful=graceful)
        self.connected = False

    def get_clipper_logs(self, logging_dir: str = "clipper_logs/") -> List[str]:
        """Writes the server's log (from the container manager) and every model version's replica log (from the
        management API) into ``logging_dir``; returns the files written."""
        os.makedirs(logging_dir, exist_ok=True)
        files: List[str] = list(self.cm.get_logs(logging_dir)) if self.cm is not None else []
        for model in self._admin("get_all_models", {"verbose": True}):
            name, version = model["model_name"], str(model["model_version"])
            res = self._send("GET", self.url, "/admin/logs", params={"model_name": name, "model_version": version})
            path = os.path.join(logging_dir, f"{name}_{version}.log")
            with open(path, "w", encoding="utf-8") as f:
                f.write(res.text)
            files.append(path)
        return files

    def inspect_instance(self) -> Dict[str, Any]:
        """Clipper's metrics JSON from ``GET /metrics`` on the query API (``counters``, ``ratio_counters``,
        ``meters``, ``histograms``)."""
        res = self._send("GET", self.query_url, "/metrics", auth=False, headers={"Accept": "application/json"})
        try:
            return res.json()
        except ValueError as err:
            raise ClipperException(f"GET /metrics answered {res.text[:200]!r}, not JSON") from err

    def test_predict_function(self, query: Dict[str, Any], func: Callable[[List[Any]], Any], input_type: str) -> Any:
        """Runs ``func`` here as the server would: the query's input(s) as a list, after a cloudpickle round trip.

        ``query`` is a query body, ``{"input": [...]}`` or ``{"input_batch": [[...], ...]}``. Returns what ``func``
        returned, or a message saying why the input does not fit ``input_type`` (as Clipper did).
        """
        from .closure import serialize_closure

        if not isinstance(query, dict) or len(query) != 1 or next(iter(query)) not in ("input", "input_batch"):
            return "Invalid input type or JSON key"
        key, value = next(iter(query.items()))
        inputs = value if key == "input_batch" else [value]
        if not isinstance(inputs, list):
            return "Invalid input type or JSON key"
        checks = {
            "integers": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "floats": lambda v: isinstance(v, float),
            "doubles": lambda v: isinstance(v, float),
        }
        for item in inputs:
            if input_type in checks:
                if not isinstance(item, list) or not all(checks[input_type](v) for v in item):
                    return "Invalid input type"
            elif input_type == "strings" and not isinstance(item, str):
                return "Invalid input type"
            elif input_type == "bytes" and not isinstance(item, (bytes, bytearray)):
                return "Invalid input type"
        model = pickle.loads(serialize_closure(func))
        return model.predict(inputs)
