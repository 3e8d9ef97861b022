"""Unit tests of Clipper's API surface in clipper_admin: container managers, argument handling, Clipper's bodies.

run: python -m unittest discover -s clients/python/tests
"""

import os
import stat
import sys
import tempfile
import unittest
from typing import Any
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clipper_admin import (  # noqa: E402
    ClipperConnection,
    ClipperException,
    ContainerManager,
    DockerContainerManager,
    KubernetesContainerManager,
    LocalContainerManager,
)
from clipper_admin.container_manager import cache_entries_flag  # noqa: E402
from clipper_admin.deployers import mxnet, pyspark  # noqa: E402
from clipper_admin.deployers._formats import deploy_saved  # noqa: E402
from test_client import FakeServerTest  # noqa: E402


class ContainerManagerTest(unittest.TestCase):
    def test_the_connection_takes_its_addresses_and_token_from_the_manager(self) -> None:
        conn = ClipperConnection(ContainerManager("http://10.0.0.5:2338", "http://10.0.0.5:2337", token="t"))
        self.assertEqual((conn.url, conn.query_url), ("http://10.0.0.5:2338", "http://10.0.0.5:2337"))
        self.assertEqual(conn.get_query_addr(), "10.0.0.5:2337")
        self.assertEqual(conn.get_metric_addr(), "10.0.0.5:2337")
        self.assertEqual(conn._auth_header(), {"Authorization": "Bearer t"})

    def test_a_string_first_argument_is_the_management_url(self) -> None:
        self.assertEqual(ClipperConnection("http://h:9000").url, "http://h:9000")

    def test_local_manager_follows_the_servers_environment_variables(self) -> None:
        with mock.patch.dict(os.environ, {"CLIPPER_QUERY_PORT": "0", "CLIPPER_MGMT_PORT": "7338", "CLIPPER_HOST": "127.0.0.2"}):
            m = LocalContainerManager()
        self.assertEqual((m.query_port, m.management_port, m.host), (0, 7338, "127.0.0.2"))
        with self.assertRaisesRegex(ClipperException, "clipper_query_port must be a port number"):
            LocalContainerManager(clipper_query_port=70000)

    def test_local_manager_names_a_missing_binary(self) -> None:
        m = LocalContainerManager(clipper_binary="/no/such/clipper", data_dir=tempfile.mkdtemp())
        with self.assertRaisesRegex(ClipperException, "no clipper executable /no/such/clipper: build it with scripts/build"):
            m.start_clipper()

    def test_local_manager_reports_a_server_that_exits_before_it_is_ready(self) -> None:
        d = tempfile.mkdtemp()
        fake = os.path.join(d, "clipper")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'address already in use' >&2\nexit 3\n")
        os.chmod(fake, stat.S_IRWXU)
        with self.assertRaisesRegex(ClipperException, "exited with code 3 before it was ready: address already in use"):
            LocalContainerManager(clipper_binary=fake, data_dir=d).start_clipper()

    def test_several_frontends_are_refused_where_one_server_is_the_frontend(self) -> None:
        for manager in (LocalContainerManager(data_dir=tempfile.mkdtemp()), DockerContainerManager()):
            with self.assertRaisesRegex(ClipperException, "num_frontend_replicas=2 is not applicable"):
                manager.start_clipper(num_frontend_replicas=2)

    def test_docker_manager_says_when_no_engine_answers(self) -> None:
        with mock.patch.dict(os.environ, {"PATH": tempfile.mkdtemp()}):
            with self.assertRaisesRegex(
                ClipperException,
                r"^no Docker engine answers at unix:///var/run/docker.sock; "
                r"use LocalContainerManager\(\) to run the clipper binary",
            ):
                DockerContainerManager().start_clipper()

    def test_kubernetes_manager_says_how_the_fleet_starts_and_builds_clippers_proxy_addresses(self) -> None:
        k = KubernetesContainerManager(kubernetes_proxy_addr="127.0.0.1:8080", namespace="ml")
        self.assertEqual(k.query_url, "http://127.0.0.1:8080/api/v1/namespaces/ml/services/clipper:1337/proxy")
        self.assertEqual(k.admin_url, "http://127.0.0.1:8080/api/v1/namespaces/ml/services/clipper-mgmt:1338/proxy")
        with self.assertRaisesRegex(ClipperException, r"kubectl apply -k deploy/kubernetes"):
            ClipperConnection(k).start_clipper()
        with self.assertRaisesRegex(ClipperException, "needs the fleet's addresses"):
            KubernetesContainerManager()

    def test_cache_size_is_entries_and_clippers_default_keeps_the_servers(self) -> None:
        self.assertEqual(cache_entries_flag(33554432), [])
        self.assertEqual(cache_entries_flag(1000), ["--cache-entries", "1000"])
        self.assertEqual(cache_entries_flag(0), ["--cache-entries", "0"])
        with self.assertRaisesRegex(ClipperException, "cache_size must be a whole number of entries"):
            cache_entries_flag(-5)

    def test_stop_all_without_a_manager_says_what_is_needed(self) -> None:
        with self.assertRaisesRegex(ClipperException, r"stop_all needs a container manager"):
            ClipperConnection().stop_all()

    def test_unsupported_deployers_name_what_to_use_instead(self) -> None:
        with self.assertRaisesRegex(ClipperException, "clipper does not serve PySpark models: .*--format mlflow"):
            pyspark.deploy_pyspark_model(None, "m", 1, "doubles", None, None, None)
        with self.assertRaisesRegex(ClipperException, "clipper does not serve MXNet models: .*deployers.onnx"):
            mxnet.create_endpoint(None, "m", "doubles", None, None)


class ClipperBodiesTest(FakeServerTest):
    def sent(self, path: str) -> Any:
        return self.fake.bodies(path)[-1]

    def test_register_application_sends_the_cache_switch_and_checks_its_arguments(self) -> None:
        self.fake.routes[("POST", "/admin/add_app")] = (200, {})
        self.conn().register_application("a", "doubles", "-1.0", 100000, cache=False)
        self.assertEqual(self.sent("/admin/add_app")["cache"], False)
        with self.assertRaisesRegex(ClipperException, "cache must be True or False"):
            self.conn().register_application("a", "doubles", "-1.0", 100000, cache="no")
        with self.assertRaisesRegex(ClipperException, "slo_micros must be a whole number"):
            self.conn().register_application("a", "doubles", "-1.0", 1.5)

    def test_register_model_sends_clippers_body(self) -> None:
        self.fake.routes[("POST", "/admin/add_model")] = (200, {})
        self.conn().register_model("m", 2, "doubles", labels=["x"])
        self.assertEqual(
            self.sent("/admin/add_model"),
            {
                "model_name": "m",
                "model_version": "2",
                "input_type": "doubles",
                "labels": ["x"],
                "batch_size": -1,
                "container_name": "NO_CONTAINER",
                "model_data_path": "DEPRECATED",
            },
        )

    def test_deploy_model_with_an_image_runs_it_with_the_docker_runtime(self) -> None:
        self.fake.routes[("POST", "/admin/add_model")] = (200, {})
        self.conn().deploy_model("m", 1, "doubles", "quay.io/me/model:1", ["l"], 3, 16)
        self.assertEqual(
            self.sent("/admin/add_model"),
            {
                "model_name": "m",
                "model_version": "1",
                "input_type": "doubles",
                "labels": ["l"],
                "batch_size": 16,
                "replicas": 3,
                "runtime": "docker",
                "image": "quay.io/me/model:1",
                "container_name": "quay.io/me/model:1",
            },
        )

    def test_bad_arguments_raise_before_anything_is_sent(self) -> None:
        c = self.conn()
        for call, message in [
            (lambda: c.deploy_model("m", 1, "doubles", "img:1", batch_size=0), "batch_size must be -1"),
            (lambda: c.deploy_model("m", 1, "doubles", "img:1", labels="x"), "labels must be a list of strings"),
            # The framework deployers check labels the same way: "abc" is not three labels a, b and c.
            (
                lambda: deploy_saved(c, "m", 1, "floats", "onnx", "m.onnx", lambda path: None, 1, -1, "abc", None),
                "labels must be a list of strings",
            ),
            (lambda: c.deploy_model("m", 1, "doubles"), "deploy_model needs an image"),
            (lambda: c.stop_versioned_models(["m"]), "model_versions_dict must be a dict"),
            (lambda: c.stop_models(3), "model_names must be a name or a list of names"),
            (lambda: c.get_model_replica_info("m", 1, "first"), "replica_id must be a whole number"),
        ]:
            with self.assertRaisesRegex(ClipperException, message):
                call()
        self.assertEqual(self.fake.requests, [])

    def test_scaling_another_version_than_the_current_one_is_refused(self) -> None:
        self.fake.routes[("POST", "/admin/get_all_models")] = (
            200,
            [
                {"model_name": "m", "model_version": "1", "is_current_version": False},
                {"model_name": "m", "model_version": "2", "is_current_version": True},
            ],
        )
        self.assertEqual(self.conn().get_current_model_version("m"), "2")
        with self.assertRaisesRegex(ClipperException, "version 1 of m is not current"):
            self.conn().set_num_replicas("m", 2, version=1)
        with self.assertRaisesRegex(ClipperException, "No versions of model n registered"):
            self.conn().get_current_model_version("n")

    def test_stop_versioned_models_deletes_each_version(self) -> None:
        self.fake.routes[("POST", "/admin/delete_versioned_model")] = (200, {})
        self.assertEqual(self.conn().stop_versioned_models({"m": [1, "2"]}), ["m:1", "m:2"])
        self.assertEqual(
            self.fake.bodies("/admin/delete_versioned_model"),
            [{"model_name": "m", "model_version": "1"}, {"model_name": "m", "model_version": "2"}],
        )

    def test_inspect_instance_asks_for_json_and_test_predict_function_runs_locally(self) -> None:
        self.fake.routes[("GET", "/metrics")] = (200, {"counters": []})
        self.assertEqual(self.conn().inspect_instance(), {"counters": []})
        conn = self.conn()
        self.assertEqual(
            conn.test_predict_function({"input_batch": [[1.0], [2.5]]}, lambda xs: [x[0] * 2 for x in xs], "doubles"), [2.0, 5.0]
        )
        self.assertEqual(conn.test_predict_function({"input": [1, 2]}, lambda xs: xs, "doubles"), "Invalid input type")
        self.assertEqual(conn.test_predict_function({"x": 1}, lambda xs: xs, "doubles"), "Invalid input type or JSON key")


if __name__ == "__main__":
    unittest.main()
