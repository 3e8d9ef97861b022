"""clipper_admin: the Python client of clipper, keeping Clipper's import line.

    from clipper_admin import ClipperConnection
    conn = ClipperConnection()          # http://127.0.0.1:1338, token from CLIPPER_TOKEN or ./.clipper/token
    conn.connect()
"""
from .connection import ClipperConnection
from .exceptions import ClipperException

__all__ = ["ClipperConnection", "ClipperException"]
__version__ = "0.1.0"
