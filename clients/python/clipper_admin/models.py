"""ClipperConnection's model methods: deploy (an artifact, a Docker image, a closure), register, versions,
replicas and stopping, under Clipper's names and parameters. Mixed into :class:`ClipperConnection`."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import args
from .closure import serialize_closure
from .container_manager import CONTAINERLESS_MODEL_IMAGE
from .described import DescribedName
from .exceptions import ClipperException

Version = Union[str, int]
#: Files the server's runtimes load; a 4th argument of deploy_model that looks like one is a path, not an image.
ARTIFACT_SUFFIXES = (".pkl", ".pickle", ".joblib", ".py", ".js", ".mjs", ".cjs", ".ts", ".onnx", ".pt", ".pt2", ".keras", ".h5")


def _looks_like_path(value: str) -> bool:
    return (
        os.path.exists(value)
        or value.startswith(("/", "./", "../", "~"))
        or os.sep + "." in value
        or (value.lower().endswith(ARTIFACT_SUFFIXES) and ":" not in value)
    )


class ModelMethods:
    """Model versions and replicas; each call is one or a few management requests."""

    _admin: Callable[..., Any]
    _admin_or_none: Callable[..., Any]
    _send: Callable[..., Any]
    url: str

    # ---- deploying -------------------------------------------------------------------------------------------

    def deploy_model(
        self,
        name: str,
        version: Version,
        input_type: str,
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
        num_replicas: int = 1,
        batch_size: int = -1,
        *,
        model_path: Optional[str] = None,
        replicas: Optional[int] = None,
        predict_method: str = "predict",
        app_name: Optional[str] = None,
        pkgs: Optional[List[str]] = None,
    ) -> Dict[str, Any]:
        """Deploys a model version and makes it current once its replicas have loaded it.

        Clipper's form ``deploy_model(name, version, input_type, image, labels, num_replicas, batch_size)`` runs the
        Docker image ``image`` (which must speak clipper's runtime protocol, docs/runtime-protocol.md; Clipper's
        own model images do not) with the server's docker runtime. clipper's form passes a model file instead:
        ``deploy_model(name, version, input_type, "hr.pkl")`` or ``model_path=`` uploads a pickle, joblib,
        ``.py`` or JavaScript file and runs it in the server's runtimes. A 4th argument that is an existing file
        or looks like a path (``/...``, ``./...``, a model file suffix) is a file; anything else is an image.

        Args:
            labels: kept with the version (shown by get_model_info).
            num_replicas: how many processes serve it (``replicas=`` is clipper's older name).
            batch_size: the most queries in one batch; -1 lets the server adapt (up to ``--max-batch-size``).
            predict_method: the method the Python runtime calls (model files only).
            app_name: also link the model to this application (created with defaults when missing).
            pkgs: run a Python model in its own environment with these packages (built once, cached).

        Returns:
            The model version as the server describes it (state, replicas, runtime_info, ...).
        """
        if replicas is not None:
            num_replicas = replicas
        body: Dict[str, Any] = {
            "labels": args.labels(labels),
            "batch_size": args.batch_size(batch_size),
            "replicas": args.as_int("num_replicas", num_replicas),
        }
        if model_path is None and image is not None and _looks_like_path(str(image)):
            model_path, image = str(image), None
        if model_path is not None:
            if not os.path.isfile(model_path):
                raise ClipperException(f"model_path '{model_path}' is not a file")
            with open(model_path, "rb") as f:
                body.update(artifact_sha256=self._upload(f), artifact_name=os.path.basename(model_path), predict_method=predict_method)
            if pkgs:
                body["pkgs"] = list(pkgs)
        elif image:
            body.update(runtime="docker", image=image, container_name=image)
        else:
            raise ClipperException(
                "deploy_model needs an image (a Docker image speaking clipper's runtime protocol) or a model file (model_path=)"
            )
        return self._add_model(name, version, input_type, body, app_name)

    def register_model(
        self,
        name: str,
        version: Version,
        input_type: str,
        image: Optional[str] = None,
        labels: Optional[List[str]] = None,
        batch_size: int = -1,
    ) -> Dict[str, Any]:
        """Clipper's registration: without ``image`` the version is registered with no replicas (Clipper's
        ``NO_CONTAINER``): it is current, can be linked, answers the app's default until a version with replicas
        is deployed, and can itself be deployed later (``deploy_model`` with the same version). With ``image``,
        unlike Clipper (which only recorded it), the server starts that image with its docker runtime."""
        body = {
            "labels": args.labels(labels),
            "batch_size": args.batch_size(batch_size),
            "container_name": image or CONTAINERLESS_MODEL_IMAGE,
            "model_data_path": "DEPRECATED",
        }
        return self._add_model(name, version, input_type, body, None)

    def build_and_deploy_model(
        self,
        name: str,
        version: Version,
        input_type: str,
        model_data_path: str,
        base_image: str,
        labels: Optional[List[str]] = None,
        container_registry: Optional[str] = None,
        num_replicas: int = 1,
        batch_size: int = -1,
        pkgs_to_install: Optional[List[str]] = None,
    ) -> Dict[str, Any]:
        """Builds an image ``FROM base_image`` with ``model_data_path`` copied to ``/model/`` (and
        ``pkgs_to_install`` pip-installed), pushes it when ``container_registry`` is given, and deploys it
        (:meth:`deploy_model`). Needs the ``docker`` CLI and an engine; ``base_image`` must speak clipper's runtime
        protocol (``clipper/python-runtime``), as Clipper's base images spoke Clipper's RPC."""
        image = self.build_model(name, version, model_data_path, base_image, container_registry, pkgs_to_install)
        return self.deploy_model(name, version, input_type, image, labels, num_replicas, batch_size)

    def build_model(
        self,
        name: str,
        version: Version,
        model_data_path: str,
        base_image: str,
        container_registry: Optional[str] = None,
        pkgs_to_install: Optional[List[str]] = None,
    ) -> str:
        """Builds (and with ``container_registry``, pushes) ``[registry/]<name>:<version>``; returns the tag."""
        from .image_build import build_model_image

        return build_model_image(name, str(version), model_data_path, base_image, container_registry, pkgs_to_install)

    def deploy_python_closure(
        self,
        name: str,
        version: Version,
        input_type: str,
        func: Callable[[List[Any]], Sequence[Any]],
        pkgs_to_install: Optional[List[str]] = None,
        num_replicas: int = 1,
        app_name: Optional[str] = None,
        labels: Optional[List[str]] = None,
        batch_size: int = -1,
    ) -> Dict[str, Any]:
        """Deploys a Python function as a model: it gets a list of inputs and returns one output per input.

        The function is serialized with cloudpickle (``pip install 'clipper_admin[closures]'``), by value, so the
        server's Python needs cloudpickle (the same release) and the packages the function imports, but not
        clipper_admin nor the caller's own modules. ``pkgs_to_install`` makes the server build (once, cached) a
        virtual environment with exactly those packages plus the runtime's own, and run the model there.
        """
        blob = serialize_closure(func)
        body: Dict[str, Any] = {
            "artifact_sha256": self._upload(blob),
            "artifact_name": f"{name}-closure.pkl",
            "replicas": args.as_int("num_replicas", num_replicas),
            "predict_method": "predict",
            "labels": args.labels(labels),
            "batch_size": args.batch_size(batch_size),
        }
        if pkgs_to_install:
            body["pkgs"] = args.names(pkgs_to_install, "pkgs_to_install")
        try:
            return self._add_model(name, version, input_type, body, app_name)
        except ClipperException as err:
            if "No module named 'cloudpickle'" in str(err):
                raise ClipperException(
                    f"{err.msg} -- the server's Python cannot load closures: install cloudpickle "
                    "(the same release as here) into the Python that `clipper serve --python` runs",
                    error=err.error,
                    cause=err.cause,
                    code=err.code,
                    status=err.status,
                ) from err
            raise

    def _upload(self, data: Any) -> str:
        """PUTs an artifact's bytes (bytes or an open binary file); returns its sha256."""
        return self._send("PUT", self.url, "/admin/artifacts", data=data).json()["sha256"]

    def _add_model(self, name: str, version: Version, input_type: str, fields: Dict[str, Any], app_name: Optional[str]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"model_name": name, "model_version": str(version), "input_type": input_type, **fields}
        if app_name:
            body["app"] = {"name": app_name}
        return self._admin("add_model", body)

    # ---- reading ---------------------------------------------------------------------------------------------

    def get_all_models(self, verbose: bool = False) -> List[Any]:
        """All model versions: ``"name:version"`` strings, or with ``verbose=True`` a dict per version
        (Clipper's ``is_current_version``, ``container_name``, ``labels``, and clipper's ``state``/``status``).

        The strings also answer the verbose fields: ``m['model_name']``, ``m['model_version']``, ``m['status']``."""
        models = self._admin("get_all_models", {"verbose": True})
        if verbose:
            return models
        return [DescribedName(f"{m['model_name']}:{m['model_version']}", m) for m in models]

    def get_model_info(self, name: str, version: Version) -> Optional[Dict[str, Any]]:
        """One model version as a dict; None when unknown."""
        return self._admin_or_none("get_model", {"model_name": name, "model_version": str(version)})

    def get_current_model_version(self, name: str) -> str:
        """The version of ``name`` that serves queries."""
        for m in self.get_all_models(verbose=True):
            if m["model_name"] == name and m.get("is_current_version", m.get("is_current")):
                return str(m["model_version"])
        raise ClipperException(f"No versions of model {name} registered with Clipper")

    def get_all_model_replicas(self, verbose: bool = False) -> List[Any]:
        """Running replicas: ``"name:version:replica"`` strings, or with ``verbose=True`` a dict per replica
        (``model_name``, ``model_version``, ``model_replica_id``, ``status``, ``pid``, ...).

        The strings are Clipper's (join them, print them, split them) and also answer the verbose fields:
        ``r['model_name']``, ``r['model_version']``, ``r['status']``, ``r['replica_id']`` (see DescribedName)."""
        replicas = self._admin("get_all_containers", {"verbose": True})
        if verbose:
            return replicas
        out = []
        for r in replicas:
            key, replica_id = f"{r['model_name']}:{r['model_version']}", str(r["model_replica_id"])
            if replica_id.startswith(key + "#"):
                replica_id = replica_id[len(key) + 1 :]
            out.append(DescribedName(f"{key}:{replica_id}", r))
        return out

    def get_model_replica_info(self, name: str, version: Version, replica_id: int) -> Optional[Dict[str, Any]]:
        """One replica (numbered as in get_all_model_replicas' strings); None when there is none."""
        return self._admin_or_none(
            "get_container", {"model_name": name, "model_version": str(version), "replica_id": args.as_int("replica_id", replica_id)}
        )

    def get_num_replicas(self, name: str, version: Optional[Version] = None) -> int:
        """How many replicas of a version (the current one by default) run now."""
        version = str(version) if version is not None else self.get_current_model_version(name)
        return sum(1 for r in self.get_all_model_replicas(verbose=True) if r["model_name"] == name and str(r["model_version"]) == version)

    # ---- changing --------------------------------------------------------------------------------------------

    def set_model_version(self, name: str, version: Version, num_replicas: Optional[int] = None) -> Dict[str, Any]:
        """Makes an existing version the current one (a rollback or roll-forward); returns it once it serves.
        With ``num_replicas``, then scales it."""
        model = self._admin("set_model_version", {"model_name": name, "model_version": str(version)})
        if num_replicas is not None:
            model = self.set_num_replicas(name, num_replicas)
        return model

    def set_num_replicas(self, name: str, num_replicas: int, version: Optional[Version] = None) -> Dict[str, Any]:
        """Scales the current version of a model to ``num_replicas`` processes; returns the model.
        clipper runs replicas for the current version only: another ``version`` is refused (set_model_version first)."""
        if version is not None and str(version) != self.get_current_model_version(name):
            raise ClipperException(
                f"version {version} of {name} is not current: clipper scales the current version only (set_model_version first)"
            )
        return self._admin("set_num_replicas", {"model_name": name, "num_replicas": args.as_int("num_replicas", num_replicas)})

    def stop_models(self, model_names: args.Names) -> List[str]:
        """Stops and removes every version of each named model. Returns the names stopped."""
        return self._admin("stop_models", {"model_names": args.names(model_names)})["stopped"]

    def stop_versioned_models(self, model_versions_dict: Dict[str, List[Version]]) -> List[str]:
        """Stops and removes the given versions (``{"name": ["1", "2"]}``). Returns the ``"name:version"``s removed."""
        removed = []
        for name, versions in args.versions_dict(model_versions_dict).items():
            for version in versions:
                self.delete_versioned_model(name, version)
                removed.append(f"{name}:{version}")
        return removed

    def stop_inactive_model_versions(self, model_names: args.Names) -> List[str]:
        """Removes every version but the current one of each named model. Returns the removed ``"name:version"``s."""
        return self._admin("stop_inactive_model_versions", {"model_names": args.names(model_names)})["stopped"]

    def stop_all_model_containers(self) -> List[str]:
        """Stops and removes every model (all versions); applications stay. Returns the model names stopped."""
        models = sorted({m["model_name"] for m in self.get_all_models(verbose=True)})
        return self.stop_models(models) if models else []

    def delete_versioned_model(self, model_name: str, version: Version) -> None:
        """Removes one version of a model: its replicas, its registry entry and (when unused) its artifact."""
        self._admin("delete_versioned_model", {"model_name": model_name, "model_version": str(version)})
