"""gRPC load for scripts/bench --tensors: CALLERS coroutines calling ModelInfer back to back over one channel
(grpcio's asyncio API, the C core), each with a [ROWS, 5] FP64 tensor in raw_input_contents as Triton's
gRPC client sends it, using Triton's own generated stubs.

usage: grpc_load.py ADDR MODEL SECONDS CALLERS BATCHES_JSON
  → prints {"requests", "errors", "seconds", "p50_ms", "p99_ms", "first_error", "cpu_sec"} (cpu_sec: this client's own CPU time)
"""

import asyncio
import json
import resource
import sys
import time

import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

import grpc


def request(model, rows):
    x = np.asarray(rows, dtype="<f8")
    req = service_pb2.ModelInferRequest(model_name=model)
    tensor = req.inputs.add()
    tensor.name, tensor.datatype = "input", "FP64"
    tensor.shape.extend(x.shape)
    req.raw_input_contents.append(x.tobytes())
    return req


async def main():
    addr, model, seconds, callers, batches = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
    requests = [request(model, b) for b in batches]
    latencies, errors, first_error = [], 0, None
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        await stub.ModelInfer(requests[0])
        started = time.perf_counter()
        end = started + seconds
        counter = 0

        async def caller():
            nonlocal counter, errors, first_error
            while time.perf_counter() < end:
                req = requests[counter % len(requests)]
                counter += 1
                t0 = time.perf_counter()
                try:
                    res = await stub.ModelInfer(req)
                    if not res.raw_output_contents:
                        raise RuntimeError("no raw_output_contents")
                    latencies.append(time.perf_counter() - t0)
                except Exception as err:  # a failed call is counted, not retried
                    errors += 1
                    first_error = first_error or str(err)[:300]

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0

    print(
        json.dumps(
            {
                "requests": len(latencies),
                "errors": errors,
                "seconds": elapsed,
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
                "first_error": first_error,
                "cpu_sec": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
