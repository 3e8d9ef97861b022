"""The container-manager interface of Clipper's ``ClipperConnection``: where clipper runs and how to reach it.

A container manager starts (or finds) a clipper server and tells the connection its management and query
addresses and its management token. ``LocalContainerManager`` runs the ``clipper`` binary as a child process,
``DockerContainerManager`` runs the ``clipper:latest`` image on the Docker engine, ``KubernetesContainerManager``
connects to a fleet started with ``kubectl apply -k deploy/kubernetes``.
"""

from __future__ import annotations

import os
from typing import List, Optional

from .exceptions import ClipperException

CLIPPER_INTERNAL_QUERY_PORT = 1337
CLIPPER_INTERNAL_MANAGEMENT_PORT = 1338
CONTAINERLESS_MODEL_IMAGE = "NO_CONTAINER"
#: Clipper's default cache size (32 MiB, in bytes); clipper bounds its cache by entries, so this means "the server's default".
DEFAULT_PREDICTION_CACHE_SIZE_BYTES = 33554432


def cache_entries_flag(cache_size: Optional[int]) -> List[str]:
    """``clipper serve`` flags for Clipper's ``cache_size``.

    Clipper sized its cache in bytes; clipper counts entries (one per model version and input). Clipper's
    default (33554432) keeps the server's default (65536 entries); any other value is the number of entries,
    and 0 turns the cache off.
    """
    if cache_size is None or cache_size == DEFAULT_PREDICTION_CACHE_SIZE_BYTES:
        return []
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
        raise ClipperException(f"cache_size must be a whole number of entries (0 turns the cache off), got {cache_size!r}")
    return ["--cache-entries", str(cache_size)]


class ContainerManager:
    """What ``ClipperConnection`` needs from a container manager; the base answers for a server at fixed addresses."""

    cluster_identifier = "clipper"

    def __init__(self, admin_url: str, query_url: str, token: Optional[str] = None) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.query_url = query_url.rstrip("/")
        self.token = token

    # ---- Clipper's interface ---------------------------------------------------------------------------------

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
        raise ClipperException(f"{type(self).__name__} does not start clipper; call connect() to use a running server")

    def connect(self) -> None:
        """Nothing to do: the addresses are known."""

    def get_token(self) -> Optional[str]:
        """The management token of the server this manager knows, when it knows it."""
        return self.token

    def stop_all(self, graceful: bool = True) -> None:
        raise ClipperException(f"{type(self).__name__} did not start clipper and does not stop it")

    def get_logs(self, logging_dir: str) -> List[str]:
        """The server's own log files this manager can read (none here); model logs come from the management API."""
        os.makedirs(logging_dir, exist_ok=True)
        return []

    def get_admin_addr(self) -> str:
        return _host_port(self.admin_url)

    def get_query_addr(self) -> str:
        return _host_port(self.query_url)

    def get_metric_addr(self) -> str:
        """clipper has no separate metric server: Prometheus scrapes ``/metrics`` on the query port."""
        return self.get_query_addr()


def _host_port(url: str) -> str:
    """``host:port`` (and a path, behind a proxy) without the scheme, as Clipper's ``get_*_addr`` answered."""
    return url.split("://", 1)[-1]


def check_frontend_replicas(manager: str, num_frontend_replicas: int) -> None:
    """One clipper process answers every query of its host; a manager that cannot run more says so."""
    if not isinstance(num_frontend_replicas, int) or num_frontend_replicas < 1:
        raise ClipperException(f"num_frontend_replicas must be at least 1, got {num_frontend_replicas!r}")
    if num_frontend_replicas > 1:
        raise ClipperException(
            f"{manager} runs one clipper server, which is the query frontend (num_frontend_replicas={num_frontend_replicas} "
            "is not applicable: each server has its own registry, so several would not serve the same models); for "
            "several servers behind one address run the Kubernetes fleet (kubectl apply -k deploy/kubernetes, "
            "replicas in deployment.yaml, every pod configured by the same clipper.yaml)"
        )
