"""KubernetesContainerManager: connects to a clipper fleet on Kubernetes through its Services.

The fleet is started with ``kubectl apply -k deploy/kubernetes`` (Services ``clipper`` on 1337 and
``clipper-mgmt`` on 1338), not by this manager. Every pod has its own registry configured by the same
``clipper.yaml``, so management calls reach one pod; change models through ``clipper.yaml`` for the fleet.
"""

from __future__ import annotations

from typing import Optional

from .container_manager import ContainerManager
from .exceptions import ClipperException

START_WITH_KUBECTL = (
    "KubernetesContainerManager does not start clipper: start the fleet with "
    "`kubectl apply -k deploy/kubernetes` (set the token in deploy/kubernetes/secret.yaml), "
    "then call connect()"
)


class KubernetesContainerManager(ContainerManager):
    """Clipper's Kubernetes manager, for clipper: addresses as Clipper gave them.

    Args:
        cluster_name: a name for logs.
        kubernetes_proxy_addr: as in Clipper, the address of ``kubectl proxy`` (``127.0.0.1:8080``); the Services are
            then reached at ``/api/v1/namespaces/<namespace>/services/<name>:<port>/proxy``.
        namespace: the fleet's namespace.
        query_address, management_address: a clipper addition: the Services' addresses reached directly
            (``http://clipper.default.svc:1337`` from inside the cluster, or a port-forward); they win over the proxy.
        token: the management token of ``deploy/kubernetes/secret.yaml``.
        redis_ip, redis_port, useInternalIP, create_namespace_if_not_exists: Clipper's settings for its Redis and
            node addresses; clipper has neither, so they are accepted and unused.
    """

    def __init__(
        self,
        cluster_name: str = "default-cluster",
        kubernetes_proxy_addr: Optional[str] = None,
        redis_ip: Optional[str] = None,
        redis_port: int = 6379,
        useInternalIP: bool = False,  # noqa: N803
        namespace: str = "default",
        create_namespace_if_not_exists: bool = False,
        query_address: Optional[str] = None,
        management_address: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.cluster_identifier = cluster_name
        self.namespace = namespace
        if not (query_address and management_address) and not kubernetes_proxy_addr:
            raise ClipperException(
                "KubernetesContainerManager needs the fleet's addresses: kubernetes_proxy_addr "
                "(of `kubectl proxy`), or query_address and management_address"
            )
        if kubernetes_proxy_addr:
            proxy = kubernetes_proxy_addr if "://" in kubernetes_proxy_addr else f"http://{kubernetes_proxy_addr}"
            base = f"{proxy.rstrip('/')}/api/v1/namespaces/{namespace}/services"
            query_url, admin_url = f"{base}/clipper:1337/proxy", f"{base}/clipper-mgmt:1338/proxy"
        query_url = _url(query_address) if query_address else query_url
        admin_url = _url(management_address) if management_address else admin_url
        super().__init__(admin_url, query_url, token)

    def start_clipper(self, *args, **kwargs) -> None:  # type: ignore[override]
        raise ClipperException(START_WITH_KUBECTL)

    def stop_all(self, graceful: bool = True) -> None:
        raise ClipperException("KubernetesContainerManager does not stop the fleet: `kubectl delete -k deploy/kubernetes` does")


def _url(address: str) -> str:
    return address if "://" in address else f"http://{address}"
