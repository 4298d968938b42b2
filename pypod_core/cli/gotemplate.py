"""A small evaluator of Go templates, for ``--format`` as podman takes it.

Supported: text with ``{{ ... }}`` actions, each a pipeline of field paths
(``.State.ExitCode``, ``.``), string and number literals and the functions podman's
users reach for: ``json``, ``index``, ``len``, ``join``, ``upper``, ``lower``, ``title``,
``printf``; plus ``{{range .X}}...{{end}}`` and ``{{if .X}}...{{else}}...{{end}}``.
Values print as Go prints them (``true``, ``<nil>``, ``[a b]``, ``map[k:v]``).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any

from pypod_core.errors import InvalidArgError

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)


def go_str(value: Any) -> str:
    """A value as Go's text/template prints it."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _field(value: Any, path: str) -> Any:
    if path == ".":
        return value
    for name in path.strip(".").split("."):
        if isinstance(value, dict) and name in value:
            value = value[name]
        else:
            raise InvalidArgError(f"template: can't evaluate field {name} in {path}")
    return value


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None if isinstance(value, dict) else _fail(f"index of {key!r} out of range")
    return value


def _fail(message: str) -> Any:
    raise InvalidArgError(f"template: {message}")


def _printf(fmt: str, *args: Any) -> str:
    # Go's verbs that matter here map onto Python's %-formatting.
    return re.sub(r"%v", "%s", fmt) % tuple(go_str(a) if not isinstance(a, int | float)
                                           else a for a in args)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":")),
    "index": _index,
    "len": lambda v: len(v or ()),
    "join": lambda v, sep: sep.join(go_str(x) for x in v or ()),
    "upper": lambda v: go_str(v).upper(),
    "lower": lambda v: go_str(v).lower(),
    "title": lambda v: go_str(v).title(),
    "printf": _printf,
}


def _operand(token: str, dot: Any) -> Any:
    if token.startswith("."):
        return _field(dot, token)
    if token[:1] in "\"'`":
        return token[1:-1] if token.startswith("`") else shlex.split(token)[0]
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    raise InvalidArgError(f"template: function {token!r} not defined")


def _command(words: list[str], dot: Any, piped: list[Any]) -> Any:
    if words[0] in FUNCTIONS:
        args = [_operand(w, dot) for w in words[1:]] + piped
        return FUNCTIONS[words[0]](*args)
    if len(words) != 1 or piped:
        raise InvalidArgError(f"template: cannot call {' '.join(words)!r}")
    return _operand(words[0], dot)


def _tokens(text: str) -> list[str]:
    return re.findall(r'"(?:\\.|[^"\\])*"|`[^`]*`|\S+', text)


def evaluate(pipeline: str, dot: Any) -> Any:
    """The value of one action's pipeline (``json .State``, ``.Name | upper``)."""
    value: list[Any] = []
    for part in pipeline.split("|"):
        words = _tokens(part)
        if not words:
            raise InvalidArgError(f"template: empty command in {pipeline!r}")
        value = [_command(words, dot, value)]
    return value[0]


def _parse(template: str) -> list[Any]:
    """A tree: strings, ("action", pipeline), ("range"|"if", pipeline, body, else)."""
    pos, root = 0, []  # type: tuple[int, list[Any]]
    stack: list[tuple[list[Any], Any]] = [(root, None)]
    for match in _ACTION.finditer(template):
        stack[-1][0].append(template[pos:match.start()])
        pos = match.end()
        action = match.group(1)
        keyword = action.split(None, 1)[0] if action else ""
        if keyword in ("range", "if"):
            node: list[Any] = [keyword, action[len(keyword):].strip(), [], []]
            stack[-1][0].append(node)
            stack.append((node[2], node))
        elif keyword == "else":
            if stack[-1][1] is None:
                raise InvalidArgError("template: unexpected {{else}}")
            stack[-1] = (stack[-1][1][3], stack[-1][1])
        elif keyword == "end":
            if stack[-1][1] is None:
                raise InvalidArgError("template: unexpected {{end}}")
            stack.pop()
        else:
            stack[-1][0].append(("action", action))
    if len(stack) != 1:
        raise InvalidArgError("template: unexpected EOF: missing {{end}}")
    root.append(template[pos:])
    return root


def _truthy(value: Any) -> bool:
    return bool(value) and value != 0


def _render(nodes: list[Any], dot: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, tuple):
            out.append(go_str(evaluate(node[1], dot)))
        elif node[0] == "if":
            _render(node[2] if _truthy(evaluate(node[1], dot)) else node[3], dot, out)
        else:
            items = evaluate(node[1], dot)
            items = list(items.values()) if isinstance(items, dict) else list(items or ())
            for item in items:
                _render(node[2], item, out)
            if not items:
                _render(node[3], dot, out)


def render(template: str, dot: Any) -> str:
    """Render ``template`` with ``dot`` (a dict from inspect or ps) as ``.``.

    podman's ``{{json .}}`` shorthand ``json`` (the whole template) is accepted too."""
    if template.strip() == "json":
        return json.dumps(dot, indent=4)
    out: list[str] = []
    try:
        _render(_parse(template.replace("\\n", "\n").replace("\\t", "\t")), dot, out)
    except (TypeError, ValueError) as exc:
        # A function given the wrong arguments, printf's verbs not matching, range over
        # a number, an unclosed quote: the user's template, not a bug of pypod.
        raise InvalidArgError(f"template: {exc}") from None
    return "".join(out)
