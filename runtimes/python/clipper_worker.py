"""clipper's Python runtime: loads one model artifact and answers predict frames on stdin/stdout.

Protocol version 3 (docs/runtime-protocol.md): each frame is a 4-byte little-endian length and one
msgpack map. stdout carries frames only; anything the model prints goes to stderr, the replica's log.
A version 2 predict that raises is retried by halves here, in-process, and answered with one result
holding an output or an error per row; a version 1 predict (an older server) gets one error for the batch.
Under version 3 a batch whose outputs are one numeric array of [rows] or [rows, k] goes back packed (its bytes).
"""

import argparse
import os
import pickle
import platform
import struct
import sys
import time
import traceback

# The newest version spoken (frames before the hello are version 1). CLIPPER_RUNTIME_PROTOCOL=1 makes the
# runtime announce version 1, so the server isolates failed batches itself (how scripts/bench --faults compares);
# =2 announces version 2 (outputs as lists, as before packed outputs).
PROTOCOL_VERSION = {"1": 1, "2": 2}.get(os.environ.get("CLIPPER_RUNTIME_PROTOCOL", ""), 3)
ROW_ERRORS_VERSION = 2
PACKED_VERSION = 3
# Output dtypes sent packed (numpy kind and size, little-endian); others go as a list.
_PACKABLE = frozenset(("f8", "f4", "i8", "i4", "i2", "i1", "u8", "u4", "u2", "u1"))
# A batch that has failed this many single rows and answered none is taken to raise on everything: the rest of
# it fails at once instead of being split row by row (each split costs a call of the model).
ALL_FAILING_AFTER_ROWS = 8
MAX_FRAME_BYTES = 256 * 1024 * 1024

# Keep the real stdout for frames, then point fd 1 at stderr so stray prints cannot corrupt the pipe.
_frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr

import msgpack  # noqa: E402  (after the fd swap, so import-time prints are safe too)
import numpy as np  # noqa: E402

_DTYPES = {"f8": "<f8", "f4": "<f4", "i4": "<i4"}
# Reported in the hello when installed: the packages of the model formats (clipper_formats.py).
FORMAT_PACKAGES = ("torch", "tensorflow", "keras", "onnxruntime", "mlflow", "pandas")


_PARENT_AT_START = os.getppid()


def die_with_parent():
    """On Linux, ask the kernel to kill this process when the server dies, even mid-predict."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent died before prctl took effect (we were re-parented). Compared with the parent seen at
        # start, not with 1: in a container the parent is its init (pid 1) from the beginning.
        if os.getppid() != _PARENT_AT_START:
            os._exit(1)
    except (OSError, AttributeError):
        pass  # not Linux: stdin closing still ends the loop


# glibc's malloc returns a batch's large temporaries to the kernel when they are freed (an mmap of its own
# past the mmap threshold, or a trim of the heap's top past the trim threshold), so the next batch faults every
# page of them in again: a TorchScript MLP fed the server's batches of 64-384 rows took 8-40 page faults and
# 10-18% more CPU a batch (median and mean of 6 runs) than with these thresholds. Batches up to MMAP_THRESHOLD_BYTES a temporary are
# served from the heap and up to TRIM_THRESHOLD_BYTES of freed heap is kept; larger ones still go back.
MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_batch_memory():
    """Sets glibc's malloc thresholds (mallopt) unless MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ or
    GLIBC_TUNABLES set them already; True when they were set. Elsewhere (musl, macOS) it does nothing."""
    if any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def send(message, version=1):
    """Writes one frame; an answer carries the version of the frame it answers (a hello is version 1)."""
    message["v"] = version
    body = msgpack.packb(message, use_bin_type=True)
    _frames_out.write(struct.pack("<I", len(body)) + body)


def read_exact(stream, n):
    data = stream.read(n)
    if data is None or len(data) < n:
        return None
    return data


def read_frame(stream):
    head = read_exact(stream, 4)
    if head is None:
        return None
    (length,) = struct.unpack("<I", head)
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {length} bytes exceeds the limit")
    body = read_exact(stream, length)
    if body is None:
        return None
    return msgpack.unpackb(body, raw=False)


#: How joblib's compressed files start (zlib, gzip, bz2, xz, lzma, lz4): a plain pickle cannot read them.
_COMPRESSED_MAGIC = (
    b"\x78\x01",
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
)


def load_model(path):
    """Loads a pickle or joblib file; joblib (when installed) reads plain pickles too, and plain pickle is tried
    when joblib fails. When both fail, the error said is joblib's (a compressed joblib file, or a stream that
    failed while building its objects), unless the file is no pickle stream at all: then pickle's standard
    message (`invalid load key`, `could not find MARK`) says so best."""
    try:
        import joblib
    except ImportError:
        joblib = None
    if joblib is None:
        with open(path, "rb") as f:
            return pickle.load(f)
    try:
        return joblib.load(path)
    except ModuleNotFoundError:
        raise
    except Exception as joblib_error:
        with open(path, "rb") as f:
            compressed = f.read(6).startswith(_COMPRESSED_MAGIC)
        if compressed:
            raise
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except pickle.UnpicklingError:
            raise  # not a pickle stream at all: pickle's standard message says so best
        except Exception:
            raise joblib_error from None


def load_module(path):
    """Loads a Python file exposing predict(inputs), calling its load() first when it has one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("clipper_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if callable(getattr(module, "load", None)):
        module.load()
    return module


def package_versions():
    versions = {}
    asked = [n for n in os.environ.get("CLIPPER_REPORT_PACKAGES", "").split(",") if n]
    for name in ("numpy", "scikit-learn", "joblib", "msgpack", "cloudpickle", "xgboost", "lightgbm", *FORMAT_PACKAGES, *asked):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            pass
    return versions


def to_json(value):
    """Numpy scalars and arrays inside lists and dicts become plain msgpack-able values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


class ContractError(Exception):
    """The model broke the output contract (not one output per input, None, NaN): the model's fault, not the input's."""


def _inputs(n):
    return f"{n} input{'' if n == 1 else 's'}"


def to_output(value, i, n):
    """One row's prediction as Clipper's clients expect: a string, or a JSON-able list/dict."""
    if value is None:
        raise ContractError(f"returned nothing (None) for input {i + 1} of {n}")
    if isinstance(value, float) and value != value:
        raise ContractError(f"returned NaN for input {i + 1} of {n}")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, float) and item != item:
            raise ContractError(f"returned NaN for input {i + 1} of {n}")
        return str(item)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return to_json(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _not_a_batch(result, n):
    """Why `result` cannot be the outputs of n inputs, or None."""
    if result is None:
        return f"returned nothing (None) for {_inputs(n)}"
    if isinstance(result, (str, bytes)):
        return f"returned a single string for {_inputs(n)}"
    if isinstance(result, dict):
        return f"returned a dict for {_inputs(n)}"
    if isinstance(result, np.ndarray) and result.ndim == 0:
        return f"returned a single value for {_inputs(n)}"
    if not hasattr(result, "__len__"):
        return f"returned a {type(result).__name__} for {_inputs(n)}"
    if len(result) != n:
        return f"returned {len(result)} output{'' if len(result) == 1 else 's'} for {_inputs(n)}"
    return None


def to_outputs(result, n):
    """All rows' outputs, checked against the contract; a 1-D numeric or string array in one pass."""
    broken = _not_a_batch(result, n)
    if broken:
        raise ContractError(broken)
    if isinstance(result, np.ndarray):
        if result.dtype.kind == "f" and np.isnan(result).any():
            row = int(np.argwhere(np.isnan(result))[0][0])
            raise ContractError(f"returned NaN for input {row + 1} of {n}")
        if result.ndim == 1 and result.dtype.kind in "iubfU":
            return [str(v) for v in result.tolist()]
        if result.ndim == 2:
            return result.tolist()
    return [to_output(v, i, n) for i, v in enumerate(result)]


def packed(result, n):
    """A model's answer as version 3's packed tensor ({dtype, shape, data}) when it is one numeric array of [n] or
    [n, k] (NaN-free: to_outputs says which row has one), else None: its outputs then go as a list."""
    if not isinstance(result, np.ndarray) or result.ndim not in (1, 2) or len(result) != n or result.size == 0:
        return None
    code = f"{result.dtype.kind}{result.dtype.itemsize}"
    if code not in _PACKABLE or (result.dtype.kind == "f" and np.isnan(result).any()):
        return None
    data = np.ascontiguousarray(result, dtype=result.dtype.newbyteorder("<"))
    return {"dtype": code, "shape": list(result.shape), "data": data.tobytes()}


def to_batch(msg):
    if "data" in msg:
        rows, cols = msg["shape"]
        return np.frombuffer(msg["data"], dtype=_DTYPES[msg["dtype"]]).reshape(rows, cols)
    inputs = msg["inputs"]
    kind = msg.get("input_type")
    if kind in ("strings", "bytes"):
        return inputs
    return [np.asarray(row, dtype=np.float64) for row in inputs]


def predict(method, msg, as_list, isolate, pack=False):
    """Outputs of one batch and the model's time. With `isolate` (a version 2 frame) a batch that raises is
    retried by halves in-process: the answer then holds `row_errors` ([row, message]) and nil in their place.
    With `pack` (a version 3 frame) outputs that are one numeric array come back as a packed tensor (a dict).
    A broken output contract raises ContractError either way: it is never isolated."""
    batch = to_batch(msg)
    if as_list and isinstance(batch, np.ndarray):
        batch = list(batch)
    started = time.perf_counter()
    try:
        result = method(batch)
        tensor = packed(result, len(batch)) if pack else None
        outputs, errors = tensor if tensor is not None else to_outputs(result, len(batch)), None
    except ContractError:
        raise
    except Exception:
        if not isolate or len(batch) == 1:
            raise
        outputs, errors = isolate_rows(method, batch, sys.exc_info()[1])
    return outputs, int((time.perf_counter() - started) * 1e6), errors


def error_message(err):
    return f"{type(err).__name__}: {err}"


# Rows that raised alone lately (by their bytes or text): when a batch raises again, they are tried alone first
# and the rest in one call, instead of finding them again by halves (a few calls of the model, not ~2·log2).
_suspects = {}
MAX_SUSPECTS = 4096


def row_key(row):
    if isinstance(row, np.ndarray):
        return row.tobytes()
    if isinstance(row, (str, bytes)):
        return row
    try:
        return np.asarray(row, dtype=np.float64).tobytes()
    except (TypeError, ValueError):
        return None


def _take(batch, idx):
    return batch[idx] if isinstance(batch, np.ndarray) else [batch[i] for i in idx]


def isolate_rows(method, batch, first_error):
    """Finds the rows of a raising batch that raise alone, without round trips: rows that raised alone before
    are tried alone and the others together; a part that raises is split in halves (depth first) until
    single rows remain. Every other row keeps its output."""
    n = len(batch)
    outputs, errors = [None] * n, []
    keys = [row_key(r) for r in batch]
    suspects = [i for i in range(n) if keys[i] in _suspects] if _suspects else []
    if suspects and len(suspects) < n:
        taken = set(suspects)
        pending = [([i for i in range(n) if i not in taken], None)] + [([i], None) for i in suspects]
    else:
        pending = [(list(range(n)), first_error)]
    succeeded = False
    while pending:
        idx, err = pending.pop()
        if err is None:
            try:
                for i, out in zip(idx, to_outputs(method(_take(batch, idx)), len(idx)), strict=True):
                    outputs[i] = out
                succeeded = True
                if len(idx) == 1:
                    _suspects.pop(keys[idx[0]], None)
                continue
            except ContractError:
                raise
            except Exception as part_err:  # noqa: BLE001 - the model raised on this part: split it again
                err = part_err
        if len(idx) == 1 or (not succeeded and len(errors) >= ALL_FAILING_AFTER_ROWS):
            log_failure(err)
            errors.extend([i, error_message(err)] for i in idx)
            if len(idx) == 1 and keys[idx[0]] is not None:
                if len(_suspects) >= MAX_SUSPECTS:
                    _suspects.clear()
                _suspects[keys[idx[0]]] = None
            continue
        mid = len(idx) // 2
        pending.append((idx[mid:], None))
        pending.append((idx[:mid], None))
    errors.sort()
    return outputs, errors


_failures_logged = {}


def log_failure(err):
    """The traceback of a batch's exception, once per distinct message: a failed batch is split to isolate
    the rows that raise, so one bad row raises several times, and a log line per time costs."""
    message = error_message(err)
    seen = _failures_logged.get(message, 0)
    _failures_logged[message] = seen + 1
    if seen == 0:
        if len(_failures_logged) > 1000:
            _failures_logged.clear()
        traceback.print_exception(type(err), err, err.__traceback__)
    elif seen & (seen + 1) == 0:  # 1, 3, 7, 15, ... repeats: the log grows with the log of the count
        print(f"the model raised again ({seen + 1} times): {message}", file=sys.stderr)


def input_signature(model):
    """What the model says of its input, for the server to check rows at the door: scikit-learn's
    n_features_in_ (estimators and pipelines) and feature_names_in_, or a module's INPUT_SHAPE."""
    found = {}
    shape = getattr(model, "INPUT_SHAPE", None)
    width = getattr(model, "n_features_in_", None)
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(d, int) and d > 0 for d in shape):
        found["input_shape"] = [int(d) for d in shape]
    elif isinstance(width, (int, np.integer)) and not isinstance(width, bool) and width > 0:
        found["input_shape"] = [int(width)]
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) == found.get("input_shape", [-1])[0]:
        found["feature_names"] = [str(n) for n in names]
    return found


def preload(names=None):
    """A spare's head start: what loading its kind of model imports anyway (each only if installed); by default
    what a scikit-learn model imports, or the named modules (a format's framework and clipper_formats)."""
    for name in names or ("joblib", "sklearn", "sklearn.base", "sklearn.utils.validation"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a missing or broken library is the model's problem, reported at load
            pass


def main():
    die_with_parent()
    keep_batch_memory()
    parser = argparse.ArgumentParser(description="clipper Python runtime (speaks frames on stdin/stdout)")
    parser.add_argument("--artifact")
    parser.add_argument("--predict-method", default="predict")
    parser.add_argument("--module", action="store_true", help="the artifact is a .py file exposing predict(inputs)")
    parser.add_argument("--format", help="a model format served with no wrapper (clipper_formats.FORMATS)")
    parser.add_argument("--input-shape", help="per-row input shape of a format model, e.g. 1,8,8")
    parser.add_argument("--output", default="raw", choices=("raw", "argmax"))
    parser.add_argument("--threads", type=int, default=1, help="the framework's intra-op threads")
    parser.add_argument(
        "--standby", action="store_true", help="import the usual libraries now, then wait for a 'load' frame naming the artifact"
    )
    parser.add_argument("--preload", help="with --standby: the modules to import ahead, comma-separated (default: scikit-learn's)")
    args = parser.parse_args()
    stdin = sys.stdin.buffer
    if args.standby:
        preload([n for n in (args.preload or "").split(",") if n])
        msg = read_frame(stdin)
        if msg is None or msg.get("type") != "load":
            return
        args.artifact, args.predict_method, args.module = msg["artifact"], msg.get("predict_method", "predict"), bool(msg.get("module"))
        # A model format's loader options, and the packages the hello reports, as a cold start's flags give them.
        args.format, args.threads, args.output = msg.get("format"), int(msg.get("threads", 1)), msg.get("output", "raw")
        shape = msg.get("input_shape")
        args.input_shape = ",".join(str(int(d)) for d in shape) if shape else None
        if msg.get("report_packages"):
            os.environ["CLIPPER_REPORT_PACKAGES"] = ",".join(msg["report_packages"])
    elif not args.artifact:
        parser.error("--artifact is required (or --standby)")

    try:
        if args.format:
            import clipper_formats  # beside this file

            shape = [int(d) for d in args.input_shape.split(",")] if args.input_shape else None
            model = clipper_formats.load(args.format, args.artifact, shape, args.threads, args.output)
        else:
            model = load_module(args.artifact) if args.module else load_model(args.artifact)
        method = model.predict if args.format else getattr(model, args.predict_method, None)
        # A bare function (a cloudpickled closure, Clipper's deploy_python_closure) is the predict itself;
        # functions and modules get a list of inputs, estimators a 2-D array.
        as_list = args.module
        if method is None and callable(model) and not isinstance(model, type):
            method, as_list = model, True
        if method is None or not callable(method):
            raise TypeError(f"the loaded {type(model).__name__} has no callable '{args.predict_method}' method")
    except BaseException as err:  # noqa: BLE001 - every load failure is reported to the server
        traceback.print_exc()
        send({"type": "error", "id": 0, "fatal": True, "message": f"could not load the model: {type(err).__name__}: {err}"})
        sys.exit(3)

    # clipper rejects NaN and infinite numbers before they reach the runtime, so scikit-learn's own
    # finiteness check (about a fifth of a small predict) can be skipped. Only when the model imported
    # scikit-learn: importing it for a model that does not use it (a format, a module) would cost a second.
    if "sklearn" in sys.modules:
        sys.modules["sklearn"].set_config(assume_finite=True)

    send(
        {
            "type": "hello",
            "id": 0,
            "runtime": {
                "kind": "python",
                "protocol": PROTOCOL_VERSION,
                "python": platform.python_version(),
                "packages": package_versions(),
                "model_class": f"{type(model).__module__}.{type(model).__name__}",
                "pid": os.getpid(),
                **(model.info if args.format else input_signature(model)),
            },
        }
    )

    while True:
        msg = read_frame(stdin)
        if msg is None or msg.get("type") == "shutdown":
            # Exit now: the interpreter's teardown (a large library's modules and threads) holds the memory
            # for up to a second more, and the memory budget waits for it before it starts the next replica.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        kind, mid = msg.get("type"), msg.get("id", 0)
        version = min(msg.get("v", 1), PROTOCOL_VERSION)
        if kind == "ping":
            send({"type": "pong", "id": mid}, version)
        elif kind == "predict":
            answer(method, msg, as_list, mid, version)
        else:
            send({"type": "error", "id": mid, "message": f"unknown message type {kind!r}"}, version)


_contract_logged = set()


def answer(method, msg, as_list, mid, version):
    """Answers one predict frame: a result (with per-row errors under version 2), or an error for the batch."""
    try:
        outputs, micros, errors = predict(method, msg, as_list, version >= ROW_ERRORS_VERSION, version >= PACKED_VERSION)
        reply = {"type": "result", "id": mid, "predict_micros": micros}
        reply["tensor" if isinstance(outputs, dict) else "outputs"] = outputs
        if errors:
            reply["row_errors"] = errors
        send(reply, version)
    except ContractError as err:
        if str(err) not in _contract_logged and len(_contract_logged) < 1000:
            _contract_logged.add(str(err))
            print(f"the model broke the output contract: it {err}", file=sys.stderr)
        send({"type": "error", "id": mid, "message": str(err), "contract": True}, version)
    except Exception as err:  # noqa: BLE001 - a failed batch is answered, not fatal
        log_failure(err)
        send({"type": "error", "id": mid, "message": error_message(err)}, version)


if __name__ == "__main__":
    main()
