"""Trains a second HR model (a shallower decision tree) so the soak's versions alternate between two artifacts.

usage: python scripts/soak.d/train_variant.py OUT_PATH
"""

import os
import pickle
import sys

from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "hr"))
from hr_data import make_dataset  # noqa: E402


def main():
    X, y = make_dataset()
    model = DecisionTreeClassifier(max_depth=4, random_state=7).fit(X, y)
    with open(sys.argv[1], "wb") as f:
        pickle.dump(model, f)


if __name__ == "__main__":
    main()
