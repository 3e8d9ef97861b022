"""Builds a model image as Clipper's build_model did (``FROM base_image``, the model data in ``/model/``),
with the ``docker`` CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import List, Optional

from .docker_container_manager import _no_engine
from .exceptions import ClipperException

DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def build_model_image(
    name: str, version: str, model_data_path: str, base_image: str, container_registry: Optional[str], pkgs_to_install: Optional[List[str]]
) -> str:
    for field, value in (("name", name), ("version", version)):
        if not DNS_1123.match(value):
            raise ClipperException(
                f"{field} '{value}' must be lowercase letters, digits, '-' or '.', starting and "
                "ending with a letter or digit (it becomes the image tag)"
            )
    if not os.path.exists(model_data_path):
        raise ClipperException(f"model_data_path '{model_data_path}' does not exist")
    if shutil.which("docker") is None:
        raise _no_engine("the docker command is not installed")
    tag = f"{container_registry.rstrip('/')}/{name}:{version}" if container_registry else f"{name}:{version}"
    with tempfile.TemporaryDirectory(prefix="clipper-build-") as ctx:
        target = os.path.join(ctx, "model")
        if os.path.isdir(model_data_path):
            shutil.copytree(model_data_path, target)
        else:
            os.makedirs(target)
            shutil.copy(model_data_path, target)
        lines = [f"FROM {base_image}"]
        if pkgs_to_install:
            lines.append("RUN pip install --no-cache-dir " + " ".join(_quote(p) for p in pkgs_to_install))
        lines.append("COPY model /model/")
        with open(os.path.join(ctx, "Dockerfile"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        res = subprocess.run(["docker", "build", "-t", tag, ctx], capture_output=True, text=True)
        if res.returncode != 0:
            raise ClipperException(f"docker build of {tag} failed: {res.stderr.strip()[-2000:]}")
    if container_registry:
        res = subprocess.run(["docker", "push", tag], capture_output=True, text=True)
        if res.returncode != 0:
            raise ClipperException(f"docker push {tag} failed: {res.stderr.strip()[-2000:]}")
    return tag


def _quote(pkg: str) -> str:
    if not re.match(r"^[A-Za-z0-9._\-\[\],=<>!~]+$", pkg):
        raise ClipperException(f"pkgs_to_install: '{pkg}' is not a package requirement")
    return pkg
