"""JSON in and out of the state store, through one cattrs converter."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

T = TypeVar("T")

#: The converter for the model's attrs classes; a backend uses ``to_json``/``from_json``.
converter: cattrs.Converter = make_converter()


def to_json(obj: Any) -> str:
    """Serialise an attrs object of the model (config, state, DB config) to JSON text."""
    return json.dumps(converter.unstructure(obj), sort_keys=True, separators=(",", ":"))


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Structure JSON text made by :func:`to_json` back into ``cls``."""
    return converter.structure(json.loads(text), cls)
