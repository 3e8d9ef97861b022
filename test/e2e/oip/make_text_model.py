"""Trains a small scikit-learn text classifier (bag of words, naive Bayes) for a strings app.

usage: make_text_model.py OUT.pkl TEXTS_JSON  → prints {"expected": [...]}: its own predictions for TEXTS
"""

import json
import pickle
import sys

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

TRAIN = [
    ("great product, works well", "pos"),
    ("love it, excellent quality", "pos"),
    ("happy with this, great value", "pos"),
    ("terrible, broke after a day", "neg"),
    ("awful quality, do not buy", "neg"),
    ("disappointed, it stopped working", "neg"),
]


def main():
    out, texts = sys.argv[1], json.loads(sys.argv[2])
    model = make_pipeline(CountVectorizer(), MultinomialNB())
    model.fit([t for t, _ in TRAIN], [y for _, y in TRAIN])
    with open(out, "wb") as f:
        pickle.dump(model, f)
    print(json.dumps({"expected": [str(v) for v in model.predict(texts).tolist()]}))


if __name__ == "__main__":
    main()
