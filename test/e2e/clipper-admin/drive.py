"""Drives Clipper's own client (clipper-admin 0.4.1 from PyPI) against a running clipper: every ClipperConnection
call that does not build images; prints one JSON object for test/e2e/clipper-admin.test.ts.

usage: drive.py MGMT_URL QUERY_URL TOKEN HR_PKL ROWS_JSON
The only change to Clipper's client: an Authorization header on its requests to the management API.
Its ContainerManager points at the running server (clipper starts replicas itself at add_model).
"""

import json
import logging
import sys
import tempfile

import requests
from clipper_admin import ClipperConnection, ClipperException
from clipper_admin.container_manager import ContainerManager

MGMT, QUERY, TOKEN, HR_PKL, ROWS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
APP, MODEL = "ca-app", "ca-model"
logging.disable(logging.CRITICAL)

_request = requests.Session.request


def _with_token(self, method, url, **kwargs):
    if url.startswith(MGMT):
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {TOKEN}"}
    return _request(self, method, url, **kwargs)


requests.Session.request = _with_token


def admin(path, body):
    res = requests.post(f"{MGMT}/admin/{path}", json=body, timeout=120)
    res.raise_for_status()
    return res.json()


class RunningClipper(ContainerManager):
    """A container manager for a server that runs already: clipper starts and stops replicas itself."""

    cluster_identifier = "running-clipper"

    def start_clipper(self, *args):
        pass

    def connect(self):
        pass

    def deploy_model(self, name, version, input_type, image, num_replicas=1):
        pass

    def get_num_replicas(self, name, version):
        return sum(1 for c in admin("get_all_containers", {"verbose": True}) if c["model_name"] == name and c["model_version"] == version)

    def set_num_replicas(self, name, version, input_type, image, num_replicas):
        admin("set_num_replicas", {"model_name": name, "num_replicas": num_replicas})

    def get_logs(self, logging_dir):
        return []

    def stop_models(self, models):
        pass

    def stop_all_model_containers(self):
        pass

    def stop_all(self, graceful=True):
        pass

    def get_admin_addr(self):
        return MGMT.split("://", 1)[1]

    def get_query_addr(self):
        return QUERY.split("://", 1)[1]

    def get_metric_addr(self):
        return self.get_query_addr()


def failure(call):
    try:
        return {"raised": None, "value": call()}
    except ClipperException as err:
        return {"raised": type(err).__name__, "message": str(err)}


def predict(row):
    return requests.post(f"{QUERY}/{APP}/predict", json={"input": row}, timeout=30).json()


out = {}
conn = ClipperConnection(RunningClipper())
conn.start_clipper()
conn.connect()
out["connected"] = conn.connected
conn.register_application(APP, "doubles", "-1.0", 100000)
out["apps"] = conn.get_all_apps()
out["apps_verbose"] = conn.get_all_apps(verbose=True)
out["app_info"] = conn.get_app_info(APP)
# Clipper answered an unknown name with 200 and {}, which this client returns as None.
out["app_info_unknown"] = failure(lambda: conn.get_app_info("nope"))
out["model_info_unknown"] = failure(lambda: conn.get_model_info("nope", "1"))

# Clipper's register_model without an image: NO_CONTAINER, linked, answering the default.
conn.register_model(MODEL, "1", "doubles", labels=["tutorial"])
conn.link_model_to_app(APP, MODEL)
out["linked"] = conn.get_linked_models(APP)
out["current"] = conn.get_current_model_version(MODEL)
out["models"] = conn.get_all_models()
out["models_verbose"] = conn.get_all_models(verbose=True)
out["model_info"] = conn.get_model_info(MODEL, "1")
out["containerless_replicas"] = conn.get_num_replicas(MODEL)
out["containerless_resize"] = failure(lambda: conn.set_num_replicas(MODEL, 2))
out["containerless_answer"] = predict(ROWS[0])

# ... then deployed later under the same version, through clipper's own upload (Clipper would build an image).
with open(HR_PKL, "rb") as f:
    sha = requests.put(f"{MGMT}/admin/artifacts", data=f, timeout=60).json()["sha256"]
admin("add_model", {"model_name": MODEL, "model_version": "1", "input_type": "doubles", "artifact_sha256": sha, "artifact_name": "hr.pkl"})
out["deployed_answers"] = [predict(r)["output"] for r in ROWS]
out["replicas_after_deploy"] = conn.get_num_replicas(MODEL)
conn.set_num_replicas(MODEL, 2)
out["replicas_after_scale"] = conn.get_num_replicas(MODEL, "1")
out["replica_names"] = conn.get_all_model_replicas()
out["replicas_verbose"] = conn.get_all_model_replicas(verbose=True)
out["replica_info"] = conn.get_model_replica_info(MODEL, "1", int(out["replica_names"][0].rsplit(":", 1)[1]))
out["model_info_deployed"] = conn.get_model_info(MODEL, "1")
out["replica_info_unknown"] = failure(lambda: conn.get_model_replica_info(MODEL, "1", 99))

# A docker image in deploy_model: the server runs it with its docker runtime.
out["deploy_image"] = failure(lambda: conn.deploy_model("ca-image", "1", "doubles", "clipper/python-runtime:latest"))

# Versions: a second (containerless) version, back to 1, and stop the inactive one.
conn.register_model(MODEL, "2", "doubles")
out["current_after_v2"] = conn.get_current_model_version(MODEL)
conn.set_model_version(MODEL, "1")
out["current_after_set"] = conn.get_current_model_version(MODEL)
conn.stop_inactive_model_versions([MODEL])
out["models_after_inactive"] = conn.get_all_models()

out["metrics"] = conn.inspect_instance()
out["query_addr"] = conn.get_query_addr()
out["metric_addr"] = conn.get_metric_addr()
with tempfile.TemporaryDirectory() as logs:
    out["logs"] = conn.get_clipper_logs(logs)
out["test_predict_function"] = conn.test_predict_function({"input": [1.0, 2.0]}, lambda xs: [str(sum(x)) for x in xs], "doubles")

conn.unlink_model_from_app(APP, MODEL)
out["linked_after_unlink"] = conn.get_linked_models(APP)
conn.register_model("ca-other", "1", "doubles")
conn.register_model("ca-other", "2", "doubles")
conn.stop_versioned_models({"ca-other": ["1"]})
out["models_after_versioned"] = sorted(conn.get_all_models())
conn.stop_models([MODEL])
out["models_after_stop_models"] = sorted(conn.get_all_models())
conn.stop_all_model_containers()
out["models_after_stop_all_containers"] = conn.get_all_models()
conn.delete_application(APP)
conn.register_application("ca-app2", "doubles", "-1.0", 100000)
conn.unregister_application("ca-app2")
out["apps_after_delete"] = conn.get_all_apps()
conn.stop_all()
print(json.dumps(out))
