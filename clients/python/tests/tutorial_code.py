"""The tutorial's admin code, every block of it as the tutorial writes it: the ClipperModelServer class (start,
register, deploy, link), the REST predict, the update to version 2, check_clipper_health and cleanup_clipper.

Nothing here is adapted to clipper: no argument is added or changed. tutorial_workflow.py imports this module
and, for LocalContainerManager, makes the one substitution the README names (the manager's class, where no
Docker engine runs); with DockerContainerManager it runs as it is.
"""

import json

import requests
from clipper_admin import ClipperConnection, DockerContainerManager
from clipper_admin.deployers import python as python_deployer


class ClipperModelServer:
    """Wraps Clipper's admin API for the HR hiring model."""

    def __init__(self):
        self.clipper_conn = ClipperConnection(DockerContainerManager())
        self.app_name = "hr-hiring"
        self.model_name = "hr-decision-tree"

    def start(self):
        self.clipper_conn.start_clipper()
        print(f"Clipper started, query frontend at {self.clipper_conn.get_query_addr()}")

    def register_app(self):
        self.clipper_conn.register_application(name=self.app_name, input_type="doubles", default_output="-1.0", slo_micros=100000)

    def deploy(self, predict_fn, version="1"):
        python_deployer.deploy_python_closure(
            self.clipper_conn,
            name=self.model_name,
            version=version,
            input_type="doubles",
            func=predict_fn,
            pkgs_to_install=["scikit-learn"],
        )

    def link(self):
        self.clipper_conn.link_model_to_app(app_name=self.app_name, model_name=self.model_name)


def predict(query_addr, app_name, features):
    """REST predict, as any client calls the query frontend."""
    url = f"http://{query_addr}/{app_name}/predict"
    response = requests.post(url, headers={"Content-Type": "application/json"}, data=json.dumps({"input": features}))
    return response.json()


def update_model(server, predict_fn, version):
    """A new version takes the traffic once it is deployed."""
    server.deploy(predict_fn, version=version)


def check_clipper_health(conn):
    print("Applications:", conn.get_all_apps())
    print("Models:", conn.get_all_models())
    for container in conn.get_all_model_replicas():
        print(f"  {container['model_name']} v{container['model_version']}: {container['status']}")


def cleanup_clipper(conn):
    conn.unlink_model_from_app(app_name="hr-hiring", model_name="hr-decision-tree")
    conn.stop_models("hr-decision-tree")
    conn.stop_all()
