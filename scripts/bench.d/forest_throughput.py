"""The forest's own throughput in-process (no serving): `predict` on batches of the size clipper formed.

usage: python forest_throughput.py MODEL.pkl BODIES.txt BATCH_ROWS [SECONDS]
  BODIES.txt: the wrk bodies of the cache-off point ({"input": [5 doubles]} per line), cycled through.
  prints {"rows_per_sec": .., "batch_rows": .., "calls": .., "seconds": ..}
"""

import json
import pickle
import sys
import time

import numpy as np

with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
with open(sys.argv[2]) as f:
    rows = np.array([json.loads(line)["input"] for line in f if line.strip()], dtype=np.float64)
batch_rows = max(1, int(sys.argv[3]))
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
# Varied batches, made before timing so that only predict is timed.
count = max(1, len(rows) // batch_rows)
batches = [np.ascontiguousarray(rows[i * batch_rows : (i + 1) * batch_rows]) for i in range(count)]
if len(batches[0]) < batch_rows:
    batches = [np.resize(rows, (batch_rows, rows.shape[1]))]
for b in batches[:5]:
    model.predict(b)
calls = 0
started = time.perf_counter()
while time.perf_counter() - started < seconds:
    model.predict(batches[calls % len(batches)])
    calls += 1
elapsed = time.perf_counter() - started
print(json.dumps({"rows_per_sec": calls * batch_rows / elapsed, "batch_rows": batch_rows, "calls": calls, "seconds": elapsed}))
