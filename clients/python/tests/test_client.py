"""Unit tests of clipper_admin against an in-process fake of clipper's HTTP APIs (no clipper binary needed).

run: python -m unittest discover -s clients/python/tests
"""

import base64
import json
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple
from unittest import mock

# Test the source tree, not a copy installed in site-packages.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.closure import _ClosureModel, serialize_closure  # noqa: E402
from clipper_admin.deployers import python as python_deployer  # noqa: E402

TOKEN = "secret-token"
Reply = Tuple[int, Any]


class FakeClipper:
    """Answers routes from a table of (method, path) → reply or function(body) → reply; records every request."""

    def __init__(self) -> None:
        self.routes: Dict[Tuple[str, str], Any] = {("GET", "/admin/ping"): (200, "pong")}
        self.requests: List[Dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"method": self.command, "path": self.path, "raw": raw, "auth": self.headers.get("Authorization")})
                if (
                    self.path.startswith("/admin/")
                    and self.path != "/admin/ping"
                    and self.headers.get("Authorization") != f"Bearer {TOKEN}"
                ):
                    status, body = 401, {"error": "missing or wrong management token", "cause": "send the token", "code": "unauthorized"}
                else:
                    reply = fake.routes.get((self.command, self.path))
                    if reply is None:
                        status, body = 404, {"error": f"no route {self.command} {self.path}", "cause": None, "code": "not_found"}
                    else:
                        status, body = reply(raw) if callable(reply) else reply
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout test)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path: str) -> List[Any]:
        return [json.loads(r["raw"] or b"null") for r in self.requests if r["path"] == path]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeClipper()
        self.addCleanup(self.fake.close)
        env = mock.patch.dict(os.environ, {}, clear=False)
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("CLIPPER_TOKEN", None)
        os.environ.pop("CLIPPER_DATA_DIR", None)

    def conn(self, **kwargs: Any) -> ClipperConnection:
        kwargs.setdefault("token", TOKEN)
        return ClipperConnection(url=self.fake.url, query_url=self.fake.url, **kwargs)


class ConnectTest(FakeServerTest):
    def test_connect_pings_then_checks_the_token(self) -> None:
        self.fake.routes[("POST", "/admin/get_all_applications")] = (200, [])
        conn = self.conn()
        conn.connect()
        self.assertTrue(conn.connected)
        self.assertEqual([r["path"] for r in self.fake.requests], ["/admin/ping", "/admin/get_all_applications"])
        self.assertIsNone(self.fake.requests[0]["auth"])
        self.assertEqual(self.fake.requests[1]["auth"], f"Bearer {TOKEN}")

    def test_a_refused_token_raises_with_the_servers_error_and_where_the_token_came_from(self) -> None:
        with self.assertRaises(ClipperException) as ctx:
            self.conn(token="wrong").connect()
        err = ctx.exception
        self.assertEqual(err.status, 401)
        self.assertEqual(err.code, "unauthorized")
        self.assertIn("missing or wrong management token", err.error)
        self.assertIn("the token argument", str(err))
        self.assertEqual(err.cause, "send the token")

    def test_an_unreachable_server_raises_a_clear_message(self) -> None:
        conn = ClipperConnection(url=f"http://127.0.0.1:{free_port()}", token=TOKEN, timeout=5)
        with self.assertRaises(ClipperException) as ctx:
            conn.connect()
        self.assertIn("could not reach clipper at http://127.0.0.1:", str(ctx.exception))
        self.assertIn("clipper serve", str(ctx.exception))
        self.assertIsNone(ctx.exception.status)
        self.assertFalse(conn.connected)

    def test_a_server_that_is_not_clipper_is_named(self) -> None:
        self.fake.routes[("GET", "/admin/ping")] = (200, "<html>hello</html>")
        with self.assertRaises(ClipperException) as ctx:
            self.conn().connect()
        self.assertIn("not 'pong'", str(ctx.exception))

    def test_a_slow_answer_raises_after_the_timeout(self) -> None:
        def slow(_: bytes) -> Reply:
            time.sleep(1.0)
            return 200, "pong"

        self.fake.routes[("GET", "/admin/ping")] = slow
        with self.assertRaises(ClipperException) as ctx:
            self.conn(timeout=0.2).connect()
        self.assertIn("no answer within 0.2 s", str(ctx.exception))

    def test_a_non_json_error_body_is_quoted(self) -> None:
        self.fake.routes[("POST", "/admin/get_all_applications")] = (502, "bad gateway from a proxy")
        with self.assertRaises(ClipperException) as ctx:
            self.conn().get_all_apps()
        self.assertEqual(ctx.exception.status, 502)
        self.assertEqual(ctx.exception.error, "bad gateway from a proxy")


class TokenTest(FakeServerTest):
    def setUp(self) -> None:
        super().setUp()
        self.fake.routes[("POST", "/admin/get_all_applications")] = (200, ["a"])
        self.dir = tempfile.mkdtemp()

    def write_token(self, value: str) -> None:
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(value + "\n")

    def test_reads_the_token_file_of_data_dir(self) -> None:
        self.write_token(TOKEN)
        self.assertEqual(self.conn(token=None, data_dir=self.dir).get_all_apps(), ["a"])

    def test_reads_the_token_file_of_clipper_data_dir(self) -> None:
        self.write_token(TOKEN)
        os.environ["CLIPPER_DATA_DIR"] = self.dir
        self.assertEqual(self.conn(token=None).get_all_apps(), ["a"])

    def test_clipper_token_wins_over_the_file_and_the_argument_over_both(self) -> None:
        self.write_token("from-file")
        os.environ["CLIPPER_TOKEN"] = TOKEN
        self.assertEqual(self.conn(token=None, data_dir=self.dir).get_all_apps(), ["a"])
        os.environ["CLIPPER_TOKEN"] = "from-env"
        self.assertEqual(self.conn(token=TOKEN, data_dir=self.dir).get_all_apps(), ["a"])

    def test_a_missing_token_names_the_file_it_looked_for(self) -> None:
        conn = self.conn(token=None, data_dir=self.dir)
        with self.assertRaises(ClipperException) as ctx:
            conn.connect()
        self.assertIn(os.path.join(self.dir, "token"), str(ctx.exception))
        self.assertIn("CLIPPER_TOKEN", str(ctx.exception))
        self.assertEqual([r["path"] for r in self.fake.requests], ["/admin/ping"])

    def test_a_token_file_written_after_construction_is_read(self) -> None:
        conn = self.conn(token=None, data_dir=self.dir)
        self.write_token(TOKEN)
        conn.connect()
        self.assertTrue(conn.connected)


class AddressTest(unittest.TestCase):
    def test_query_addr_takes_the_management_host_with_port_1337(self) -> None:
        self.assertEqual(ClipperConnection().get_query_addr(), "127.0.0.1:1337")
        self.assertEqual(ClipperConnection(url="http://localhost:9000/").get_query_addr(), "localhost:1337")
        self.assertEqual(ClipperConnection(url="http://[::1]:1338").get_query_addr(), "[::1]:1337")
        self.assertEqual(ClipperConnection(url="https://clipper.internal").query_url, "https://clipper.internal:1337")

    def test_an_explicit_query_url_wins(self) -> None:
        conn = ClipperConnection(query_url="http://10.1.2.3:8080/")
        self.assertEqual(conn.get_query_addr(), "10.1.2.3:8080")
        self.assertEqual(ClipperConnection(query_url="http://example.org").get_query_addr(), "example.org:80")

    def test_a_url_without_scheme_is_refused(self) -> None:
        with self.assertRaises(ClipperException):
            ClipperConnection(url="127.0.0.1:1338")


class ManagementTest(FakeServerTest):
    def test_deploy_model_uploads_the_file_then_adds_the_model_with_clippers_fields(self) -> None:
        self.fake.routes[("PUT", "/admin/artifacts")] = (201, {"sha256": "ab" * 32, "size": 5})
        self.fake.routes[("POST", "/admin/add_model")] = (201, {"model_name": "m", "state": "ready"})
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as f:
            f.write(b"bytes")
        self.addCleanup(os.unlink, f.name)
        info = self.conn().deploy_model("m", 3, "doubles", f.name, replicas=2, predict_method="predict_proba", app_name="a")
        self.assertEqual(info["state"], "ready")
        put = self.fake.requests[0]
        self.assertEqual((put["method"], put["path"], put["raw"]), ("PUT", "/admin/artifacts", b"bytes"))
        self.assertEqual(
            self.fake.bodies("/admin/add_model"),
            [
                {
                    "model_name": "m",
                    "model_version": "3",
                    "input_type": "doubles",
                    "artifact_sha256": "ab" * 32,
                    "artifact_name": os.path.basename(f.name),
                    "replicas": 2,
                    "predict_method": "predict_proba",
                    "app": {"name": "a"},
                    "labels": [],
                    "batch_size": -1,
                }
            ],
        )

    def test_deploy_model_of_a_missing_file_sends_nothing(self) -> None:
        with self.assertRaises(ClipperException) as ctx:
            self.conn().deploy_model("m", 1, "doubles", "/no/such/model.pkl")
        self.assertIn("/no/such/model.pkl", str(ctx.exception))
        self.assertEqual(self.fake.requests, [])

    def test_a_failed_deploy_carries_the_servers_error_and_cause(self) -> None:
        self.fake.routes[("PUT", "/admin/artifacts")] = (201, {"sha256": "cd" * 32, "size": 5})
        self.fake.routes[("POST", "/admin/add_model")] = (
            400,
            {"error": "could not load the model: UnpicklingError: invalid load key", "cause": "see the log", "code": "runtime"},
        )
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(b"junk")
        self.addCleanup(os.unlink, f.name)
        with self.assertRaises(ClipperException) as ctx:
            self.conn().deploy_model("m", 1, "doubles", f.name)
        err = ctx.exception
        self.assertEqual((err.status, err.code, err.cause), (400, "runtime", "see the log"))
        self.assertEqual(err.error, "could not load the model: UnpicklingError: invalid load key")
        self.assertIn("POST", err.msg)
        self.assertIn("/admin/add_model failed with 400", err.msg)

    def test_methods_send_clippers_routes_and_bodies(self) -> None:
        r = self.fake.routes
        r[("POST", "/admin/add_app")] = (201, {"name": "a"})
        r[("POST", "/admin/add_model_links")] = (200, {"app_name": "a", "linked_models": ["m"]})
        r[("POST", "/admin/delete_model_links")] = (200, {"app_name": "a", "linked_models": []})
        r[("POST", "/admin/set_model_version")] = (200, {"is_current": True})
        r[("POST", "/admin/set_num_replicas")] = (200, {"replicas": 3})
        r[("POST", "/admin/stop_models")] = (200, {"stopped": ["m"]})
        r[("POST", "/admin/stop_inactive_model_versions")] = (200, {"stopped": ["m:1"]})
        r[("POST", "/admin/delete_app")] = (200, {"deleted": True})
        r[("POST", "/admin/get_linked_models")] = (200, ["m"])
        r[("POST", "/admin/get_all_containers")] = (
            200,
            [
                {"model_name": "m", "model_version": "2", "model_replica_id": "m:2#1"},
                {"model_name": "m", "model_version": "2", "model_replica_id": 7},
            ],
        )
        c = self.conn()
        c.register_application("a", "doubles", -1.0, 20000)
        self.assertEqual(c.link_model_to_app("a", "m"), ["m"])
        self.assertEqual(c.unlink_model_from_app("a", "m"), [])
        c.set_model_version("m", 2)
        self.assertEqual(c.set_num_replicas("m", 3)["replicas"], 3)
        self.assertEqual(c.stop_models("m"), ["m"])
        self.assertEqual(c.stop_inactive_model_versions(["m"]), ["m:1"])
        c.delete_application("a")
        self.assertEqual(c.get_linked_models("a"), ["m"])
        self.assertEqual(c.get_all_model_replicas(), ["m:2:1", "m:2:7"])
        sent = {r["path"]: json.loads(r["raw"]) for r in self.fake.requests}
        self.assertEqual(
            sent["/admin/add_app"],
            {"name": "a", "input_type": "doubles", "default_output": "-1.0", "latency_slo_micros": 20000, "cache": True},
        )
        self.assertEqual(sent["/admin/add_model_links"], {"app_name": "a", "model_names": ["m"]})
        self.assertEqual(sent["/admin/set_model_version"], {"model_name": "m", "model_version": "2"})
        self.assertEqual(sent["/admin/set_num_replicas"], {"model_name": "m", "num_replicas": 3})
        self.assertEqual(sent["/admin/stop_models"], {"model_names": ["m"]})
        self.assertEqual(sent["/admin/delete_app"], {"name": "a"})

    def test_getters_answer_none_for_unknown_names_and_raise_for_other_errors(self) -> None:
        self.assertIsNone(self.conn().get_app_info("nope"))
        self.assertIsNone(self.conn().get_model_info("nope", 1))
        # The server answers Clipper's {} for an unknown name.
        self.fake.routes[("POST", "/admin/get_model")] = (200, {})
        self.assertIsNone(self.conn().get_model_info("nope", 1))
        self.fake.routes[("POST", "/admin/get_application")] = (400, {"error": "name: must be 1-63", "cause": None})
        with self.assertRaises(ClipperException):
            self.conn().get_app_info("Bad Name")


class DescribedNamesTest(FakeServerTest):
    def setUp(self) -> None:
        super().setUp()
        replica = {"model_name": "m", "model_version": "2", "model_replica_id": 1, "status": "ready", "replica_id": "m:2#1"}
        self.fake.routes[("POST", "/admin/get_all_containers")] = (200, [replica])
        self.fake.routes[("POST", "/admin/get_all_models")] = (200, [{"model_name": "m", "model_version": "2", "status": "ready"}])

    def test_replica_names_are_clippers_strings_and_answer_the_tutorials_fields(self) -> None:
        [r] = self.conn().get_all_model_replicas()
        self.assertEqual(
            (r, ", ".join([r]), json.dumps([r]), r.split(":"), f"{r}", r[0], r[:3]),
            ("m:2:1", "m:2:1", '["m:2:1"]', ["m", "2", "1"], "m:2:1", "m", "m:2"),
        )
        self.assertEqual((r["model_name"], r["model_version"], r["status"], r["replica_id"]), ("m", "2", "ready", "m:2#1"))
        self.assertEqual(pickle.loads(pickle.dumps(r))["status"], "ready")
        self.assertEqual(dict(r)["model_replica_id"], 1)
        with self.assertRaises(KeyError) as ctx:
            r["pid"]
        self.assertIn("model_name", str(ctx.exception))

    def test_model_names_answer_their_fields_too(self) -> None:
        [m] = self.conn().get_all_models()
        self.assertEqual((m, m["model_name"], m["model_version"], m["status"]), ("m:2", "m", "2", "ready"))
        self.assertEqual(self.fake.bodies("/admin/get_all_models"), [{"verbose": True}])


class QueryTokenTest(FakeServerTest):
    def test_register_application_sets_a_query_token_that_predict_sends(self) -> None:
        self.fake.routes[("POST", "/admin/add_app")] = (200, {"name": "a"})
        answer = {"query_id": 1, "output": "ok", "default": False}
        self.fake.routes[("POST", "/a/predict")] = (200, {**answer, "batch_predictions": [answer]})
        c = self.conn()
        c.register_application("a", "doubles", "-1", 100000, query_token="q" * 20)
        self.assertEqual(self.fake.bodies("/admin/add_app")[0]["query_token"], "q" * 20)
        c.predict("a", [1.0])
        c.predict_batch("a", [[1.0]])
        c.predict("a", [1.0], query_token="other-token-0123456")
        auths = [r["auth"] for r in self.fake.requests if r["path"] == "/a/predict"]
        self.assertEqual(auths, [f"Bearer {'q' * 20}", f"Bearer {'q' * 20}", "Bearer other-token-0123456"])

    def test_a_refused_query_names_the_query_token_not_the_management_token(self) -> None:
        refused = (401, {"error": "application 'a' needs its query token", "cause": "send it", "code": "unauthorized"})
        self.fake.routes[("POST", "/a/predict")] = refused
        for token, said in ((None, "no query token was sent"), ("wrong-token-0123456", "the query token sent was refused")):
            with self.assertRaises(ClipperException) as ctx:
                self.conn().predict("a", [1.0], query_token=token)
            self.assertEqual(ctx.exception.status, 401)
            self.assertIn("needs its query token", str(ctx.exception))
            self.assertIn(said, str(ctx.exception))
            self.assertNotIn("management", str(ctx.exception))
            self.assertIn("query_token", ctx.exception.cause)


class QueryTest(FakeServerTest):
    def test_predict_sends_input_and_bytes_as_base64_without_the_token(self) -> None:
        self.fake.routes[("POST", "/a/predict")] = lambda raw: (200, {"query_id": 1, "output": "ok", "default": False})
        answer = self.conn().predict("a", b"\x00\x01")
        self.assertEqual(answer["output"], "ok")
        req = self.fake.requests[0]
        self.assertIsNone(req["auth"])
        self.assertEqual(json.loads(req["raw"]), {"input": base64.b64encode(b"\x00\x01").decode()})

    def test_predict_batch_returns_one_answer_per_input(self) -> None:
        def answer(raw: bytes) -> Reply:
            batch = json.loads(raw)["input_batch"]
            return 200, {"batch_predictions": [{"query_id": i, "output": str(sum(x)), "default": False} for i, x in enumerate(batch)]}

        self.fake.routes[("POST", "/a/predict")] = answer
        self.assertEqual([p["output"] for p in self.conn().predict_batch("a", [[1, 2], [3, 4]])], ["3", "7"])

    def test_an_unknown_app_raises_with_the_servers_error(self) -> None:
        self.fake.routes[("POST", "/nope/predict")] = (
            404,
            {"error": "no application named 'nope'", "cause": "register it", "code": "not_found"},
        )
        with self.assertRaises(ClipperException) as ctx:
            self.conn().predict("nope", [1.0])
        self.assertEqual((ctx.exception.status, ctx.exception.error), (404, "no application named 'nope'"))


def scale(inputs: List[Any]) -> List[str]:
    return [str(x * 2) for x in inputs]


class ClosureTest(FakeServerTest):
    def test_the_wrapper_hands_the_batch_to_the_function_as_a_list(self) -> None:
        self.assertEqual(_ClosureModel(lambda xs: [type(xs).__name__, len(xs)]).predict((1, 2)), ["list", 2])

    def test_without_cloudpickle_the_error_says_how_to_install_it(self) -> None:
        with mock.patch.dict(sys.modules, {"cloudpickle": None}):
            with self.assertRaises(ClipperException) as ctx:
                self.conn().deploy_python_closure("f", 1, "doubles", scale)
        self.assertIn("clipper_admin[closures]", str(ctx.exception))
        self.assertEqual(self.fake.requests, [])


def has_cloudpickle() -> bool:
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        return False
    return True


@unittest.skipUnless(has_cloudpickle(), "cloudpickle is not installed (pip install 'clipper_admin[closures]')")
class CloudpickleClosureTest(FakeServerTest):
    def load_elsewhere(self, blob: bytes, inputs: Any) -> Any:
        """Unpickles in a fresh Python that cannot import clipper_admin nor the test's modules; returns predict(inputs)."""
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as f:
            f.write(blob)
        self.addCleanup(os.unlink, f.name)
        code = (
            "import sys, pickle, json; sys.modules['clipper_admin'] = None; sys.modules['user_models'] = None; "
            f"m = pickle.load(open({f.name!r}, 'rb')); print(json.dumps(m.predict(json.loads(sys.argv[1]))))"
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(inputs)], capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_a_closure_loads_where_neither_clipper_admin_nor_the_callers_module_is_installed(self) -> None:
        mod_dir = tempfile.mkdtemp()
        with open(os.path.join(mod_dir, "user_models.py"), "w") as f:
            f.write(
                "FACTOR = 3\n\ndef helper(x):\n    return x * FACTOR\n\ndef triple(inputs):\n    return [str(helper(x)) for x in inputs]\n"
            )
        sys.path.insert(0, mod_dir)
        self.addCleanup(sys.path.remove, mod_dir)
        import user_models  # type: ignore[import-not-found]

        self.addCleanup(sys.modules.pop, "user_models", None)
        self.assertEqual(self.load_elsewhere(serialize_closure(user_models.triple), [1, 2]), ["3", "6"])
        import cloudpickle

        self.assertNotIn("user_models", cloudpickle.list_registry_pickle_by_value())
        self.assertNotIn("clipper_admin.closure", cloudpickle.list_registry_pickle_by_value())

    def test_a_lambda_capturing_a_variable_keeps_it(self) -> None:
        offset = 10
        self.assertEqual(self.load_elsewhere(serialize_closure(lambda xs: [x + offset for x in xs]), [1, 2]), [11, 12])

    def test_deploy_python_closure_uploads_the_pickle_and_passes_pkgs(self) -> None:
        self.fake.routes[("PUT", "/admin/artifacts")] = (201, {"sha256": "ef" * 32, "size": 1})
        self.fake.routes[("POST", "/admin/add_model")] = (201, {"model_name": "f", "state": "ready"})
        self.conn().deploy_python_closure("f", 1, "doubles", scale, pkgs_to_install=["numpy==2.3.5"])
        upload = self.fake.requests[0]["raw"]
        self.assertEqual(pickle.loads(upload).predict([1, 2]), ["2", "4"])
        body = self.fake.bodies("/admin/add_model")[0]
        self.assertEqual(body["pkgs"], ["numpy==2.3.5"])
        self.assertEqual((body["predict_method"], body["artifact_name"], body["model_version"]), ("predict", "f-closure.pkl", "1"))

    def test_a_server_without_cloudpickle_gets_a_hint(self) -> None:
        self.fake.routes[("PUT", "/admin/artifacts")] = (201, {"sha256": "ef" * 32, "size": 1})
        self.fake.routes[("POST", "/admin/add_model")] = (
            400,
            {"error": "could not load the model: ModuleNotFoundError: No module named 'cloudpickle'", "cause": None},
        )
        with self.assertRaises(ClipperException) as ctx:
            self.conn().deploy_python_closure("f", 1, "doubles", scale)
        self.assertIn("install cloudpickle", str(ctx.exception))
        self.assertEqual(ctx.exception.status, 400)

    def test_create_endpoint_registers_deploys_and_links(self) -> None:
        self.fake.routes[("POST", "/admin/add_app")] = (201, {"name": "f"})
        self.fake.routes[("PUT", "/admin/artifacts")] = (201, {"sha256": "ef" * 32, "size": 1})
        self.fake.routes[("POST", "/admin/add_model")] = (201, {"model_name": "f"})
        self.fake.routes[("POST", "/admin/add_model_links")] = (200, {"app_name": "f", "linked_models": ["f"]})
        python_deployer.create_endpoint(self.conn(), "f", "doubles", scale, default_output="0", slo_micros=50000)
        self.assertEqual(
            [r["path"] for r in self.fake.requests], ["/admin/add_app", "/admin/artifacts", "/admin/add_model", "/admin/add_model_links"]
        )
        self.assertEqual(self.fake.bodies("/admin/add_app")[0]["latency_slo_micros"], 50000)


if __name__ == "__main__":
    unittest.main()
