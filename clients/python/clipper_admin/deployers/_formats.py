"""Shared by the framework deployers: save a model in a serving format, upload it, and deploy it through the
same management call ``clipper deploy PATH --format NAME`` makes (``add_model`` with ``format``).

The server's importers of these formats (torchscript, savedmodel, keras, onnx) come with the frameworks work
(``clipper deploy --format``); a server without them refuses the file with the runtime's error.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Union

from .. import args
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
    """Saves with ``save(path)`` (a file, or a directory packed as one tar archive, which the server unpacks),
    uploads and deploys it as ``fmt``."""
    # Arguments are checked before anything is saved or sent (labels="abc" is refused, not split into letters).
    fields: Dict[str, Any] = {
        "format": fmt,
        "replicas": args.as_int("num_replicas", num_replicas),
        "batch_size": args.batch_size(batch_size),
        "labels": args.labels(labels),
    }
    if pkgs_to_install:
        fields["pkgs"] = list(pkgs_to_install)
    with tempfile.TemporaryDirectory(prefix="clipper-deploy-") as tmp:
        path = os.path.join(tmp, file_name)
        save(path)
        if os.path.isdir(path):
            path = pack_directory(path)
        if not os.path.isfile(path):
            raise ClipperException(f"saving the model as {fmt} wrote nothing at {path}")
        with open(path, "rb") as f:
            sha = conn._upload(f)
        fields.update(artifact_sha256=sha, artifact_name=os.path.basename(path))
        return conn._add_model(name, version, input_type, fields, None)


def pack_directory(directory: str) -> str:
    """A tar of ``directory``'s contents beside it (``<directory>.tar``), as ``clipper deploy DIR`` sends one:
    relative paths, sorted, owner 0 and mtime 0, so the same model gives the same archive and hash."""
    import tarfile

    def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    archive = directory.rstrip(os.sep) + ".tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for entry in [*dirs, *sorted(files)]:
                full = os.path.join(root, entry)
                tar.add(full, arcname=os.path.relpath(full, directory), recursive=False, filter=normalized)
    return archive


def endpoint(conn: ClipperConnection, name: str, input_type: str, default_output: str, slo_micros: int, deploy: Callable[[], Any]) -> None:
    """Clipper's create_endpoint, for every deployer (the Python closure's too): register the app, deploy, link."""
    conn.register_application(name, input_type, default_output, slo_micros)
    deploy()
    conn.link_model_to_app(name, name)
