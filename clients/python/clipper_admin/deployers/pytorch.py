"""Clipper's PyTorch deployer: the model is saved as TorchScript (``torch.jit.script``) and served by the
server's ``torchscript`` format (the frameworks work). Clipper pickled ``func`` beside the model; clipper serves
the scripted model itself, so ``func`` is accepted for its signature and must be None or only call the model."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

from ..connection import ClipperConnection
from ._formats import deploy_saved, endpoint


def deploy_pytorch_model(
    clipper_conn: ClipperConnection,
    name: str,
    version: Union[str, int],
    input_type: str,
    func: Optional[Callable[..., Any]],
    pytorch_model: Any,
    base_image: str = "default",
    labels: Optional[List[str]] = None,
    registry: Optional[str] = None,
    num_replicas: int = 1,
    batch_size: int = -1,
    pkgs_to_install: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Scripts ``pytorch_model`` with TorchScript and deploys it (format ``torchscript``)."""
    import torch

    def save(path: str) -> None:
        torch.jit.script(pytorch_model.eval()).save(path)

    return deploy_saved(
        clipper_conn, name, version, input_type, "torchscript", "model.pt", save, num_replicas, batch_size, labels, pkgs_to_install
    )


def create_endpoint(
    clipper_conn: ClipperConnection,
    name: str,
    input_type: str,
    func: Optional[Callable[..., Any]],
    pytorch_model: Any,
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
        lambda: deploy_pytorch_model(
            clipper_conn,
            name,
            version,
            input_type,
            func,
            pytorch_model,
            base_image,
            labels,
            registry,
            num_replicas,
            batch_size,
            pkgs_to_install,
        ),
    )
