"""DockerContainerManager: runs ``clipper serve`` as a container on the Docker engine, through the ``docker`` CLI.

The image (``clipper:latest``, built by ``scripts/image``) runs both APIs; its ports 1337 and 1338 are published
on the host as Clipper's were. Models run inside that container as the server's subprocesses.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from typing import Dict, List, Optional

import requests

from .container_manager import (
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
    ContainerManager,
    cache_entries_flag,
    check_frontend_replicas,
)
from .exceptions import ClipperException

#: Clipper's container label, so ``docker ps --filter label=...`` finds what this manager started.
CLIPPER_DOCKER_LABEL = "ai.clipper.container.label"
START_TIMEOUT_SECONDS = 120.0


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _no_engine(detail: str) -> ClipperException:
    return ClipperException(
        f"no Docker engine answers at {docker_host()}; use LocalContainerManager() to run the clipper binary ({detail})"
    )


class DockerContainerManager(ContainerManager):
    """Clipper's Docker manager, for clipper: one container of the ``clipper`` image per cluster.

    Args:
        cluster_name: names the container (``clipper-<cluster_name>``) and labels it; several clusters can
            run side by side on different ports.
        docker_ip_address: where the published ports are reached (``localhost``).
        clipper_query_port: the host port of the query API (1337).
        clipper_management_port: the host port of the management API (1338).
        image: the server's image (``clipper:latest``; ``scripts/image`` builds it).
        docker_network: a Docker network to attach the container to (default: the engine's bridge).
        extra_container_kwargs: ``{"volumes": {...}, "environment": {...}}`` passed on as ``-v`` / ``-e``.
        token: the management token given to the server; default: a new random one per start.
        use_centralized_log, fluentd_port, clipper_rpc_port, redis_ip, redis_port, prometheus_port: Clipper's
            settings for its Redis, RPC, Fluentd and Prometheus containers; clipper has none of these (the registry
            is SQLite inside the container, metrics are on the query port), so they are accepted and unused.
    """

    def __init__(
        self,
        cluster_name: str = "default-cluster",
        docker_ip_address: str = "localhost",
        use_centralized_log: bool = False,
        fluentd_port: int = 24224,
        clipper_query_port: int = CLIPPER_INTERNAL_QUERY_PORT,
        clipper_management_port: int = CLIPPER_INTERNAL_MANAGEMENT_PORT,
        clipper_rpc_port: int = 7000,
        redis_ip: Optional[str] = None,
        redis_port: int = 6379,
        prometheus_port: int = 9090,
        docker_network: Optional[str] = None,
        extra_container_kwargs: Optional[Dict] = None,
        image: str = "clipper:latest",
        token: Optional[str] = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.cluster_identifier = cluster_name
        self.public_hostname = docker_ip_address
        self.clipper_query_port = int(clipper_query_port)
        self.clipper_management_port = int(clipper_management_port)
        self.image = image
        self.docker_network = docker_network
        self.extra_container_kwargs = dict(extra_container_kwargs or {})
        self.container_name = f"clipper-{cluster_name}"
        super().__init__(
            f"http://{docker_ip_address}:{self.clipper_management_port}", f"http://{docker_ip_address}:{self.clipper_query_port}", token
        )

    # ---- the engine ------------------------------------------------------------------------------------------

    def _docker(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess:
        if shutil.which("docker") is None:
            raise _no_engine("the docker command is not installed")
        try:
            res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise _no_engine(f"docker {args[0]} did not answer within {timeout:g} s") from err
        if check and res.returncode != 0:
            raise ClipperException(f"docker {' '.join(args[:2])} failed: {res.stderr.strip()[-1000:]}")
        return res

    def check_engine(self) -> None:
        """Raises the clear error when no engine answers."""
        res = self._docker("version", "--format", "{{.Server.Version}}", check=False, timeout=20.0)
        if res.returncode != 0 or not res.stdout.strip():
            raise _no_engine(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "docker version failed")

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
        """Runs the server container and returns once both APIs answer. ``query_frontend_image``, when given,
        replaces ``image`` (clipper's one image is both frontends); the other image and HTTP-thread arguments
        name Clipper's separate containers and do not apply."""
        check_frontend_replicas("DockerContainerManager", num_frontend_replicas)
        self.check_engine()
        image = query_frontend_image or self.image
        if self._docker("image", "inspect", image, check=False).returncode != 0:
            raise ClipperException(f"the Docker image {image} is not on this engine: build it with scripts/image")
        self.token = self.token or secrets.token_hex(32)
        self._docker("rm", "-f", self.container_name, check=False)
        # --init: the server must not be PID 1, because a Python replica whose parent is PID 1 takes it for an
        # orphan (its parent died) and exits at once.
        args = [
            "run",
            "-d",
            "--init",
            "--name",
            self.container_name,
            "--label",
            f"{CLIPPER_DOCKER_LABEL}={self.cluster_name}",
            "-p",
            f"{self.clipper_query_port}:1337",
            "-p",
            f"{self.clipper_management_port}:1338",
            "-e",
            "CLIPPER_TOKEN",
            "-e",
            "CLIPPER_HOST=0.0.0.0",
        ]
        if self.docker_network:
            args += ["--network", self.docker_network]
        for key, value in (self.extra_container_kwargs.get("environment") or {}).items():
            args += ["-e", f"{key}={value}"]
        for host, spec in (self.extra_container_kwargs.get("volumes") or {}).items():
            bind = spec.get("bind") if isinstance(spec, dict) else spec
            args += ["-v", f"{host}:{bind}"]
        args += [image, *cache_entries_flag(cache_size)]
        env = {**os.environ, "CLIPPER_TOKEN": self.token}
        res = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120)
        if res.returncode != 0:
            raise ClipperException(f"docker run {image} failed: {res.stderr.strip()[-1000:]}")
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.admin_url}/admin/ping", timeout=2).text.strip() == "pong":
                    return
            except requests.RequestException:
                pass
            state = self._docker("inspect", "-f", "{{.State.Running}}", self.container_name, check=False).stdout.strip()
            if state != "true":
                raise ClipperException(f"the clipper container exited: {self._container_logs()[-2000:]}")
            time.sleep(0.25)
        raise ClipperException(f"the clipper container did not answer within {START_TIMEOUT_SECONDS:g} s")

    def connect(self) -> None:
        """Finds this cluster's running container and reads its token from its environment."""
        self.check_engine()
        res = self._docker("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", self.container_name, check=False)
        if res.returncode != 0:
            raise ClipperException(f"no container {self.container_name} on this engine: start_clipper() first")
        for line in res.stdout.splitlines():
            if line.startswith("CLIPPER_TOKEN=") and not self.token:
                self.token = line.split("=", 1)[1]

    def stop_all(self, graceful: bool = True) -> None:
        """Removes every container of this cluster (``docker stop`` first when graceful, else ``docker kill``)."""
        self.check_engine()
        ids = self._docker("ps", "-aq", "--filter", f"label={CLIPPER_DOCKER_LABEL}={self.cluster_name}").stdout.split()
        if ids:
            self._docker("stop" if graceful else "kill", *ids, check=False, timeout=60.0)
            self._docker("rm", "-f", *ids, check=False)

    def _container_logs(self) -> str:
        res = self._docker("logs", self.container_name, check=False)
        return res.stdout + res.stderr

    def get_logs(self, logging_dir: str) -> List[str]:
        """Writes the server container's log to ``logging_dir``."""
        os.makedirs(logging_dir, exist_ok=True)
        path = os.path.join(logging_dir, f"{self.container_name}.log")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._container_logs())
        return [path]
