"""Turns a Python function into a pickled model object that the server's Python runtime loads with only cloudpickle.

The server's runtime unpickles the artifact and calls its ``predict`` method with a batch of inputs. A bare
function has no ``predict``, so it is wrapped in :class:`_ClosureModel`. Both the wrapper class and the
caller's own module are pickled *by value*, so the server needs neither clipper_admin nor the caller's code
installed: only cloudpickle (the same release, under the same Python minor version) and whatever third-party
packages the function imports.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import ModuleType
from typing import Any, Callable, List, Optional, Sequence

from .exceptions import ClipperException

CLOUDPICKLE_MISSING = (
    "deploy_python_closure needs cloudpickle on this machine: pip install 'clipper_admin[closures]' (or pip install cloudpickle)"
)


class _ClosureModel:
    """A model object whose ``predict`` hands the batch to the wrapped function as a list of inputs."""

    def __init__(self, func: Callable[[List[Any]], Sequence[Any]]) -> None:
        self.func = func

    def predict(self, inputs: Sequence[Any]) -> Sequence[Any]:
        """Calls the function with the batch as a list (one element per query); it returns one output per input."""
        return self.func(list(inputs))


def _is_installed_or_stdlib(module: ModuleType) -> bool:
    """True for modules that the server can be expected to import by name (stdlib, site-packages, builtins)."""
    path = getattr(module, "__file__", None)
    if not path:
        return True
    path = os.path.realpath(path)
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots = {os.path.realpath(r) for r in roots if r}
    return any(path.startswith(r + os.sep) for r in roots) or "site-packages" in path or "dist-packages" in path


def _by_value_modules(func: Callable[..., Any]) -> List[ModuleType]:
    """This module, plus the function's own module when it is the caller's code rather than an installed package."""
    modules = [sys.modules[__name__]]
    name: Optional[str] = getattr(func, "__module__", None)
    module = sys.modules.get(name) if name else None
    # Functions of __main__ are pickled by value already; registering __main__ is refused by cloudpickle.
    if module is not None and name != "__main__" and not _is_installed_or_stdlib(module):
        modules.append(module)
    return modules


def serialize_closure(func: Callable[[List[Any]], Sequence[Any]]) -> bytes:
    """Pickles ``_ClosureModel(func)`` with cloudpickle, by value; raises ClipperException without cloudpickle."""
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    try:
        import cloudpickle
    except ImportError as err:
        raise ClipperException(CLOUDPICKLE_MISSING) from err
    already = set(cloudpickle.list_registry_pickle_by_value())
    registered: List[ModuleType] = []
    try:
        for module in _by_value_modules(func):
            if module.__name__ not in already:
                cloudpickle.register_pickle_by_value(module)
                registered.append(module)
        return cloudpickle.dumps(_ClosureModel(func))
    finally:
        # The registry is process-wide: leave it as the caller had it.
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def cloudpickle_version() -> Optional[str]:
    """The installed cloudpickle release, or None."""
    try:
        import cloudpickle
    except ImportError:
        return None
    return str(getattr(cloudpickle, "__version__", "unknown"))
