"""Converts the HR decision tree to ONNX, for serving through onnxruntime-node in the Node runtime (no Python there).

usage: python examples/onnx/export.py [--pkl HR_PKL] [OUT_ONNX]   (default out: examples/onnx/hr.onnx)

With --pkl, converts that pickled model (e.g. examples/hr/hr.pkl); without, trains the tree exactly like
examples/hr/train.py (same data, split and hyper-parameters, so the same tree as hr.pkl).
Needs examples/onnx/requirements.txt (skl2onnx, onnx, scikit-learn), nothing else.
"""

import argparse
import os
import pickle
import sys

import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hr"))
from hr_data import FEATURES, make_dataset  # noqa: E402


def train():
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_dataset()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=42)
    model = DecisionTreeClassifier(max_depth=10, min_samples_split=5, min_samples_leaf=2, random_state=42)
    return model.fit(X_train, y_train)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=os.path.join(HERE, "hr.onnx"))
    ap.add_argument("--pkl", help="a pickled scikit-learn classifier to convert instead of training one")
    args = ap.parse_args()
    if args.pkl:
        with open(args.pkl, "rb") as f:
            model = pickle.load(f)
    else:
        model = train()
    n = len(FEATURES)
    # float32 input, like scikit-learn itself, which casts X to float32 before walking the tree; skl2onnx rounds
    # each threshold to the float32 that keeps every float32 input on the same side, so the labels agree.
    # zipmap=False: a plain [N] label tensor and an [N,2] probability tensor instead of a sequence of maps.
    onx = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, n]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onx.doc_string = f"HR hiring decision tree; input: [N,{n}] float32 ({', '.join(FEATURES)}); output 'label': int64 [N]"
    onnx.checker.check_model(onx)
    with open(args.out, "wb") as f:
        f.write(onx.SerializeToString())
    print(
        f"wrote {args.out} ({os.path.getsize(args.out)} bytes; inputs {[i.name for i in onx.graph.input]}, "
        f"outputs {[o.name for o in onx.graph.output]})"
    )


if __name__ == "__main__":
    main()
