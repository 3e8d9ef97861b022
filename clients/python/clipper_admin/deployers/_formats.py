"""Shared by the framework deployers: save a model in a serving format, upload it, and deploy it through the
same management call ``clipper deploy PATH --format NAME`` makes (``add_model`` with ``format``).

The server's importers of these formats (torchscript, savedmodel, keras, onnx) come with the frameworks work
(``clipper deploy --format``); a server without them refuses the file with the runtime's error.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Union

from ..connection import ClipperConnection
from ..exceptions import ClipperException


def deploy_saved(
    conn: ClipperConnection,
    name: str,
    version: Union[str, int],
    input_type: str,
    fmt: str,
    file_name: str,
    save: Callable[[str], None],
    num_replicas: int,
    batch_size: int,
    labels: Optional[List[str]],
    pkgs_to_install: Optional[List[str]],
) -> Dict[str, Any]:
    """Saves with ``save(path)`` (a file, or a directory packed as one zip), uploads and deploys it as ``fmt``."""
    with tempfile.TemporaryDirectory(prefix="clipper-deploy-") as tmp:
        path = os.path.join(tmp, file_name)
        save(path)
        if os.path.isdir(path):
            import shutil

            path = shutil.make_archive(path, "zip", path)
        if not os.path.isfile(path):
            raise ClipperException(f"saving the model as {fmt} wrote nothing at {path}")
        with open(path, "rb") as f:
            sha = conn._upload(f)
        fields: Dict[str, Any] = {
            "artifact_sha256": sha,
            "artifact_name": os.path.basename(path),
            "format": fmt,
            "replicas": int(num_replicas),
            "batch_size": int(batch_size),
            "labels": list(labels or []),
        }
        if pkgs_to_install:
            fields["pkgs"] = list(pkgs_to_install)
        return conn._add_model(name, version, input_type, fields, None)


def endpoint(conn: ClipperConnection, name: str, input_type: str, default_output: str, slo_micros: int, deploy: Callable[[], Any]) -> None:
    """Clipper's create_endpoint, for every deployer (the Python closure's too): register the app, deploy, link."""
    conn.register_application(name, input_type, default_output, slo_micros)
    deploy()
    conn.link_model_to_app(name, name)
