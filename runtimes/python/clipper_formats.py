"""Model formats the Python runtime serves with no wrapper: TorchScript, PyTorch exported programs,
TensorFlow SavedModels, Keras, XGBoost, LightGBM, ONNX and MLflow models.

Each loader returns a FormatModel: `predict(batch)` takes the batch as a 2-D numpy array of flat rows,
reshapes it to [N, *input_shape], calls the framework once, and returns one output per row (a scalar, or
a vector for class probabilities and embeddings); `info` goes into the runtime's hello (input_shape,
feature_names, threads). A batch with a non-finite output raises, so the server isolates the bad rows.
The framework's intra-op threads are pinned to `threads` before the model is loaded.
"""

import math
import os

import numpy as np

FORMATS = ("torchscript", "torch-export", "savedmodel", "keras", "xgboost", "lightgbm", "onnx", "mlflow")


class FormatModel:
    def __init__(self, fmt, call, input_shape, threads, output, dtype=None, feature_names=None, extra=None):
        self.format = fmt
        self._call = call
        self.input_shape = [int(d) for d in input_shape] if input_shape else None
        self._dtype = dtype
        self._output = output
        self.info = {"format": fmt, "threads": threads, **(extra or {})}
        if self.input_shape:
            self.info["input_shape"] = self.input_shape
        if feature_names:
            self.info["feature_names"] = [str(n) for n in feature_names]

    def warm_up(self, width=None):
        """Runs a batch of zeros before the hello: TorchScript and TensorFlow compile on their first calls,
        which would otherwise land on the first queries (and miss their SLO). A model that rejects zeros is left as is."""
        shape = self.input_shape or ([width] if width else None)
        if not shape:
            return
        for n in (1, 2, 1):
            try:
                self._call(np.zeros((n, *shape), dtype=self._dtype or np.float64))
            except Exception:  # noqa: BLE001 - warming is best effort; real errors show on real rows
                return

    def predict(self, batch):
        x = np.asarray(batch if isinstance(batch, np.ndarray) else np.stack(batch))
        n = x.shape[0]
        if self.input_shape:
            width = math.prod(self.input_shape)
            if x.size != n * width:
                raise ValueError(f"each row has {x.size // max(n, 1)} values but the model's input shape {self.input_shape} needs {width}")
            x = x.reshape(n, *self.input_shape)
        if self._dtype is not None and x.dtype != self._dtype:
            x = x.astype(self._dtype)
        return finish(self._call(x), n, self._output)


def finish(result, n, output):
    """One output per row: checks the count and finiteness; argmax or flattening of vectors per row."""
    if isinstance(result, list) and result and isinstance(result[0], dict):
        return result
    y = np.asarray(result)
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"the model returned shape {list(y.shape)} for a batch of {n} rows")
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(y.reshape(n, -1)))[:, 0]})
        raise ValueError(f"the model gave non-finite outputs (NaN or infinity) for rows {bad[:20]} of the batch")
    if output == "argmax":
        return y.reshape(n, -1).argmax(axis=1)
    if y.ndim > 2:
        return y.reshape(n, -1)
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    return y


def pin_threads(threads):
    """Before any framework import: OpenMP/BLAS pools and TensorFlow read these once."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load(fmt, path, input_shape=None, threads=1, output="raw"):
    if fmt not in FORMATS:
        raise ValueError(f"unknown model format {fmt!r}; one of {', '.join(FORMATS)}")
    pin_threads(threads)
    loader = globals()["load_" + fmt.replace("-", "_")]
    model = loader(path, list(input_shape) if input_shape else None, threads, output)
    model.warm_up(getattr(model, "guessed_width", None))
    return model


def _torch(threads):
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
    return torch


def _torch_call(torch, module):
    def call(x):
        with torch.inference_mode():
            y = module(torch.from_numpy(np.ascontiguousarray(x)))
        if isinstance(y, (tuple, list)):
            y = y[0]
        return y.detach().cpu().numpy()

    return call


def load_torchscript(path, input_shape, threads, output):
    torch = _torch(threads)
    module = torch.jit.load(path, map_location="cpu")
    module.eval()
    params = list(module.parameters())
    dtype = params[0].detach().numpy().dtype if params else np.float32
    # TorchScript records no input shape: rows go in as given unless --input-shape says how to fold them.
    model = FormatModel("torchscript", _torch_call(torch, module), input_shape, threads, output, dtype)
    # For warming up only: a first layer's weight [out, in] suggests the row width.
    if params and params[0].dim() == 2:
        model.guessed_width = int(params[0].shape[1])
    return model


def load_torch_export(path, input_shape, threads, output):
    torch = _torch(threads)
    program = torch.export.load(path)
    user_inputs = set(program.graph_signature.user_inputs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user_inputs]
    recorded, dtype = None, np.float32
    if placeholders and "val" in placeholders[0].meta:
        val = placeholders[0].meta["val"]
        dtype = torch.empty(0, dtype=val.dtype).numpy().dtype
        dims = list(val.shape[1:])
        if all(isinstance(d, int) or str(d).isdigit() for d in dims):
            recorded = [int(d) for d in dims]
    module = program.module()
    return FormatModel("torch-export", _torch_call(torch, module), input_shape or recorded, threads, output, dtype)


def _tensorflow(threads):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # the runtime was initialised already; the environment variables above did it
    return tf


def load_savedmodel(path, input_shape, threads, output):
    tf = _tensorflow(threads)
    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"the SavedModel has no 'serving_default' signature (it has {sorted(loaded.signatures)})")
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(f"the serving_default signature takes {len(specs)} inputs ({sorted(specs)}); clipper feeds one")
    ((name, spec),) = specs.items()
    dims = spec.shape.as_list()[1:]
    recorded = dims if dims and all(d is not None for d in dims) else None
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    out_names = sorted(fn.structured_outputs)

    def call(x):
        result = fn(**{name: tf.constant(x)})
        if len(out_names) == 1:
            return result[out_names[0]].numpy()
        arrays = {k: result[k].numpy() for k in out_names}
        return [{k: a[i].tolist() for k, a in arrays.items()} for i in range(x.shape[0])]

    return FormatModel("savedmodel", call, input_shape or recorded, threads, output, dtype, extra={"signature_input": name})


def load_keras(path, input_shape, threads, output):
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        _tensorflow(threads)
    import keras

    model = keras.saving.load_model(path, compile=False)
    shape = model.input_shape
    recorded = None
    if isinstance(shape, tuple) and len(shape) > 1 and all(d is not None for d in shape[1:]):
        recorded = list(shape[1:])
    dtype = np.dtype(getattr(model.inputs[0], "dtype", "float32") or "float32") if getattr(model, "inputs", None) else np.float32

    def call(x):
        return keras.ops.convert_to_numpy(model(x, training=False))

    return FormatModel("keras", call, input_shape or recorded, threads, output, dtype)


def load_xgboost(path, input_shape, threads, output):
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(path)
    booster.set_param({"nthread": threads})
    recorded = [booster.num_features()] if booster.num_features() else None
    return FormatModel(
        "xgboost", lambda x: booster.inplace_predict(x), input_shape or recorded, threads, output, feature_names=booster.feature_names
    )


def load_lightgbm(path, input_shape, threads, output):
    import lightgbm

    booster = lightgbm.Booster(model_file=path)
    recorded = [booster.num_feature()]
    names = booster.feature_name()
    generic = all(n == f"Column_{i}" for i, n in enumerate(names))
    return FormatModel(
        "lightgbm",
        lambda x: booster.predict(x, num_threads=threads),
        input_shape or recorded,
        threads,
        output,
        feature_names=None if generic else names,
    )


_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float16)": np.float16,
}


def load_onnx(path, input_shape, threads, output):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    first_in, first_out = session.get_inputs()[0], session.get_outputs()[0]
    dims = first_in.shape[1:]
    recorded = dims if dims and all(isinstance(d, int) and d > 0 for d in dims) else None
    dtype = _ONNX_TYPES.get(first_in.type)
    if dtype is None:
        raise ValueError(f"the ONNX model's first input '{first_in.name}' is {first_in.type}; clipper feeds numbers")

    def call(x):
        return session.run([first_out.name], {first_in.name: x})[0]

    return FormatModel("onnx", call, input_shape or recorded, threads, output, dtype)


def load_mlflow(path, input_shape, threads, output):
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(path)
    schema = model.metadata.get_input_schema()
    names, types, recorded = None, None, None
    if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
        names = schema.input_names()
        types = [t.to_numpy() if hasattr(t, "to_numpy") else None for t in schema.input_types()]
        recorded = [len(names)]
    elif schema is not None and schema.is_tensor_spec():
        spec = schema.inputs[0]
        dims = list(spec.shape[1:])
        recorded = dims if dims and all(d > 0 for d in dims) else None

    def call(x):
        if names is None:
            return model.predict(x)
        frame = pd.DataFrame(x.reshape(x.shape[0], -1), columns=names)
        for col, t in zip(names, types, strict=False):
            if t is not None and frame[col].dtype != t:
                frame[col] = frame[col].astype(t)
        return model.predict(frame)

    flavor = model.metadata.flavors.get("python_function", {}).get("loader_module", "")
    return FormatModel("mlflow", call, input_shape or recorded, threads, output, None, names, {"mlflow_flavor": flavor})
