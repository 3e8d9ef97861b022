"""The tutorial's HR client on clipper_admin: register hr-hiring, deploy hr.pkl, link, ask about three candidates.

usage: python examples/hr/clipper_client_example.py [HR_PKL] [MGMT_URL] [QUERY_URL]
       (defaults: hr.pkl beside this file, http://127.0.0.1:1338, the management host on port 1337;
        install the client first: pip install ./clients/python)

The token comes from CLIPPER_TOKEN, else <CLIPPER_DATA_DIR or ./.clipper>/token. Running it twice is fine:
an app or model version that exists already is reused.
"""

import os
import sys

from clipper_admin import ClipperConnection, ClipperException

APP = "hr-hiring"
MODEL = "hr-decision-tree"
CANDIDATES = [
    [5.0, 3.0, 85.0, 4.5, 2.0],
    [2.0, 2.0, 70.0, 3.0, 1.0],
    [8.0, 4.0, 95.0, 5.0, 3.0],
]


def main() -> int:
    model_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "hr.pkl")
    url = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:1338"
    query_url = sys.argv[3] if len(sys.argv) > 3 else None
    conn = ClipperConnection(url=url, query_url=query_url)
    try:
        conn.connect()
        if conn.get_app_info(APP) is None:
            conn.register_application(APP, "doubles", "-1.0", 100000)
        if conn.get_model_info(MODEL, 1) is None:
            conn.deploy_model(MODEL, 1, "doubles", model_path)
        conn.link_model_to_app(APP, MODEL)
        print(f"{APP} serves {conn.get_linked_models(APP)} at {conn.get_query_addr()}")
        for candidate in CANDIDATES:
            answer = conn.predict(APP, candidate)
            verdict = {"1": "hire", "0": "do not hire"}.get(answer["output"], answer["output"])
            note = f" (default: {answer.get('default_explanation')})" if answer["default"] else ""
            print(f"{candidate} -> {answer['output']} ({verdict}){note}")
    except ClipperException as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
