"""Calls an app that needs a query token with Triton's own client (HTTP or gRPC, its defaults), with the
token in the authorization header (gRPC: metadata keys are lower case) and without it: model ready, model metadata and infer.

usage: triton_token_check.py http|grpc HOST:PORT APP TOKEN ROWS_JSON  → prints what the client saw as JSON
"""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    protocol, url, app, token, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    lib = httpclient if protocol == "http" else grpcclient
    client = lib.InferenceServerClient(url=url)
    as_json = {} if protocol == "http" else {"as_json": True}
    x = np.asarray(rows, dtype=np.float64)

    def calls(headers):
        def attempt(fn):
            try:
                return {"ok": fn()}
            except InferenceServerException as err:
                return {"status": str(err.status()), "message": err.message()}

        def infer():
            inp = lib.InferInput("input", list(x.shape), "FP64")
            inp.set_data_from_numpy(x)
            result = client.infer(app, [inp], headers=headers)
            return [v.decode() if isinstance(v, bytes) else str(v) for v in result.as_numpy("output").tolist()]

        return {
            "ready": attempt(lambda: client.is_model_ready(app, headers=headers)),
            "metadata": attempt(lambda: client.get_model_metadata(app, headers=headers, **as_json)),
            "infer": attempt(infer),
        }

    print(json.dumps({"with_token": calls({"authorization": f"Bearer {token}"}), "without": calls(None)}))


if __name__ == "__main__":
    main()
