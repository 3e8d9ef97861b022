"""Deploys a small real model with each framework deployer of clipper_admin (pytorch, onnx; or tensorflow,
keras), predicts through ClipperConnection, and compares with the framework's own predictions in-process.

usage: framework_deployers.py MGMT_URL QUERY_URL torch|tf  → prints {deployer: {"outputs", "expected", "defaults", ...}} as JSON
PyTorch and TensorFlow run in separate processes (in one, they fight over OpenMP and can hang).
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from clipper_admin import ClipperConnection  # noqa: E402

rng = np.random.default_rng(11)
X = rng.normal(size=(20, 5)).astype(np.float32)
SLO = 30_000_000  # a long SLO: on a loaded 2-core machine a first batch can be slow, and defaults are not the point


def served(conn, app):
    answers = conn.predict_batch(app, X.tolist())
    outputs = [json.loads(a["output"]) if isinstance(a["output"], str) else a["output"] for a in answers]
    return outputs, [a for a in answers if a["default"]]


def check(conn, app, expected, deployed):
    outputs, defaults = served(conn, app)
    diff = float(np.max(np.abs(np.asarray(outputs, dtype=np.float64) - np.asarray(expected, dtype=np.float64)))) if not defaults else None
    return {
        "state": deployed["state"],
        "format": deployed.get("runtime_info", {}).get("format"),
        "labels": conn.get_model_info(app, 1)["labels"],
        "rows": len(outputs),
        "defaults": defaults,
        "max_abs_diff": diff,
        "scale": float(np.max(np.abs(expected))),
    }


def torch_deployers(conn):
    import torch
    from clipper_admin.deployers import onnx as onnx_deployer
    from clipper_admin.deployers import pytorch as pytorch_deployer

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).eval()
    with torch.inference_mode():
        expected = mlp(torch.from_numpy(X)).numpy().tolist()
    out = {}
    conn.register_application("pt-mlp", "floats", "-1", SLO)
    deployed = pytorch_deployer.deploy_pytorch_model(conn, "pt-mlp", 1, "floats", None, mlp, labels=["torch"])
    conn.link_model_to_app("pt-mlp", "pt-mlp")
    out["pytorch"] = check(conn, "pt-mlp", expected, deployed)

    conn.register_application("onnx-mlp", "floats", "-1", SLO)
    deployed = onnx_deployer.deploy_pytorch_model(conn, "onnx-mlp", 1, "floats", torch.from_numpy(X[:2]), None, mlp, labels=["onnx", "v1"])
    conn.link_model_to_app("onnx-mlp", "onnx-mlp")
    out["onnx"] = check(conn, "onnx-mlp", expected, deployed)
    return out


def tf_deployers(conn):
    import keras
    import tensorflow as tf
    from clipper_admin.deployers import keras as keras_deployer
    from clipper_admin.deployers import tensorflow as tf_deployer

    tf.random.set_seed(3)

    class Scorer(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.normal([5, 3]))
            self.b = tf.Variable(tf.random.normal([3]))

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32, name="features")])
        def __call__(self, features):
            return {"scores": tf.nn.softmax(tf.matmul(features, self.w) + self.b)}

    module = Scorer()
    expected = module(tf.constant(X))["scores"].numpy().tolist()
    out = {}
    conn.register_application("tf-scorer", "floats", "-1", SLO)
    deployed = tf_deployer.deploy_tensorflow_model(conn, "tf-scorer", 1, "floats", None, module, labels=["tf"])
    conn.link_model_to_app("tf-scorer", "tf-scorer")
    out["tensorflow"] = check(conn, "tf-scorer", expected, deployed)

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    expected = model.predict(X, verbose=0).tolist()
    conn.register_application("keras-clf", "floats", "-1", SLO)
    deployed = keras_deployer.deploy_keras_model(conn, "keras-clf", 1, "floats", None, model)
    conn.link_model_to_app("keras-clf", "keras-clf")
    out["keras"] = check(conn, "keras-clf", expected, deployed)
    return out


def main():
    mgmt, query, group = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = ClipperConnection(url=mgmt, query_url=query, timeout=300)
    print(json.dumps(torch_deployers(conn) if group == "torch" else tf_deployers(conn)))


if __name__ == "__main__":
    main()
