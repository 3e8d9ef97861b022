"""Trains the heavier model of the forest point: a 100-tree random forest on the HR tutorial's data.

usage: python train_forest.py OUT_PATH   (n_estimators=100, random_state=42, otherwise scikit-learn's defaults)
"""

import os
import pickle
import sys

from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "hr"))
from hr_data import make_dataset  # noqa: E402

X, y = make_dataset()
# The same training rows as examples/hr/train.py's tree.
X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=42)
model = RandomForestClassifier(n_estimators=100, random_state=42)
model.fit(X_train, y_train)
with open(sys.argv[1], "wb") as f:
    pickle.dump(model, f)
