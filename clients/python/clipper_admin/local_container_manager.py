"""LocalContainerManager (a clipper addition): runs the local ``clipper`` binary as a child process and stops it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from typing import Dict, List, Optional

from .container_manager import (
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
    ContainerManager,
    cache_entries_flag,
    check_frontend_replicas,
)
from .exceptions import ClipperException

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0


def find_clipper(clipper_binary: Optional[str]) -> str:
    """The ``clipper`` executable: the path given, else ``clipper`` on PATH, else ``./clipper``."""
    candidates = [clipper_binary] if clipper_binary else [shutil.which("clipper"), os.path.join(os.getcwd(), "clipper")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    where = clipper_binary or "on PATH or in the current directory"
    raise ClipperException(
        f"no clipper executable {where}: build it with scripts/build, or pass LocalContainerManager(clipper_binary='/path/to/clipper')"
    )


class LocalContainerManager(ContainerManager):
    """Runs ``clipper serve`` on this machine: no Docker, no containers; models run as the server's subprocesses.

    Args:
        clipper_binary: the ``clipper`` executable; default: ``clipper`` on PATH, else ``./clipper``.
        data_dir: the server's data directory (registry, artifacts, token, logs); default ``./.clipper``.
        host: the address both APIs bind to (``CLIPPER_HOST``, else 127.0.0.1).
        clipper_query_port: the query API's port (``CLIPPER_QUERY_PORT``, else 1337 as in Clipper); 0 picks a free one.
        clipper_management_port: the management API's port (``CLIPPER_MGMT_PORT``, else 1338); 0 picks a free one.
        python: the Python interpreter for models (``clipper serve --python``); default: the server's choice.
        extra_args: more ``clipper serve`` flags, such as ``["--python-spares", "0"]``.
        env: extra environment variables for the server.
    """

    cluster_identifier = "local"

    def __init__(
        self,
        clipper_binary: Optional[str] = None,
        data_dir: Optional[str] = None,
        host: Optional[str] = None,
        clipper_query_port: Optional[int] = None,
        clipper_management_port: Optional[int] = None,
        python: Optional[str] = None,
        extra_args: Optional[List[str]] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.clipper_binary = clipper_binary
        # Unset arguments follow the server's own environment variables, then its defaults.
        self.data_dir = os.path.abspath(data_dir or os.environ.get("CLIPPER_DATA_DIR") or ".clipper")
        self.host = host or os.environ.get("CLIPPER_HOST") or "127.0.0.1"
        self.query_port = _port("clipper_query_port", clipper_query_port, "CLIPPER_QUERY_PORT", CLIPPER_INTERNAL_QUERY_PORT)
        self.management_port = _port(
            "clipper_management_port", clipper_management_port, "CLIPPER_MGMT_PORT", CLIPPER_INTERNAL_MANAGEMENT_PORT
        )
        self.python = python
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.process: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(self.data_dir, "clipper-serve.log")
        super().__init__(f"http://{self.host}:{self.management_port}", f"http://{self.host}:{self.query_port}")

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
        """Starts ``clipper serve`` and returns once both APIs listen. The image and HTTP-thread arguments are
        Clipper's container settings and do not apply to the binary; ``cache_size`` is a number of entries."""
        check_frontend_replicas("LocalContainerManager", num_frontend_replicas)
        if self.process is not None and self.process.poll() is None:
            raise ClipperException(f"this LocalContainerManager already runs clipper (pid {self.process.pid})")
        binary = find_clipper(self.clipper_binary)
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        args = [
            binary,
            "serve",
            "--data-dir",
            self.data_dir,
            "--host",
            self.host,
            "--query-port",
            str(self.query_port),
            "--mgmt-port",
            str(self.management_port),
            "--log-format",
            "json",
            *cache_entries_flag(cache_size),
            *self.extra_args,
        ]
        if self.python:
            args += ["--python", self.python]
        log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, start_new_session=True
            )
        finally:
            log.close()
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        """Reads the server's log until its "ready" line (the URLs come from its "listening" line)."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        urls = None
        while time.monotonic() < deadline:
            for line in _lines(self.log_path):
                event = line.get("event")
                if event == "listening":
                    urls = (line["management_url"], line["query_url"])
                elif event == "ready" and urls:
                    self.admin_url, self.query_url = urls
                    self.token = None  # read from the data directory by the connection
                    return
            if self.process.poll() is not None:
                raise ClipperException(
                    f"clipper serve exited with code {self.process.returncode} before it was ready: {_tail(self.log_path)}"
                )
            time.sleep(0.05)
        self.stop_all(graceful=False)
        raise ClipperException(f"clipper serve was not ready within {START_TIMEOUT_SECONDS:g} s: {_tail(self.log_path)}")

    def stop_all(self, graceful: bool = True) -> None:
        """Stops the server this manager started (SIGTERM lets in-flight queries finish; SIGKILL when not graceful).
        Its replicas stop with it. A server this manager did not start is left alone."""
        proc = self.process
        if proc is None:
            raise ClipperException("this LocalContainerManager did not start clipper: stop that server where it runs")
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.process = None

    def get_logs(self, logging_dir: str) -> List[str]:
        """Copies the server's log (when this manager started it) into ``logging_dir``."""
        os.makedirs(logging_dir, exist_ok=True)
        if not os.path.isfile(self.log_path):
            return []
        target = os.path.join(logging_dir, "clipper-serve.log")
        shutil.copyfile(self.log_path, target)
        return [target]

    def get_token(self) -> Optional[str]:
        """The server's token: CLIPPER_TOKEN when the server was given one, else the token file it wrote."""
        env = {**os.environ, **self.env}.get("CLIPPER_TOKEN", "").strip()
        if env:
            return env
        try:
            with open(os.path.join(self.data_dir, "token"), encoding="utf-8") as f:
                return f.read().strip() or None
        except OSError:
            return None


def _port(field: str, value: Optional[int], env: str, default: int) -> int:
    raw: object = value if value is not None else os.environ.get(env) or default
    try:
        port = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ClipperException(f"{field} must be a port number, got {raw!r}") from None
    if not 0 <= port <= 65535 or isinstance(raw, bool):
        raise ClipperException(f"{field} must be a port number (0 picks a free one), got {raw!r}")
    return port


def _lines(path: str) -> List[dict]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for raw in text.splitlines():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def _tail(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-2000:].strip() or "(no output)"
    except OSError:
        return "(no log)"
