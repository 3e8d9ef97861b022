"""Clipper's mxnet deployer: not supported. Every function raises one error naming what to use instead."""

from __future__ import annotations

from typing import Any, NoReturn

from ..exceptions import ClipperException

UNSUPPORTED = (
    "clipper does not serve MXNet models: export the model to ONNX and use clipper_admin.deployers.onnx (MXNet is retired upstream)"
)


def deploy_mxnet_model(*args: Any, **kwargs: Any) -> NoReturn:
    raise ClipperException(UNSUPPORTED)


def create_endpoint(*args: Any, **kwargs: Any) -> NoReturn:
    raise ClipperException(UNSUPPORTED)
