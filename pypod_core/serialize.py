"""JSON in and out of the state store, through one cattrs converter."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import cattrs

T = TypeVar("T")

#: The converter for the model's attrs classes; a backend uses ``to_json``/``from_json``.
#: A plain Converter: the model holds only what JSON has (strings, numbers, booleans,
#: lists, tables, enums by value), and cattrs' JSON preset costs ~3.5 ms to import.
converter: cattrs.Converter = cattrs.Converter()


def to_json(obj: Any) -> str:
    """Serialise an attrs object of the model (config, state, DB config) to JSON text."""
    return json.dumps(converter.unstructure(obj), sort_keys=True, separators=(",", ":"))


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Structure JSON text made by :func:`to_json` back into ``cls``."""
    return converter.structure(json.loads(text), cls)
