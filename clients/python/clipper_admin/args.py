"""Argument checks shared by ClipperConnection's methods: each bad argument raises ClipperException naming it."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

from .exceptions import ClipperException

Names = Union[str, Sequence[str]]


def as_int(field: str, value: Any) -> int:
    """A whole number argument (bools and fractions refused, numeric strings accepted)."""
    if isinstance(value, bool):
        raise ClipperException(f"{field} must be a whole number, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ClipperException(f"{field} must be a whole number, got {value!r}") from None
    if isinstance(value, float) and number != value:
        raise ClipperException(f"{field} must be a whole number, got {value!r}")
    return number


def names(value: Names, field: str = "model_names") -> List[str]:
    """Clipper accepts one name or a list of names."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) for v in value):
        raise ClipperException(f"{field} must be a name or a list of names, got {value!r}")
    return list(value)


def versions_dict(value: Any) -> Dict[str, List[str]]:
    """Clipper's ``{model_name: [version, ...]}`` argument, versions as strings."""
    if not isinstance(value, dict):
        raise ClipperException(f"model_versions_dict must be a dict of model name to a list of versions, got {value!r}")
    out: Dict[str, List[str]] = {}
    for name, versions in value.items():
        if not isinstance(name, str) or not isinstance(versions, (list, tuple)):
            raise ClipperException(f"model_versions_dict[{name!r}] must be a list of versions, got {versions!r}")
        out[name] = [str(v) for v in versions]
    return out


def labels(value: Any) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ClipperException(f"labels must be a list of strings, got {value!r}")
    return list(value)


def batch_size(value: Any) -> int:
    n = as_int("batch_size", value)
    if n == 0 or n < -1:
        raise ClipperException(f"batch_size must be -1 (adaptive) or at least 1, got {value!r}")
    return n
