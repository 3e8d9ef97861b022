"""Times the model's own predict on one row (no serving): the floor any server's latency sits on.

usage: python predict_time.py MODEL.pkl [ITERATIONS]   prints {"median_micros": .., "mean_micros": .., "iterations": ..}
"""

import json
import pickle
import statistics
import sys
import time

import numpy as np

with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
row = np.array([[5.0, 3.0, 85.0, 4.5, 2.0]], dtype=np.float64)
for _ in range(200):
    model.predict(row)
samples = []
for _ in range(iterations):
    started = time.perf_counter()
    model.predict(row)
    samples.append((time.perf_counter() - started) * 1e6)
print(json.dumps({"median_micros": statistics.median(samples), "mean_micros": statistics.fmean(samples), "iterations": iterations}))
