"""The one error type of clipper_admin, carrying the server's `error`, `cause` and `code` fields when it sent them."""

from __future__ import annotations

from typing import Optional


class ClipperException(Exception):
    """A failed call to clipper: unreachable server, refused token, or an error answer from the server.

    Attributes:
        msg: the full message (Clipper's attribute name; also ``message`` and ``str(exc)``).
        error: the server's ``error`` field, or the message when the server sent none.
        cause: the server's ``cause`` field (what to do about it), when it sent one.
        code: the server's ``code`` field, such as ``"not_found"`` or ``"unauthorized"``.
        status: the HTTP status, when the server answered at all.
    """

    def __init__(
        self,
        msg: str,
        *,
        error: Optional[str] = None,
        cause: Optional[str] = None,
        code: Optional[str] = None,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.message = msg
        self.error = error if error is not None else msg
        self.cause = cause
        self.code = code
        self.status = status


class UnconnectedException(ClipperException):
    """Clipper raised this when a method ran before connect(); clipper's methods connect as needed, so it is
    exported for ``except`` clauses of Clipper code and not raised."""

    def __init__(self, msg: str = "Not connected to Clipper; call connect() or start_clipper()") -> None:
        super().__init__(msg)
