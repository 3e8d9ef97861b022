"""clipper_admin: the Python client of clipper, with Clipper's import lines.

from clipper_admin import ClipperConnection, LocalContainerManager
conn = ClipperConnection(LocalContainerManager())   # or DockerContainerManager(), as in Clipper
conn.start_clipper()                                # or conn.connect() to a running server
"""

from . import deployers
from .connection import ClipperConnection
from .container_manager import CONTAINERLESS_MODEL_IMAGE, ContainerManager
from .docker_container_manager import DockerContainerManager
from .exceptions import ClipperException, UnconnectedException
from .kubernetes_container_manager import KubernetesContainerManager
from .local_container_manager import LocalContainerManager

__all__ = [
    "ClipperConnection",
    "ClipperException",
    "UnconnectedException",
    "ContainerManager",
    "DockerContainerManager",
    "KubernetesContainerManager",
    "LocalContainerManager",
    "CONTAINERLESS_MODEL_IMAGE",
    "deployers",
]
__version__ = "0.2.0"
