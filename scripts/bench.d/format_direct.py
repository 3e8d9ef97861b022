"""The limit for scripts/format-stats: one model format's framework called directly in a loop, in one process.

usage: python format_direct.py FORMAT PATH INPUT_SHAPE|- BATCH[,BATCH...]   (prints JSON {batch: rows_per_sec})
The model is loaded by the runtime's own loader (clipper_formats), and the timed call is the framework's call
alone (no reshaping, no msgpack, no HTTP), on float rows of the model's input shape.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../runtimes/python"))
import clipper_formats  # noqa: E402
import numpy as np  # noqa: E402

fmt, path, shape_arg, batches = sys.argv[1], sys.argv[2], sys.argv[3], [int(b) for b in sys.argv[4].split(",")]
shape = None if shape_arg == "-" else [int(d) for d in shape_arg.split(",")]
model = clipper_formats.load(fmt, path, shape, 1, "raw")
row_shape = model.input_shape or [5]
rng = np.random.default_rng(0)
result = {}
for batch in batches:
    x = rng.normal(size=(batch, *row_shape)).astype(model._dtype or np.float64)
    model._call(x)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.0:
        model._call(x)
        calls += 1
    result[batch] = calls * batch / (time.perf_counter() - started)
print(json.dumps(result))
