"""Trains the ensemble benchmark's five models on scikit-learn's digits and writes them, a straggling copy of one
and the feedback and test rows.

usage: train_digits.py OUT_DIR STRAGGLE_SECONDS  → OUT_DIR/{forest,mlp,logistic,knn,svm,svm-straggler}.pkl, OUT_DIR/data.json

The models are trained on 200 rows (so that they differ, as models of one task trained by different teams do);
500 rows are kept for feedback (Exp4 learns from them) and the rest (1,097) for the test.
The straggler answers like svm, but sleeps STRAGGLE_SECONDS before half of its batches (a coin per batch).
"""

import json
import os
import pickle
import random
import sys
import time
import warnings

import cloudpickle
import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

warnings.filterwarnings("ignore")


def main():
    out, straggle_s = sys.argv[1], float(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, train_size=200, random_state=0, stratify=y)
    x_fb, x_test, y_fb, y_test = train_test_split(x_rest, y_rest, train_size=500, random_state=0, stratify=y_rest)
    models = {
        "forest": RandomForestClassifier(n_estimators=30, random_state=0),
        "mlp": MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=0),
        "logistic": LogisticRegression(max_iter=300),
        "knn": KNeighborsClassifier(n_neighbors=3),
        "svm": SVC(gamma=0.001),
    }
    for name, model in models.items():
        model.fit(x_train, y_train)
        with open(os.path.join(out, f"{name}.pkl"), "wb") as f:
            pickle.dump(model, f)

    svm = models["svm"]
    rng = random.Random(1)

    def straggler(inputs):
        if rng.random() < 0.5:
            time.sleep(straggle_s)
        return [str(v) for v in svm.predict(np.asarray(inputs, dtype=float))]

    with open(os.path.join(out, "svm-straggler.pkl"), "wb") as f:
        cloudpickle.dump(straggler, f)
    rows = lambda xs, ys: [{"x": [float(v) for v in a], "y": str(int(b))} for a, b in zip(xs, ys, strict=True)]  # noqa: E731
    with open(os.path.join(out, "data.json"), "w") as f:
        json.dump({"models": list(models), "feedback": rows(x_fb, y_fb), "test": rows(x_test, y_test)}, f)


if __name__ == "__main__":
    main()
