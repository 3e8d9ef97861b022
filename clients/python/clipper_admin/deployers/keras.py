"""Clipper's Keras deployer: the model is saved as a ``.keras`` file and served by the server's ``keras``
format (the frameworks work). ``func`` is accepted for the signature; the saved model itself is served."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

from ..connection import ClipperConnection
from ._formats import deploy_saved, endpoint


def deploy_keras_model(
    clipper_conn: ClipperConnection,
    name: str,
    version: Union[str, int],
    input_type: str,
    func: Optional[Callable[..., Any]],
    model_path_or_object: Any,
    base_image: str = "default",
    labels: Optional[List[str]] = None,
    registry: Optional[str] = None,
    num_replicas: int = 1,
    batch_size: int = -1,
    pkgs_to_install: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Deploys a Keras model (an object, or the path of a ``.keras`` file) as ``keras``."""

    def save(path: str) -> None:
        if isinstance(model_path_or_object, str):
            import shutil

            shutil.copyfile(model_path_or_object, path)
        else:
            model_path_or_object.save(path)

    return deploy_saved(
        clipper_conn, name, version, input_type, "keras", "model.keras", save, num_replicas, batch_size, labels, pkgs_to_install
    )


def create_endpoint(
    clipper_conn: ClipperConnection,
    name: str,
    input_type: str,
    func: Optional[Callable[..., Any]],
    model_path_or_object: Any,
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
        lambda: deploy_keras_model(
            clipper_conn,
            name,
            version,
            input_type,
            func,
            model_path_or_object,
            base_image,
            labels,
            registry,
            num_replicas,
            batch_size,
            pkgs_to_install,
        ),
    )
