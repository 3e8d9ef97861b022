"""The Python replica alone, over real pipes, against its framework's own call: where a TorchScript batch's CPU goes.

usage: python worker_pipe.py MODEL.pt [BATCHES [SIZES]]   (prints JSON; SIZES comma-separated, default 64..384)
Starts runtimes/python/clipper_worker.py on the model (a TorchScript file, one torch thread) and sends it BATCHES
(default 1500) version 3 predict frames of FP64 rows, the sizes drawn at random from SIZES as the server's batches
vary; reads the worker's CPU time and minor page faults from /proc around them. Then the forward alone in this
process on the same mix, one torch thread: the difference is the worker's own cost.
"""

import json
import os
import random
import struct
import subprocess
import sys
import time

import msgpack
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "../../runtimes/python/clipper_worker.py")
model = sys.argv[1]
batches = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
sizes = [int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "64,128,192,256,320,384").split(",")]
rng = np.random.default_rng(0)
random.seed(0)
sequence = [random.choice(sizes) for _ in range(batches)]


def stat(pid):
    """CPU seconds (user + system) and minor page faults of a process."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), int(f[7])


proc = subprocess.Popen(
    [sys.executable, WORKER, "--artifact", model, "--format", "torchscript"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
)


def send(message):
    body = msgpack.packb(message, use_bin_type=True)
    proc.stdin.write(struct.pack("<I", len(body)) + body)
    proc.stdin.flush()


def read():
    (n,) = struct.unpack("<I", proc.stdout.read(4))
    return msgpack.unpackb(proc.stdout.read(n), raw=False)


assert read()["type"] == "hello"
frames = {
    b: {
        "v": 3,
        "type": "predict",
        "id": 1,
        "input_type": "doubles",
        "shape": [b, 5],
        "dtype": "f8",
        "data": rng.normal(size=(b, 5)).tobytes(),
    }
    for b in sizes
}
for b in sequence[:200]:
    send(frames[b])
    read()
cpu0, faults0 = stat(proc.pid)
for b in sequence:
    send(frames[b])
    reply = read()
    assert reply["type"] == "result", reply
cpu1, faults1 = stat(proc.pid)
proc.stdin.close()
proc.wait()
rows = sum(sequence)

os.environ["OMP_NUM_THREADS"] = "1"
import torch  # noqa: E402

torch.set_num_threads(1)
module = torch.jit.load(model)
module.eval()
inputs = {b: rng.normal(size=(b, 5)).astype(np.float32) for b in sizes}
with torch.inference_mode():
    for b in sequence[:200]:
        module(torch.from_numpy(inputs[b]))
    started = time.process_time()
    for b in sequence:
        module(torch.from_numpy(inputs[b]))
    forward = time.process_time() - started
print(
    json.dumps(
        {
            "mean_batch_rows": rows / len(sequence),
            "worker_cpu_micros_per_64_rows": (cpu1 - cpu0) / rows * 64e6,
            "worker_minor_faults_per_batch": (faults1 - faults0) / len(sequence),
            "forward_alone_cpu_micros_per_64_rows": forward / rows * 64e6,
        }
    )
)
