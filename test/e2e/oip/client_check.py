"""Drives clipper's V2 JSON endpoints with Triton's HTTP client, binary data turned off (the plain JSON path).

usage: client_check.py HOST:PORT APP ROWS_JSON  → prints one JSON object with what the client saw
"""

import json
import sys

import numpy as np
import tritonclient.http as http
from tritonclient.utils import InferenceServerException


def main():
    url, app, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    client = http.InferenceServerClient(url=url)
    out = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(app),
        "metadata": client.get_model_metadata(app),
    }
    x = np.asarray(rows, dtype=np.float64)
    inp = http.InferInput("input", list(x.shape), "FP64")
    inp.set_data_from_numpy(x, binary_data=False)
    result = client.infer(app, [inp], request_id="req-1", outputs=[http.InferRequestedOutput("output", binary_data=False)])
    out["outputs"] = [v.decode() if isinstance(v, bytes) else str(v) for v in result.as_numpy("output").tolist()]
    out["response"] = result.get_response()
    version = out["metadata"]["versions"][0]
    out["versioned_outputs"] = [
        v.decode() if isinstance(v, bytes) else str(v) for v in client.infer(app, [inp], model_version=version).as_numpy("output").tolist()
    ]
    try:
        bad = http.InferInput("input", [1, 2], "BYTES")
        bad.set_data_from_numpy(np.asarray([["a", "b"]], dtype=object), binary_data=False)
        client.infer(app, [bad])
        out["bad_datatype_error"] = None
    except InferenceServerException as err:
        out["bad_datatype_error"] = str(err)
    try:
        client.get_model_metadata("no-such-app")
        out["unknown_model_error"] = None
    except InferenceServerException as err:
        out["unknown_model_error"] = str(err)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
