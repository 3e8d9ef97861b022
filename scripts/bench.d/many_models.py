"""Makes the models of `scripts/bench --many-models`: model i's format is FORMAT_OF(i), its weights depend on i.

usage: many_models.py N OUT_DIR clipper    every model, one file each (m{i}.pkl/.joblib/.py/.onnx/.pt)
       many_models.py N OUT_DIR mlserver   the scikit-learn ones (pickles and joblib files), in MLServer's
                                           layout: OUT_DIR/m{i}/model.joblib and model-settings.json
Each side runs it with its own interpreter, so each pickle is made by the scikit-learn that loads it.
"""

import json
import os
import pickle
import sys

import numpy as np

FORMATS = ("pickle", "joblib", "module", "onnx", "torchscript")


def format_of(i):
    """Of every 20 models: 16 pickles, then one joblib file, one Python module, one ONNX graph, one TorchScript module."""
    return {16: "joblib", 17: "module", 18: "onnx", 19: "torchscript"}.get(i % 20, "pickle")


def sklearn_model(i):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(i)
    x = rng.normal(size=(200, 5))
    y = (x[:, 0] + i * 0.01 > 0).astype(int)
    return LogisticRegression(random_state=i).fit(x, y)


def onnx_model(i, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(i)
    w = rng.normal(size=(5, 1)).astype(np.float32)
    b = rng.normal(size=(1,)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        f"m{i}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)


def torch_model(i, path):
    import torch

    torch.manual_seed(i)
    mlp = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).eval()
    torch.jit.script(mlp).save(path)


def main():
    n, out, side = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        fmt = format_of(i)
        if side == "mlserver":
            if fmt not in ("pickle", "joblib"):
                continue
            import joblib

            os.makedirs(os.path.join(out, f"m{i}"), exist_ok=True)
            joblib.dump(sklearn_model(i), os.path.join(out, f"m{i}", "model.joblib"))
            settings = {"name": f"m{i}", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}}
            with open(os.path.join(out, f"m{i}", "model-settings.json"), "w") as f:
                json.dump(settings, f)
            continue
        if fmt == "pickle":
            with open(os.path.join(out, f"m{i}.pkl"), "wb") as f:
                pickle.dump(sklearn_model(i), f)
        elif fmt == "joblib":
            import joblib

            joblib.dump(sklearn_model(i), os.path.join(out, f"m{i}.joblib"))
        elif fmt == "module":
            with open(os.path.join(out, f"m{i}.py"), "w") as f:
                f.write(f"def predict(inputs):\n    return [float(sum(r)) + {i} for r in inputs]\n")
        elif fmt == "onnx":
            onnx_model(i, os.path.join(out, f"m{i}.onnx"))
        else:
            torch_model(i, os.path.join(out, f"m{i}.pt"))


if __name__ == "__main__":
    main()
