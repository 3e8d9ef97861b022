"""Clipper's pyspark deployer: not supported. Every function raises one error naming what to use instead."""

from __future__ import annotations

from typing import Any, NoReturn

from ..exceptions import ClipperException

UNSUPPORTED = "clipper does not serve PySpark models: save the model with MLflow (mlflow.spark) and deploy it with `clipper deploy PATH --format mlflow`, or deploy a Python closure that loads it (deployers.python)"


def deploy_pyspark_model(*args: Any, **kwargs: Any) -> NoReturn:
    raise ClipperException(UNSUPPORTED)


def create_endpoint(*args: Any, **kwargs: Any) -> NoReturn:
    raise ClipperException(UNSUPPORTED)
