"""JSON in and out of the state store, for the model's attrs classes, without cattrs.

:func:`to_dict` and :func:`from_dict` turn a model object (a record, config or state of
:mod:`pypod_core.model`, or :class:`pypod_core.plugin.state.DBConfig`) into plain data and back;
:func:`to_json` and :func:`from_json` add the JSON text a backend stores.  The text is
the one cattrs made before (the state databases already hold it): keys sorted, tuples
as lists, enums by value.

Structuring reads each class's fields and their declared types once, on first use: a
field absent from the data takes its default (records written before the field existed
load), and keys the class does not know are ignored (as cattrs' default did).

cattrs is not imported here: it cost every ``pypod`` process ~10 ms, and building its
structure functions ~3 ms more.
"""

from __future__ import annotations

import enum
import json
import sys
import typing
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attr
import attrs

T = TypeVar("T")

#: Turns one JSON value into a field's value; None keeps the value as it is.
_Structure = Callable[[Any], Any] | None

#: Per class: (data key, ``__init__`` argument, structure function) of each field.
_PLANS: dict[type, list[tuple[str, str, _Structure]]] = {}

#: The commonest field types, by the string annotation the model writes, read without
#: evaluating it (``typing.get_type_hints`` compiles every annotation of a class:
#: ~10 M instructions for the container records on each ``ps``, ``inspect``, ``stop``).
_PLAIN: Final[dict[str, Any]] = {
    "str": str, "int": int, "float": float, "bool": bool,
    "tuple[str, ...]": tuple[str, ...], "tuple[int, ...]": tuple[int, ...],
    "dict[str, str]": dict[str, str], "dict[str, dict]": dict[str, dict],
}


def to_dict(obj: Any) -> dict[str, Any]:
    """The plain data of a model object: nested objects as dicts, tuples as lists.

    Exactly what cattrs' ``Converter().unstructure`` gave.  Enum members are kept: the
    model's are StrEnums, which JSON writes as their value.  The result shares nothing
    with ``obj``.
    """
    # attr.asdict, not attrs.asdict: the latter always keeps tuples as tuples.
    return attr.asdict(obj, retain_collection_types=False)


def from_dict(data: Any, cls: type[T]) -> T:
    """The ``cls`` object that :func:`to_dict` data describes.

    A missing key takes the field's default; an unknown key is ignored.  The dict and
    list values of ``data`` (env, labels, network results) are taken, not copied.
    Raises TypeError or ValueError (naming the class and field) for data of the wrong
    shape, as JSON decoding does for bad text.
    """
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _plan(cls)
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    kwargs = {}
    key = ""
    try:
        for key, arg, structure in plan:
            if key in data:
                value = data[key]
                kwargs[arg] = value if structure is None else structure(value)
    except (TypeError, ValueError) as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(f"{cls.__name__}.{key}: {exc}") from exc
    return cls(**kwargs)


def to_json(obj: Any) -> str:
    """Serialise an attrs object of the model (config, state, DB config) to JSON text."""
    return json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"))


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Structure JSON text made by :func:`to_json` back into ``cls``."""
    return from_dict(json.loads(text), cls)


def _plan(cls: type) -> list[tuple[str, str, _Structure]]:
    """How to structure each ``__init__`` field of ``cls``, from its declared type."""
    return [(field.name, field.alias, _structure_for(_field_type(cls, field), cls))
            for field in attrs.fields(cls) if field.init]


def _field_type(cls: type, field: Any) -> Any:
    """The type a field of ``cls`` declares.  The model uses ``from __future__ import
    annotations``, so it is a string: a common one is looked up in :data:`_PLAIN`, any
    other evaluated in the class's module, as ``typing.get_type_hints`` would."""
    annotation = field.type
    if not isinstance(annotation, str):
        return annotation
    plain = _PLAIN.get(annotation)
    if plain is not None:
        return plain
    return eval(annotation, vars(sys.modules[cls.__module__]))  # the model's own text


def _structure_for(tp: Any, owner: type) -> _Structure:
    """The function structuring a JSON value into a ``tp`` (a field type of ``owner``)."""
    if tp in (str, int, float, bool):
        return tp  # coerces, as cattrs did: an int stored for a float loads as a float
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is dict or origin is dict:
        return None  # JSON tables (env, labels, network results) are what they load as
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _structure_for(args[0], owner)
        if item is None:
            return tuple
        return lambda value: tuple(map(item, value))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp  # by value
    if attrs.has(tp):
        return lambda value: from_dict(value, tp)
    raise TypeError(f"pypod_core.serialize: {owner.__name__} has a field of type {tp!r}, "
                    "which it cannot structure; teach _structure_for")

