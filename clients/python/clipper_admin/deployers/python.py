"""Clipper's Python deployer (``from clipper_admin.deployers import python as python_deployer``).

Clipper built a Docker image per closure; clipper runs the cloudpickled closure in its Python runtime instead.
``base_image`` and ``registry`` name Clipper's image build and do not apply; ``pkgs_to_install`` builds the
model's own Python environment on the server (once per package set, cached); ``labels`` and ``batch_size`` go
to the server as in Clipper.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ..connection import ClipperConnection
from ._formats import endpoint


def deploy_python_closure(
    clipper_conn: ClipperConnection,
    name: str,
    version: Union[str, int],
    input_type: str,
    func: Callable[[List[Any]], Sequence[Any]],
    base_image: str = "default",
    labels: Optional[List[str]] = None,
    registry: Optional[str] = None,
    num_replicas: int = 1,
    batch_size: int = -1,
    pkgs_to_install: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Deploys ``func`` as model ``name`` version ``version``; see :meth:`ClipperConnection.deploy_python_closure`."""
    return clipper_conn.deploy_python_closure(
        name, version, input_type, func, pkgs_to_install=pkgs_to_install, num_replicas=num_replicas, labels=labels, batch_size=batch_size
    )


def create_endpoint(
    clipper_conn: ClipperConnection,
    name: str,
    input_type: str,
    func: Callable[[List[Any]], Sequence[Any]],
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
    """Registers application ``name``, deploys ``func`` as model ``name`` and links the two, as Clipper did."""
    endpoint(
        clipper_conn,
        name,
        input_type,
        default_output,
        slo_micros,
        lambda: deploy_python_closure(
            clipper_conn, name, version, input_type, func, base_image, labels, registry, num_replicas, batch_size, pkgs_to_install
        ),
    )
