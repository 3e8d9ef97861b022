"""Clipper's TensorFlow deployer: the model (a ``tf.Module``/Keras model, or a SavedModel directory) is saved
as a SavedModel and served by the server's ``savedmodel`` format (the frameworks work). Clipper's TF1
``tf.Session`` models are not supported: export a SavedModel instead. ``func`` is accepted for the signature."""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Dict, List, Optional, Union

from ..connection import ClipperConnection
from ..exceptions import ClipperException
from ._formats import deploy_saved, endpoint


def deploy_tensorflow_model(
    clipper_conn: ClipperConnection,
    name: str,
    version: Union[str, int],
    input_type: str,
    func: Optional[Callable[..., Any]],
    tf_sess_or_saved_model_path: Any,
    base_image: str = "default",
    labels: Optional[List[str]] = None,
    registry: Optional[str] = None,
    num_replicas: int = 1,
    batch_size: int = -1,
    pkgs_to_install: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Deploys a SavedModel (a directory path, or a model saved with ``tf.saved_model.save``) as ``savedmodel``."""
    model = tf_sess_or_saved_model_path

    def save(path: str) -> None:
        if isinstance(model, str):
            if not os.path.isdir(model):
                raise ClipperException(f"'{model}' is not a SavedModel directory")
            shutil.copytree(model, path)
            return
        if type(model).__name__ == "Session":
            raise ClipperException("TF1 sessions are not supported: export a SavedModel (tf.saved_model.save)")
        import tensorflow as tf

        tf.saved_model.save(model, path)

    return deploy_saved(
        clipper_conn, name, version, input_type, "savedmodel", "savedmodel", save, num_replicas, batch_size, labels, pkgs_to_install
    )


def create_endpoint(
    clipper_conn: ClipperConnection,
    name: str,
    input_type: str,
    func: Optional[Callable[..., Any]],
    tf_sess_or_saved_model_path: Any,
    default_output: str = "None",
    version: Union[str, int] = 1,
    slo_micros: int = 3000000,
    labels: Optional[List[str]] = None,
    registry: Optional[str] = None,
    base_image: str = "default",
    num_replicas: int = 1,
    batch_size: int = -1,
    pkgs_to_install: Optional[List[str]] = None,
) -> None:
    endpoint(
        clipper_conn,
        name,
        input_type,
        default_output,
        slo_micros,
        lambda: deploy_tensorflow_model(
            clipper_conn,
            name,
            version,
            input_type,
            func,
            tf_sess_or_saved_model_path,
            base_image,
            labels,
            registry,
            num_replicas,
            batch_size,
            pkgs_to_install,
        ),
    )
