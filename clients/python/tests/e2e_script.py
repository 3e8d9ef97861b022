"""Drives every ClipperConnection method against a running clipper; prints one JSON object for test/e2e/python-client.test.ts.

usage: e2e_script.py MGMT_URL QUERY_URL DATA_DIR HR_PKL ROWS_JSON
Progress goes to stderr; stdout's last line is the JSON result.
"""

import json
import os
import sys
import tempfile
from typing import Any, Callable, Dict

from clipper_admin import ClipperConnection, ClipperException
from clipper_admin.deployers import python as python_deployer

APP, MODEL = "py-hr", "py-hr-dt"


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def failure(call: Callable[[], Any]) -> Dict[str, Any]:
    """What a call that must fail raised: the ClipperException's fields, or the surprising success."""
    try:
        value = call()
    except ClipperException as err:
        return {
            "raised": "ClipperException",
            "status": err.status,
            "error": err.error,
            "cause": err.cause,
            "code": err.code,
            "message": str(err),
        }
    return {"raised": None, "value": value}


def closures(conn: ClipperConnection, out: Dict[str, Any]) -> None:
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        log("SKIPPED deploy_python_closure: cloudpickle is not importable (pip install 'clipper_admin[closures]')")
        out["closure"] = {"skipped": "cloudpickle is not importable"}
        return
    offset = 0.5

    def add_offset(inputs):
        return [float(sum(row)) + offset for row in inputs]

    conn.register_application("py-sum", "doubles", "-1.0", 100000)
    info = conn.deploy_python_closure("py-sum", 1, "doubles", add_offset, pkgs_to_install=["numpy"])
    conn.link_model_to_app("py-sum", "py-sum")
    python_deployer.create_endpoint(conn, "py-len", "strings", lambda xs: [str(len(x)) for x in xs], default_output="-1")
    out["closure"] = {
        "state": info["state"],
        "model_class": info["runtime_info"].get("model_class"),
        "sum": conn.predict("py-sum", [1.0, 2.0, 3.0])["output"],
        "sum_batch": [p["output"] for p in conn.predict_batch("py-sum", [[1.0, 0.0], [2.0, 2.0]])],
        "len": conn.predict("py-len", "hello")["output"],
        "len_linked": conn.get_linked_models("py-len"),
    }
    conn.stop_models(["py-sum", "py-len"])
    conn.delete_application("py-sum")
    conn.delete_application("py-len")


def main() -> None:
    mgmt, query, data_dir, hr_pkl, rows_json = sys.argv[1:6]
    rows = json.loads(rows_json)
    out: Dict[str, Any] = {}

    conn = ClipperConnection(url=mgmt, query_url=query, data_dir=data_dir)
    conn.connect()
    out["connected"] = conn.connected
    out["query_addr"] = conn.get_query_addr()
    out["bad_token"] = failure(lambda: ClipperConnection(url=mgmt, token="not-the-token").connect())
    out["unreachable"] = failure(lambda: ClipperConnection(url="http://127.0.0.1:9", timeout=5).connect())

    log("register_application, deploy_model, link_model_to_app")
    out["app"] = conn.register_application(APP, "doubles", "-1.0", 100000)  # None, as in Clipper
    deployed = conn.deploy_model(MODEL, 1, "doubles", hr_pkl)
    out["deployed"] = {k: deployed[k] for k in ("model_name", "model_version", "state", "ready_replicas", "artifact_name")}
    out["linked"] = conn.link_model_to_app(APP, MODEL)

    log("predict, predict_batch")
    out["predictions"] = [conn.predict(APP, row)["output"] for row in rows]
    out["batch"] = [p["output"] for p in conn.predict_batch(APP, rows)]
    out["defaults"] = [p["default"] for p in conn.predict_batch(APP, rows)]

    log("query tokens")
    guarded = "py-guarded"
    token = "py-query-token-0123456789"
    conn.register_application(guarded, "doubles", "-1.0", 100000, query_token=token)
    conn.link_model_to_app(guarded, MODEL)
    out["guarded_prediction"] = conn.predict(guarded, rows[0])["output"]
    out["guarded_batch"] = [p["output"] for p in conn.predict_batch(guarded, rows)]
    stranger = ClipperConnection(url=mgmt, query_url=query, data_dir=data_dir)
    out["guarded_without"] = failure(lambda: stranger.predict(guarded, rows[0]))
    out["guarded_wrong"] = failure(lambda: stranger.predict(guarded, rows[0], query_token="not-the-query-token"))
    out["guarded_given"] = stranger.predict(guarded, rows[0], query_token=token)["output"]
    conn.delete_application(guarded)

    log("getters")
    out["apps"] = conn.get_all_apps()
    out["apps_verbose"] = conn.get_all_apps(verbose=True)
    out["app_info"] = conn.get_app_info(APP)
    out["app_info_unknown"] = conn.get_app_info("no-such-app")
    out["models"] = conn.get_all_models()
    out["models_verbose"] = [
        {"model_name": m["model_name"], "model_version": m["model_version"], "is_current": m["is_current"]}
        for m in conn.get_all_models(verbose=True)
    ]
    out["model_info"] = conn.get_model_info(MODEL, 1)
    out["model_info_unknown"] = conn.get_model_info(MODEL, 99)
    out["linked_models"] = conn.get_linked_models(APP)

    log("versions: deploy v2 with app_name, set_model_version back to 1, scale, stop inactive")
    v2 = conn.deploy_model(MODEL, "2", "doubles", hr_pkl, replicas=1, predict_method="predict", app_name=APP)
    out["v2_current"] = v2["is_current"]
    out["rollback"] = conn.set_model_version(MODEL, 1)["is_current"]
    out["current_after_rollback"] = [
        m["model_version"] for m in conn.get_all_models(verbose=True) if m["model_name"] == MODEL and m["is_current"]
    ]
    out["scaled"] = conn.set_num_replicas(MODEL, 2)["replicas"]
    out["replicas"] = [r for r in conn.get_all_model_replicas() if r.startswith(MODEL + ":")]
    out["replicas_verbose_states"] = [r["state"] for r in conn.get_all_model_replicas(verbose=True) if r["model_name"] == MODEL]
    out["stopped_inactive"] = conn.stop_inactive_model_versions([MODEL])
    out["after_rollback_prediction"] = conn.predict(APP, rows[0])["output"]
    out["num_replicas"] = conn.get_num_replicas(MODEL)
    with tempfile.TemporaryDirectory() as logs:
        files = conn.get_clipper_logs(logs)
        out["log_files"] = [os.path.basename(f) for f in files]

    log("errors")
    out["duplicate_app"] = failure(lambda: conn.register_application(APP, "doubles", "-1.0", 100000))
    out["bad_name"] = failure(lambda: conn.register_application("Bad Name!", "doubles", "-1.0", 100000))
    out["unknown_app_query"] = failure(lambda: conn.predict("no-such-app", rows[0]))
    out["unknown_version"] = failure(lambda: conn.set_model_version(MODEL, 42))
    out["missing_file"] = failure(lambda: conn.deploy_model("nofile", 1, "doubles", hr_pkl + ".missing"))

    log("deploy_python_closure")
    closures(conn, out)

    log("unlink, delete, stop")
    out["unlinked"] = conn.unlink_model_from_app(APP, MODEL)
    conn.delete_application(APP)
    out["apps_after_delete"] = conn.get_all_apps()
    out["stopped"] = conn.stop_models([MODEL])
    out["models_after_stop"] = conn.get_all_models()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
