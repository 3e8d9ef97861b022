"""Runs the tutorial's admin code (tutorial_code.py, every block as written) with a container manager chosen on
the command line; prints one JSON object (what each step saw) for test/e2e/clipper-tutorial.test.ts.

usage: tutorial_workflow.py local|docker
The local manager takes its ports and data directory from CLIPPER_QUERY_PORT, CLIPPER_MGMT_PORT and
CLIPPER_DATA_DIR (the test sets them, so that runs do not collide); Docker publishes 1337 and 1338.
"""

import contextlib
import io
import json
import os
import sys
import time

import requests
from sklearn.tree import DecisionTreeClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "hr"))
import tutorial_code as tutorial  # noqa: E402
from clipper_admin import DockerContainerManager, LocalContainerManager  # noqa: E402
from hr_data import make_dataset  # noqa: E402

out = {}
X, y = make_dataset()
model = DecisionTreeClassifier(max_depth=10, min_samples_split=5, min_samples_leaf=2, random_state=42).fit(X, y)
CANDIDATES = [[5.0, 3.0, 85.0, 4.5, 2.0], [2.0, 2.0, 70.0, 3.0, 1.0], [8.0, 4.0, 95.0, 5.0, 3.0]]
out["expected"] = [str(v) for v in model.predict(CANDIDATES)]
out["expected_v2"] = [f"{p:.3f}" for p in model.predict_proba(CANDIDATES)[:, 1]]


def predict_hiring(inputs):
    return [str(v) for v in model.predict(inputs)]


def predict_hiring_v2(inputs):
    # Version 2 answers the probability of a hire, so the answers tell which version served them.
    return [f"{p:.3f}" for p in model.predict_proba(inputs)[:, 1]]


def log(line):
    print(line, file=sys.stderr, flush=True)


# The one substitution: where no Docker engine runs, LocalContainerManager in place of DockerContainerManager
# (CLIPPER_TEST_IMAGE: another image than clipper:latest for the Docker one, a locally built test image).
if sys.argv[1] == "local":
    tutorial.DockerContainerManager = LocalContainerManager
elif os.environ.get("CLIPPER_TEST_IMAGE"):
    tutorial.DockerContainerManager = lambda: DockerContainerManager(image=os.environ["CLIPPER_TEST_IMAGE"])

# ---- the tutorial, block by block -------------------------------------------------------------------------------
server = tutorial.ClipperModelServer()
conn = server.clipper_conn
server.start()
log(f"started: query API at {conn.get_query_addr()}")
try:
    server.register_app()
    started = time.monotonic()
    server.deploy(predict_hiring)
    out["deploy_seconds"] = round(time.monotonic() - started, 2)
    log(f"deployed version 1 in {out['deploy_seconds']} s")
    server.link()

    def predict_all():
        answers = [tutorial.predict(conn.get_query_addr(), "hr-hiring", c) for c in CANDIDATES]
        return {
            "outputs": [a["output"] for a in answers],
            "defaults": [a["default"] for a in answers],
            "versions": [a.get("model", {}).get("version") for a in answers],
        }

    out["v1"] = predict_all()
    tutorial.update_model(server, predict_hiring_v2, "2")
    out["v2"] = predict_all()
    out["current_version"] = conn.get_current_model_version("hr-decision-tree")

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tutorial.check_clipper_health(conn)
    out["health_printed"] = printed.getvalue().splitlines()
    log("\n".join(out["health_printed"]))

    # What the test observes besides the tutorial's own output (before cleanup_clipper stops everything).
    replicas = conn.get_all_model_replicas(verbose=True)
    out["models"] = [{k: m[k] for k in ("model_name", "model_version", "status")} for m in conn.get_all_models(verbose=True)]
    out["replicas"] = [{k: r[k] for k in ("model_name", "model_version", "status")} for r in replicas]
    pids = [r["pid"] for r in replicas if r.get("pid")]
    server_pid = conn.cm.process.pid if isinstance(conn.cm, LocalContainerManager) else None
    admin_addr = conn.cm.get_admin_addr()
except BaseException:
    conn.stop_all(graceful=False)  # leave nothing running when a step fails
    raise

tutorial.cleanup_clipper(conn)


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
