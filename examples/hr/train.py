"""Trains the tutorial's decision tree on the synthetic HR data and writes it as a pickle.

usage: python examples/hr/train.py [OUT_PATH]   (default: examples/hr/hr.pkl)
"""

import os
import pickle
import sys

from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hr_data import make_dataset  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "hr.pkl")
    X, y = make_dataset()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    model = DecisionTreeClassifier(max_depth=10, min_samples_split=5, min_samples_leaf=2, random_state=42)
    model.fit(X_train, y_train)
    print(f"test accuracy: {accuracy_score(y_test, model.predict(X_test)):.3f} on {len(y_test)} rows")
    with open(out, "wb") as f:
        pickle.dump(model, f)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
