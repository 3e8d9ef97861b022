"""Clipper's deployer modules: python, pytorch, tensorflow, keras, onnx (pyspark and mxnet raise what to use instead)."""
