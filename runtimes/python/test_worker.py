"""The runtime side of protocol versions 1 and 2: drives clipper_worker.py over real pipes with msgpack frames."""

import os
import pickle
import struct
import subprocess
import sys
import tempfile
import unittest

import msgpack
import numpy as np
from sklearn.tree import DecisionTreeClassifier

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clipper_worker.py")


def frame(msg):
    body = msgpack.packb(msg, use_bin_type=True)
    return struct.pack("<I", len(body)) + body


def read(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return msgpack.unpackb(stream.read(n), raw=False)


class WorkerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
        cls.model = DecisionTreeClassifier(random_state=0).fit(X, [0, 1, 1, 0])
        cls.path = os.path.join(cls.tmp.name, "m.pkl")
        with open(cls.path, "wb") as f:
            pickle.dump(cls.model, f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start(self, *extra, artifact=None):
        proc = subprocess.Popen(
            [sys.executable, WORKER, "--artifact", artifact or self.path, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdin.close(), proc.stdout.close(), proc.stderr.close()))
        return proc

    def ask(self, proc, msg, v=1):
        proc.stdin.write(frame({"v": v, **msg}))
        proc.stdin.flush()
        return read(proc.stdout)

    def test_hello_then_packed_predict_matches_sklearn(self):
        proc = self.start()
        hello = read(proc.stdout)
        # The hello is a version 1 frame (an older server reads it) announcing version 3.
        self.assertEqual((hello["v"], hello["type"], hello["runtime"]["protocol"]), (1, "hello", 3))
        rows = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
        reply = self.ask(
            proc,
            {"type": "predict", "id": 7, "input_type": "doubles", "shape": [3, 2], "dtype": "f8", "data": rows.astype("<f8").tobytes()},
        )
        self.assertEqual(reply["type"], "result")
        self.assertEqual(reply["id"], 7)
        self.assertEqual(reply["outputs"], [str(v) for v in self.model.predict(rows)])

    def test_version_3_answers_a_numeric_array_packed_and_anything_else_as_a_list(self):
        proc = self.start()
        read(proc.stdout)
        rows = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
        msg = {"type": "predict", "id": 8, "input_type": "doubles", "shape": [3, 2], "dtype": "f8", "data": rows.astype("<f8").tobytes()}
        reply = self.ask(proc, msg, v=3)
        expected = self.model.predict(rows)
        self.assertEqual((reply["v"], reply["type"], reply["id"]), (3, "result", 8))
        self.assertNotIn("outputs", reply)
        self.assertEqual(reply["tensor"]["dtype"], f"{expected.dtype.kind}{expected.dtype.itemsize}")
        self.assertEqual(reply["tensor"]["shape"], [3])
        self.assertEqual(reply["tensor"]["data"], expected.astype(expected.dtype.newbyteorder("<")).tobytes())
        # A version 2 frame to the same runtime: the outputs as text, as before.
        self.assertEqual(self.ask(proc, msg, v=2)["outputs"], [str(v) for v in expected])

    def test_packed_takes_numeric_arrays_of_one_row_each_only(self):
        # In a process of its own: importing the worker points its fd 1 at stderr.
        check = "\n".join(
            [
                "import numpy as np, clipper_worker as w",
                "assert w.packed(np.array([1.5, 2.0]), 2) == {'dtype': 'f8', 'shape': [2], 'data': np.array([1.5, 2.0], '<f8').tobytes()}",
                "assert w.packed(np.ones((2, 3), dtype='>f4'), 2)['data'] == np.ones((2, 3), dtype='<f4').tobytes()",
                "assert w.packed(np.array([1, 2], dtype=np.uint16), 2)['dtype'] == 'u2'",
                "others = (np.array([True, False]), np.array(['a', 'b']), np.array([1.0, np.nan]), np.ones((2, 2, 2)), np.ones(3), [1, 2], np.ones(2, 'f2'))",
                "assert all(w.packed(o, 2) is None for o in others)",
            ]
        )
        r = subprocess.run([sys.executable, "-c", check], cwd=os.path.dirname(WORKER), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_standby_loads_the_artifact_named_by_a_load_frame(self):
        proc = subprocess.Popen(
            [sys.executable, WORKER, "--standby"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdin.close(), proc.stdout.close(), proc.stderr.close()))
        hello = self.ask(proc, {"type": "load", "id": 0, "artifact": self.path, "predict_method": "predict", "module": False})
        self.assertEqual((hello["type"], hello["runtime"]["pid"]), ("hello", proc.pid))
        reply = self.ask(proc, {"type": "predict", "id": 1, "input_type": "doubles", "inputs": [[1.0, 0.0]]})
        self.assertEqual(reply["outputs"], ["0"])

    def test_standby_preloads_the_named_modules_and_reports_the_packages_the_load_frame_names(self):
        # A module that is not installed is skipped: the spare still waits for its load.
        cmd = [sys.executable, WORKER, "--standby", "--preload", "no_such_module_here,json"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdin.close(), proc.stdout.close(), proc.stderr.close()))
        load = {"type": "load", "id": 0, "artifact": self.path, "predict_method": "predict", "module": False}
        hello = self.ask(proc, {**load, "report_packages": ["threadpoolctl"]})
        self.assertEqual(hello["type"], "hello")
        self.assertIn("threadpoolctl", hello["runtime"]["packages"])
        reply = self.ask(proc, {"type": "predict", "id": 1, "input_type": "doubles", "inputs": [[1.0, 0.0]]})
        self.assertEqual(reply["outputs"], ["0"])

    def test_standby_exits_quietly_when_stdin_closes_before_a_load(self):
        proc = subprocess.Popen(
            [sys.executable, WORKER, "--standby"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, _ = proc.communicate(b"", timeout=60)
        self.assertEqual((proc.returncode, out), (0, b""))

    def test_list_inputs_ping_and_unknown_type(self):
        proc = self.start()
        read(proc.stdout)
        reply = self.ask(proc, {"type": "predict", "id": 1, "input_type": "doubles", "inputs": [[0.0, 1.0]]})
        self.assertEqual(reply["outputs"], ["1"])
        self.assertEqual(self.ask(proc, {"type": "ping", "id": 2}), {"v": 1, "type": "pong", "id": 2})
        err = self.ask(proc, {"type": "bogus", "id": 3})
        self.assertEqual((err["type"], err["id"]), ("error", 3))

    def test_exception_in_predict_is_an_error_for_that_batch(self):
        proc = self.start()
        read(proc.stdout)
        err = self.ask(
            proc, {"type": "predict", "id": 4, "input_type": "doubles", "shape": [1, 3], "dtype": "f8", "data": np.zeros(3).tobytes()}
        )
        self.assertEqual((err["type"], err["id"]), ("error", 4))
        self.assertIn("features", err["message"])
        self.assertEqual(self.ask(proc, {"type": "ping", "id": 5})["type"], "pong")

    def test_unloadable_artifact_is_a_fatal_error_and_exit(self):
        bad = os.path.join(self.tmp.name, "bad.pkl")
        with open(bad, "wb") as f:
            f.write(b"garbage")
        proc = self.start(artifact=bad)
        err = read(proc.stdout)
        self.assertEqual((err["type"], err["fatal"]), ("error", True))
        self.assertIn("could not load the model", err["message"])
        self.assertNotEqual(proc.wait(timeout=10), 0)

    def test_a_joblib_file_that_does_not_load_reports_joblibs_error_not_the_pickle_fallbacks(self):
        import joblib

        whole = os.path.join(self.tmp.name, "whole.joblib")
        joblib.dump(self.model, whole, compress=3)
        cut = os.path.join(self.tmp.name, "cut.joblib")
        with open(whole, "rb") as src, open(cut, "wb") as dst:
            data = src.read()
            dst.write(data[: len(data) // 2])
        proc = self.start(artifact=cut)
        err = read(proc.stdout)
        self.assertEqual((err["type"], err["fatal"]), ("error", True))
        self.assertIn("pickle exhausted before end of frame", err["message"])
        self.assertNotIn("invalid load key", err["message"])
        self.assertNotEqual(proc.wait(timeout=10), 0)

    def test_shutdown_exits_cleanly(self):
        proc = self.start()
        read(proc.stdout)
        proc.stdin.write(frame({"v": 1, "type": "shutdown", "id": 0}))
        proc.stdin.flush()
        self.assertEqual(proc.wait(timeout=10), 0)


# A module model for the per-row and contract tests: raises on rows starting with 13; breaks the output
# contract in the way its first row's first value names.
PICKY = """
import math

CALLS = 0

def predict(inputs):
    global CALLS
    CALLS += 1
    first = inputs[0][0]
    if first == 77:
        return [str(CALLS - 1)] * len(inputs)
    if first == 99:
        return ["only one"]
    if first == 98:
        return "a string"
    if first == 97:
        return {"a": 1}
    if first == 96:
        return None
    if first == 95:
        return [math.nan] * len(inputs)
    for row in inputs:
        if row[0] == 13:
            raise ValueError("13 is not a valid first value")
    return [str(int(sum(row))) for row in inputs]
"""


class RowErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "picky.py")
        with open(cls.path, "w") as f:
            f.write(PICKY)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, "--artifact", self.path, "--module"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc = self.proc
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdin.close(), proc.stdout.close(), proc.stderr.close()))
        self.assertEqual(read(proc.stdout)["runtime"]["protocol"], 3)

    def predict(self, rows, v):
        data = np.asarray(rows, dtype="<f8")
        msg = {
            "v": v,
            "type": "predict",
            "id": 9,
            "input_type": "doubles",
            "shape": list(data.shape),
            "dtype": "f8",
            "data": data.tobytes(),
        }
        self.proc.stdin.write(frame(msg))
        self.proc.stdin.flush()
        return read(self.proc.stdout)

    def test_version_2_answers_one_result_with_an_error_per_raising_row(self):
        rows = [[i, 1] for i in range(20)]
        rows[13][0], rows[3][0] = 13, 13
        reply = self.predict(rows, 2)
        self.assertEqual((reply["v"], reply["type"], reply["id"]), (2, "result", 9))
        self.assertEqual(
            reply["row_errors"], [[3, "ValueError: 13 is not a valid first value"], [13, "ValueError: 13 is not a valid first value"]]
        )
        self.assertEqual(reply["outputs"], [None if i in (3, 13) else str(r[0] + 1) for i, r in enumerate(rows)])

    def test_version_2_fails_the_rest_at_once_when_every_row_raises(self):
        reply = self.predict([[13, i] for i in range(64)], 2)
        self.assertEqual(len(reply["row_errors"]), 64)
        self.assertEqual(reply["outputs"], [None] * 64)

    def calls(self):
        """How many times the model was called before this ask."""
        return int(self.predict([[77, 0]], 2)["outputs"][0])

    def test_version_2_tries_rows_that_raised_alone_before_on_their_own_first(self):
        rows = [[20 + i, 1] for i in range(40)]
        rows[5][0], rows[30][0] = 13, 13
        first = self.predict(rows, 2)
        before = self.calls()
        again = self.predict(rows, 2)
        # The batch once, the 38 other rows together, each known raising row alone: 4 calls, not ~12 by halves.
        self.assertEqual(self.calls() - before - 1, 4)
        self.assertEqual(again["row_errors"], first["row_errors"])
        self.assertEqual(again["outputs"], first["outputs"])

    def test_version_1_gets_one_error_for_the_batch(self):
        reply = self.predict([[1, 1], [13, 1]], 1)
        self.assertEqual((reply["v"], reply["type"], reply["message"]), (1, "error", "ValueError: 13 is not a valid first value"))
        self.assertNotIn("contract", reply)

    def test_a_broken_output_contract_is_a_contract_error_never_isolated(self):
        cases = {
            99: "returned 1 output for 2 inputs",
            98: "returned a single string for 2 inputs",
            97: "returned a dict for 2 inputs",
            96: "returned nothing (None) for 2 inputs",
            95: "returned NaN for input 1 of 2",
        }
        for first, message in cases.items():
            for v in (1, 2):
                with self.subTest(first=first, v=v):
                    reply = self.predict([[first, 1], [13, 1]], v)
                    self.assertEqual((reply["type"], reply["message"], reply["contract"]), ("error", message, True))


class BatchMemoryTest(unittest.TestCase):
    """keep_batch_memory: glibc's thresholds set at start (a batch's temporaries stay in the heap), unless the
    environment sets them; run in a fresh interpreter, as the worker's main() does first."""

    def run_it(self, env):
        code = "import clipper_worker as w, sys; sys.stderr.write(repr(w.keep_batch_memory()))"
        env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")} | env
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=os.path.dirname(WORKER), env=env, capture_output=True, text=True, timeout=60
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stderr.strip().splitlines()[-1]

    @unittest.skipUnless(hasattr(os, "confstr") and "glibc" in (os.confstr("CS_GNU_LIBC_VERSION") or ""), "glibc only")
    def test_sets_the_thresholds_on_glibc(self):
        self.assertEqual(self.run_it({}), "True")

    def test_leaves_thresholds_the_environment_sets(self):
        self.assertEqual(self.run_it({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"}), "False")
        self.assertEqual(self.run_it({"MALLOC_MMAP_THRESHOLD_": "1048576"}), "False")


if __name__ == "__main__":
    unittest.main()
