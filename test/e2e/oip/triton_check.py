"""Drives clipper's V2 API with Triton's own client, HTTP or gRPC, with the client's defaults
(HTTP: binary tensor data in and out; gRPC: raw_input_contents).

usage: triton_check.py http|grpc HOST:PORT APP ROWS_JSON TEXT_APP TEXTS_JSON  → prints what the client saw as JSON
"""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    protocol, url, app, rows, text_app, texts = (
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        json.loads(sys.argv[4]),
        sys.argv[5],
        json.loads(sys.argv[6]),
    )
    lib = httpclient if protocol == "http" else grpcclient
    client = lib.InferenceServerClient(url=url)
    as_json = {} if protocol == "http" else {"as_json": True}

    def infer(model, array, datatype, shape=None):
        inp = lib.InferInput("input", list(array.shape), datatype)
        inp.set_data_from_numpy(array)
        if shape is not None:
            inp.set_shape(shape)  # a lying shape, sent as it is
        result = client.infer(model, [inp], request_id="req-7")
        # A numeric tensor when the runtime packed the outputs (as str() shows them), else BYTES
        return [v.decode() if isinstance(v, bytes) else str(v) for v in result.as_numpy("output").tolist()], result.get_response(**as_json)

    def error(fn):
        try:
            fn()
            return None
        except InferenceServerException as err:
            return {"status": str(err.status()), "message": err.message()}

    x = np.asarray(rows, dtype=np.float64)
    fp64, response = infer(app, x, "FP64")
    fp32, _ = infer(app, x.astype(np.float32), "FP32")
    strings, _ = infer(text_app, np.asarray(texts, dtype=object), "BYTES")
    print(
        json.dumps(
            {
                "live": client.is_server_live(),
                "ready": client.is_server_ready(),
                "server_metadata": client.get_server_metadata(**as_json),
                "model_ready": client.is_model_ready(app),
                "metadata": client.get_model_metadata(app, **as_json),
                "text_metadata": client.get_model_metadata(text_app, **as_json),
                "fp64": fp64,
                "fp32": fp32,
                "strings": strings,
                "response": response,
                "unknown_model": error(lambda: infer("no-such-app", x, "FP64")),
                "wrong_datatype": error(lambda: infer(app, np.asarray([["a", "b"]], dtype=object), "BYTES")),
                "wrong_shape": error(lambda: infer(app, x[:2, :4].copy(), "FP64", shape=[2, 5])),
            }
        )
    )


if __name__ == "__main__":
    main()
