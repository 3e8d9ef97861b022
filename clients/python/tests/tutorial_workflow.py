"""The tutorial's admin code, as written, with a container manager chosen on the command line; prints one JSON
object (what each step saw) for test/e2e/clipper-tutorial.test.ts.

usage: tutorial_workflow.py local|docker
The local manager takes its ports and data directory from CLIPPER_QUERY_PORT, CLIPPER_MGMT_PORT and
CLIPPER_DATA_DIR (the test sets them, so that runs do not collide); Docker publishes 1337 and 1338.
"""

import json
import os
import sys
import time

import requests
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples", "hr"))
from clipper_admin import ClipperConnection, DockerContainerManager, LocalContainerManager  # noqa: E402
from hr_data import make_dataset  # noqa: E402

out = {}
X, y = make_dataset()
model = DecisionTreeClassifier(max_depth=10, min_samples_split=5, min_samples_leaf=2, random_state=42).fit(X, y)
CANDIDATES = [[5.0, 3.0, 85.0, 4.5, 2.0], [2.0, 2.0, 70.0, 3.0, 1.0], [8.0, 4.0, 95.0, 5.0, 3.0]]
out["expected"] = [str(v) for v in model.predict(CANDIDATES)]


def predict_hiring(inputs):
    return [str(v) for v in model.predict(inputs)]


def predict_hiring_v2(inputs):
    # Version 2 answers the probability of a hire, so the answers tell which version served them.
    return [f"{p:.3f}" for p in model.predict_proba(inputs)[:, 1]]


def log(line):
    print(line, file=sys.stderr, flush=True)


# CLIPPER_TEST_IMAGE: another image than clipper:latest for DockerContainerManager (a locally built test image).
manager = (
    LocalContainerManager()
    if sys.argv[1] == "local"
    else DockerContainerManager(image=os.environ.get("CLIPPER_TEST_IMAGE", "clipper:latest"))
)

# ---- the tutorial, as written ----------------------------------------------------------------------------------
clipper_conn = ClipperConnection(manager)
clipper_conn.start_clipper()
log(f"started: query API at {clipper_conn.get_query_addr()}")
try:
    clipper_conn.register_application(name="hr-hiring", input_type="doubles", default_output="-1.0", slo_micros=100000)
    from clipper_admin.deployers import python as python_deployer  # noqa: E402

    started = time.monotonic()
    python_deployer.deploy_python_closure(
        clipper_conn, name="hr-decision-tree", version="1", input_type="doubles", func=predict_hiring, pkgs_to_install=["scikit-learn"]
    )
    out["deploy_seconds"] = round(time.monotonic() - started, 2)
    log(f"deployed version 1 in {out['deploy_seconds']} s")
    clipper_conn.link_model_to_app(app_name="hr-hiring", model_name="hr-decision-tree")

    # ---- REST predict, as the tutorial's client does ---------------------------------------------------------------
    url = f"http://{clipper_conn.get_query_addr()}/hr-hiring/predict"

    def predict_all():
        answers = [requests.post(url, json={"input": c}, timeout=30).json() for c in CANDIDATES]
        return {
            "outputs": [a["output"] for a in answers],
            "defaults": [a["default"] for a in answers],
            "versions": [a.get("model", {}).get("version") for a in answers],
        }

    out["v1"] = predict_all()
    python_deployer.deploy_python_closure(
        clipper_conn, name="hr-decision-tree", version="2", input_type="doubles", func=predict_hiring_v2, pkgs_to_install=["scikit-learn"]
    )
    out["v2"] = predict_all()
    out["expected_v2"] = [f"{p:.3f}" for p in model.predict_proba(CANDIDATES)[:, 1]]
    out["current_version"] = clipper_conn.get_current_model_version("hr-decision-tree")

    # ---- health ----------------------------------------------------------------------------------------------------
    out["apps"] = clipper_conn.get_all_apps()
    out["models"] = [{k: m[k] for k in ("model_name", "model_version", "status")} for m in clipper_conn.get_all_models(verbose=True)]
    replicas = clipper_conn.get_all_model_replicas(verbose=True)
    out["replicas"] = [{k: r[k] for k in ("model_name", "model_version", "status")} for r in replicas]
    pids = [r["pid"] for r in replicas if r.get("pid")]
    server_pid = manager.process.pid if isinstance(manager, LocalContainerManager) else None

    # ---- cleanup ---------------------------------------------------------------------------------------------------
    clipper_conn.unlink_model_from_app(app_name="hr-hiring", model_name="hr-decision-tree")
    out["linked_after_unlink"] = clipper_conn.get_linked_models("hr-hiring")
    clipper_conn.stop_models("hr-decision-tree")
    out["models_after_stop"] = clipper_conn.get_all_models()
    out["replicas_after_stop"] = clipper_conn.get_all_model_replicas()
    admin_addr = clipper_conn.cm.get_admin_addr()
except BaseException:
    clipper_conn.stop_all(graceful=False)  # leave nothing running when a step fails
    raise

clipper_conn.stop_all()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


out["replica_pids_alive"] = [pid for pid in pids if alive(pid)] if server_pid else []
out["server_alive"] = alive(server_pid) if server_pid else None
try:
    requests.get(f"http://{admin_addr}/admin/ping", timeout=2)
    out["answers_after_stop_all"] = True
except requests.ConnectionError:
    out["answers_after_stop_all"] = False
print(json.dumps(out))
