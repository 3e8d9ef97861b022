"""Clipper's ONNX deployer: the PyTorch model is exported to ONNX (``torch.onnx.export`` with ``inputs``) and
served by the server's ``onnx`` format (the frameworks work). Clipper's Caffe2 backend is not used; ``onnx_backend``
is accepted for the signature. ``func`` is accepted too; the exported graph itself is served."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

from ..connection import ClipperConnection
from ._formats import deploy_saved, endpoint


def deploy_pytorch_model(
    clipper_conn: ClipperConnection,
    name: str,
    version: Union[str, int],
    input_type: str,
    inputs: Any,
    func: Optional[Callable[..., Any]],
    pytorch_model: Any,
    base_image: str = "default",
    labels: Optional[List[str]] = None,
    registry: Optional[str] = None,
    num_replicas: int = 1,
    batch_size: int = -1,
    pkgs_to_install: Optional[List[str]] = None,
    onnx_backend: str = "caffe2",
) -> Dict[str, Any]:
    """Exports ``pytorch_model`` with the example ``inputs`` to ONNX and deploys it (format ``onnx``)."""
    import torch

    def save(path: str) -> None:
        import inspect

        # torch's newer (dynamo) exporter needs the onnxscript package; the TorchScript-based one needs only onnx
        # and handles dynamic_axes, so it is asked for where torch still has it.
        legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        torch.onnx.export(
            pytorch_model.eval(),
            inputs,
            path,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            **legacy,
        )

    return deploy_saved(
        clipper_conn, name, version, input_type, "onnx", "model.onnx", save, num_replicas, batch_size, labels, pkgs_to_install
    )


def create_pytorch_endpoint(
    clipper_conn: ClipperConnection,
    name: str,
    input_type: str,
    inputs: Any,
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
    onnx_backend: str = "caffe2",
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
            inputs,
            func,
            pytorch_model,
            base_image,
            labels,
            registry,
            num_replicas,
            batch_size,
            pkgs_to_install,
            onnx_backend,
        ),
    )
