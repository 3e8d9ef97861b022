#!/usr/bin/env python3
"""A complete clipper runtime in under 100 lines: answers each string input in upper case.

It speaks protocol version 1 (docs/runtime-protocol.md) with nothing but the standard library and
the `msgpack` package. Deploy it for local development with:
    clipper deploy --runtime command --command "python3 examples/custom-runtime/upper_runtime.py" \
        --name upper --input-type strings
or build it into an image whose entrypoint runs it, and deploy with --image.
"""

import struct
import sys

import msgpack

VERSION = 1
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer


def send(message):
    """One frame: a 4-byte little-endian length, then one msgpack map."""
    body = msgpack.packb({"v": VERSION, **message}, use_bin_type=True)
    stdout.write(struct.pack("<I", len(body)) + body)
    stdout.flush()


def receive():
    """The next frame from the server, or None when stdin closes."""
    head = stdin.read(4)
    if len(head) < 4:
        return None
    (length,) = struct.unpack("<I", head)
    return msgpack.unpackb(stdin.read(length), raw=False)


def predict(inputs):
    """The model: any function from a list of inputs to a list of outputs (strings, or lists/dicts)."""
    return [text.upper() for text in inputs]


def main():
    # 1. Load the model (nothing to load here), then say hello.
    send({"type": "hello", "id": 0, "runtime": {"kind": "upper", "protocol": VERSION}})
    # 2. Answer every frame, in order, until shutdown or end of input.
    while (msg := receive()) is not None:
        kind, mid = msg.get("type"), msg.get("id", 0)
        if kind == "shutdown":
            return
        if kind == "ping":
            send({"type": "pong", "id": mid})
        elif kind == "predict" and "inputs" in msg:
            try:
                send({"type": "result", "id": mid, "outputs": predict(msg["inputs"])})
            except Exception as err:  # one failed batch is an error frame, not a crash
                send({"type": "error", "id": mid, "message": f"{type(err).__name__}: {err}"})
        else:
            send({"type": "error", "id": mid, "message": f"unsupported message {kind!r}"})


if __name__ == "__main__":
    main()
