"""The names Clipper's getters return (``"name:version:replica"``, ``"name:version"``) as strings that also answer
their description's fields, so code written for either shape works: Clipper's code joins and prints the strings,
the tutorial's ``check_clipper_health`` reads ``container['model_name']``, ``['model_version']``, ``['status']``."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping


class DescribedName(str):
    """A ``str`` (equal to, hashing and serializing as the name) whose ``[key]`` with a string key is the field of
    the verbose description (``x['status']``); integer and slice indexes are a string's (``x[0]``, ``x[:3]``)."""

    _fields: Dict[str, Any]

    def __new__(cls, name: str, fields: Mapping[str, Any]) -> "DescribedName":
        self = super().__new__(cls, name)
        self._fields = dict(fields)
        return self

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return self._fields[key]
            except KeyError:
                raise KeyError(f"{key!r}: '{self}' has the fields {', '.join(sorted(self._fields))}") from None
        return str.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key`` of the description, or ``default``."""
        return self._fields.get(key, default)

    def keys(self) -> Iterator[str]:
        """The description's field names (``dict(x)`` is the verbose description)."""
        return iter(self._fields.keys())

    def fields(self) -> Dict[str, Any]:
        """A copy of the verbose description."""
        return dict(self._fields)

    def __reduce__(self) -> Any:
        return (DescribedName, (str(self), self._fields))
