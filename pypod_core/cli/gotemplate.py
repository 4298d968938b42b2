"""A small evaluator of Go templates, for ``--format`` as podman takes it.

Supported: text with ``{{ ... }}`` actions (``{{- `` and `` -}}`` trim the spaces
around), each a pipeline of field paths (``.State.ExitCode``, ``.``), variables (``$``,
``{{$x := ...}}``, ``{{$x = ...}}``, ``{{range $k, $v := ...}}``, with fields:
``$x.Name``), parenthesised pipelines (``(index .X "k").Name``), string, number and
boolean literals and the functions podman's users reach for: ``json``, ``index``,
``len``, ``join``, ``upper``, ``lower``, ``title``, ``printf``; plus
``{{range .X}}...{{else}}...{{end}}``, ``{{if .X}}...{{else if .Y}}...{{else}}...{{end}}``
and ``{{/* comments */}}``.  Values print as Go prints them (``true``, ``<nil>``,
``[a b]``, ``map[k:v]``).

A template is parsed whole by :func:`parse` before it is used, as Go's text/template
does: a malformed one is an error even when there is nothing to render.  Nesting is
bounded (``MAX_DEPTH``) and so are printf's widths (``MAX_WIDTH``): a user's template
cannot exhaust the stack or the memory.  Every error is an InvalidArgError of one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

import attrs

from pypod_core.errors import InvalidArgError

#: The deepest nesting of ``if`` and ``range`` a template may have.
MAX_DEPTH: Final = 64
#: The largest width or precision a printf verb may ask for.
MAX_WIDTH: Final = 1000
#: Go's keywords that this evaluator does not implement (refused by name).
_UNSUPPORTED = frozenset({"with", "define", "template", "block", "break", "continue"})
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|`[^`]*`|\'(?:\\.|[^\'\\])*\'|\||\(|'
                    r'\)(?:\.[A-Za-z_][A-Za-z0-9_]*)*|[^\s|()]+')
_VARIABLE = re.compile(r"(\$[A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
_DECLARATION = re.compile(r"(\$[A-Za-z0-9_]*)\s*(?:,\s*(\$[A-Za-z0-9_]*)\s*)?(:=|=)\s*(.*)",
                          re.S)
_FIELD = re.compile(r"\.|(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d*|\*))?(.|$)", re.S)
_PY_VERBS = {"v": "s", "s": "s", "d": "d", "q": "s", "t": "s", "x": "x", "X": "X",
             "o": "o", "f": "f", "F": "F", "e": "e", "E": "E", "g": "g", "G": "G", "c": "c",
             "%": "%"}


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


def _fail(message: str) -> Any:
    raise InvalidArgError(f"template: {message}")


# -- functions -------------------------------------------------------------------------


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None if isinstance(value, dict) else _fail(f"index of {key!r} out of range")
    return value


def _printf_format(fmt: str) -> tuple[str, list[str]]:
    """Go's format as Python's %-format, and each verb; an unsupported verb, a ``*``
    width or a width above MAX_WIDTH is an error."""
    out, verbs, pos = [], [], 0
    for match in _VERB.finditer(fmt):
        flags, width, precision, verb = match.groups()
        out.append(fmt[pos:match.start()])
        pos = match.end()
        if verb not in _PY_VERBS:
            _fail(f"printf: unsupported verb %{verb}" if verb else "printf: % at the end")
        if "*" in (width, precision):
            _fail("printf: * widths are not supported")
        for number in (width, precision):
            if number and int(number) > MAX_WIDTH:
                _fail(f"printf: width {int(number)} is above {MAX_WIDTH}")
        if verb != "%":
            verbs.append(verb)
        dot = "" if precision is None else f".{precision}"
        out.append(f"%{flags}{width or ''}{dot}{_PY_VERBS[verb]}")
    out.append(fmt[pos:])
    return "".join(out), verbs


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        _fail(f"printf: the format must be a string, not {go_str(fmt)}")
    py_fmt, verbs = _printf_format(fmt)
    values: list[Any] = []
    for verb, arg in zip(verbs, args, strict=False):
        if verb == "q":
            values.append(json.dumps(arg if isinstance(arg, str) else go_str(arg)))
        elif verb in "vst" or not isinstance(arg, int | float) or isinstance(arg, bool):
            values.append(go_str(arg))
        else:
            values.append(arg)
    values += args[len(verbs):]
    return py_fmt % tuple(values)


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


# -- parsing ---------------------------------------------------------------------------


@attrs.frozen
class _Operand:
    """A field path (``kind`` "field", ``value`` the path), a literal ("literal"), or a
    parenthesised pipeline ("pipe", ``value`` the pipeline and the field path after
    its closing parenthesis, "" if none)."""

    kind: str
    value: Any


@attrs.frozen
class _Command:
    """A function call (``function`` set) or a lone operand (``args`` of one)."""

    function: str
    args: tuple[_Operand, ...]


def _literal(token: str) -> Any:
    if token.startswith("`"):
        return token[1:-1]
    try:
        # A tab may stand in a Go string (``table`` formats make every space one); a
        # newline may not.
        value = (json.loads(token, strict="\n" in token) if token.startswith('"')
                 else token[1:-1])
    except ValueError:
        _fail(f"bad string literal {token}")
    if token.startswith("'") and len(value) != 1:
        _fail(f"bad character literal {token}")
    return value


def _operand(token: str, known: frozenset[str]) -> _Operand:
    if token.startswith("."):
        if not _FIELD.fullmatch(token):
            _fail(f"bad field name {token!r}")
        return _Operand("field", token)
    if token[:1] in "\"'`":
        if len(token) < 2 or token[-1] != token[0]:
            _fail(f"unterminated quoted string {token}")
        return _Operand("literal", _literal(token))
    if re.fullmatch(r"-?\d{1,18}", token):
        return _Operand("literal", int(token))
    if re.fullmatch(r"-?\d{1,18}\.\d{1,18}", token):
        return _Operand("literal", float(token))
    if token in ("true", "false"):
        return _Operand("literal", token == "true")
    if token == "nil":
        return _Operand("literal", None)
    if token[:1] == "$":
        match = _VARIABLE.fullmatch(token)
        if not match:
            _fail(f"bad variable {token!r}")
        assert match is not None
        if match.group(1) not in known:
            _fail(f'undefined variable "{match.group(1)}"')
        return _Operand("var", (match.group(1), match.group(2)))
    return _fail(f"function {token!r} not defined")


def _pipeline(text: str, known: frozenset[str] = frozenset({"$"})) -> tuple[_Command, ...]:
    """An action's pipeline: commands separated by ``|``, arguments that may be
    parenthesised pipelines (``(index .X "k").Field``), checked as Go's parser does."""
    tokens = _TOKEN.findall(text)
    commands, pos = _parse(tokens, 0, text, 0, known)
    if pos < len(tokens):
        _fail(f"unexpected right paren in {text!r}")
    if commands[0].function == "printf" and commands[0].args and \
            commands[0].args[0].kind == "literal" and isinstance(commands[0].args[0].value, str):
        _printf_format(commands[0].args[0].value)  # a literal format is checked now
    return tuple(commands)


def _parse(tokens: list[str], pos: int, text: str, depth: int,
           known: frozenset[str]) -> tuple[tuple[_Command, ...], int]:
    """The pipeline starting at ``tokens[pos]``, up to the end (depth 0) or up to its
    closing parenthesis; return it and the position after it (at that parenthesis)."""
    if depth > MAX_DEPTH:
        _fail(f"nested too deeply: more than {MAX_DEPTH} levels of parentheses")
    commands: list[_Command] = []
    words: list[str | _Operand] = []
    while True:
        token = tokens[pos] if pos < len(tokens) else ""
        if token == "(":
            inner, pos = _parse(tokens, pos + 1, text, depth + 1, known)
            if pos >= len(tokens):
                _fail(f"unclosed left paren in {text!r}")
            words.append(_Operand("pipe", (inner, tokens[pos][1:])))
            pos += 1
            continue
        if token and token != "|" and not token.startswith(")"):
            words.append(token)
            pos += 1
            continue
        if not words:
            _fail(f"missing command in {text!r}")
        commands.append(_command(words, text, len(commands), known))
        words = []
        if token != "|":  # the end, or the closing parenthesis (for the caller)
            return tuple(commands), pos
        pos += 1


def _command(words: list[str | _Operand], text: str, stage: int,
             known: frozenset[str]) -> _Command:
    """One command of a pipeline from its words (tokens, or parenthesised pipelines)."""
    head = words[0]
    if isinstance(head, str) and head in FUNCTIONS:
        return _Command(head, tuple(_as_operand(w, known) for w in words[1:]))
    if len(words) > 1:
        _as_operand(head, known)  # an unknown function is reported as such
        _fail(f"can't give argument to non-function {_word(head)} in {text!r}")
    if stage:
        _fail(f"non executable command in pipeline stage {stage + 1}: {text!r}")
    return _Command("", (_as_operand(head, known),))


def _as_operand(word: str | _Operand, known: frozenset[str]) -> _Operand:
    return word if isinstance(word, _Operand) else _operand(word, known)


def _word(word: str | _Operand) -> str:
    return word if isinstance(word, str) else "(...)"


def _action_end(template: str, start: int) -> int:
    """The index of the ``}}`` closing the action whose body starts at ``start``
    (quoted strings in it may hold ``}}``); an error if there is none."""
    pos = start
    while True:
        quote = re.compile(r'}}|"|`').search(template, pos)
        if quote is None:
            _fail("unclosed action")
        assert quote is not None
        if quote.group() == "}}":
            return quote.start()
        closing = re.compile(r'"(?:\\.|[^"\\\n])*"' if quote.group() == '"' else r"`[^`]*`")
        literal = closing.match(template, quote.start())
        if literal is None:
            _fail("unterminated quoted string in action")
        assert literal is not None
        pos = literal.end()


def _actions(template: str) -> list[tuple[str, str]]:
    """The template as ("text", text) and ("action", body) pieces, trim markers applied."""
    pieces: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    while True:
        start = template.find("{{", pos)
        text = template[pos:] if start < 0 else template[pos:start]
        if trim_next:
            text = text.lstrip()
        if start < 0:
            pieces.append(("text", text))
            return pieces
        end = _action_end(template, start + 2)
        body = template[start + 2:end]
        if re.match(r"-\s", body):
            text, body = text.rstrip(), body[1:]
        trim_next = bool(re.search(r"\s-$", body))
        if trim_next:
            body = body[:-1]
        pieces.append(("text", text))
        pieces.append(("action", body.strip()))
        pos = end + 2


class _Block:
    """An ``if`` or ``range``: its pipeline, its body, its else branch."""

    def __init__(self, keyword: str, pipeline: tuple[_Command, ...], chained: bool = False,
                 variables: tuple[str, ...] = ()):
        self.keyword = keyword
        self.pipeline = pipeline
        #: Declared by the block's pipeline (``range $i, $v := ...``), seen in its body.
        self.variables = variables
        #: The variables the body and the else branch see (set by the parser).
        self.known: frozenset[str] = frozenset()
        self.body: list[Any] = []
        self.orelse: list[Any] = []
        self.in_else = False
        #: An ``{{else if}}``: closed by the ``{{end}}`` of the ``if`` it continues.
        self.chained = chained


def _split(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest."""
    words = text.split(None, 1)
    return (words[0] if words else "", words[1].strip() if len(words) > 1 else "")


@attrs.frozen
class _Assign:
    """``{{$x := pipeline}}`` (``declare``) or ``{{$x = pipeline}}``: prints nothing."""

    name: str
    declare: bool
    pipeline: tuple[_Command, ...]


def _declaration(text: str) -> tuple[tuple[str, ...], str, str] | None:
    """``$a, $b := rest`` as (names, operator, rest); None if ``text`` declares none."""
    match = _DECLARATION.fullmatch(text)
    if not match or not re.fullmatch(r"\$[A-Za-z0-9_]*", match.group(1)):
        return None
    names = tuple(n for n in (match.group(1), match.group(2)) if n)
    return names, match.group(3), match.group(4).strip()


def _condition(keyword: str, text: str,
               known: frozenset[str]) -> tuple[tuple[_Command, ...], tuple[str, ...]]:
    """An ``if``'s or ``range``'s pipeline and the variables it declares."""
    declared = _declaration(text)
    names: tuple[str, ...] = ()
    if declared is not None:
        names, operator, text = declared
        if operator != ":=" or (len(names) > 1 and keyword != "range"):
            _fail(f"bad declaration in {keyword}: {text!r}")
    if not text:
        _fail(f"missing value for {keyword}")
    return _pipeline(text, known), names


def _open(stack: list[_Block], target: list[Any], block: _Block,
          known: frozenset[str]) -> None:
    """Add ``block`` where the parser is and enter it, within MAX_DEPTH."""
    if len(stack) >= MAX_DEPTH:
        _fail(f"nested too deeply: more than {MAX_DEPTH} levels of if and range")
    block.known = known | set(block.variables)
    target.append(block)
    stack.append(block)


def _nodes(template: str) -> list[Any]:
    """The parse tree: strings, pipelines (tuples of commands), _Assigns and _Blocks.
    A variable is known from its declaration to the end of its block (Go's scoping)."""
    root: list[Any] = []
    stack: list[_Block] = []
    #: The variables known where the parser is, one set per open block (and the root).
    scopes: list[set[str]] = [{"$"}]

    def target() -> list[Any]:
        if not stack:
            return root
        return stack[-1].orelse if stack[-1].in_else else stack[-1].body

    def known() -> frozenset[str]:
        return frozenset(scopes[-1])

    def enter(keyword: str, text: str, chained: bool = False) -> None:
        pipeline, names = _condition(keyword, text, known())
        _open(stack, target(), _Block(keyword, pipeline, chained, names), known())
        scopes.append(set(stack[-1].known))

    for kind, body in _actions(template):
        if kind == "text":
            if body:
                target().append(body)
            continue
        if body.startswith("/*"):
            if not body.endswith("*/"):
                _fail("unclosed comment")
            continue
        keyword, rest = _split(body)
        if keyword in _UNSUPPORTED:
            _fail(f"{{{{{keyword}}}}} is not supported")
        if keyword in ("if", "range"):
            enter(keyword, rest)
        elif keyword == "else":
            if not stack or stack[-1].in_else:
                _fail("unexpected {{else}}")
            stack[-1].in_else = True
            scopes[-1] = set(stack[-1].known)  # the body's own variables end with it
            word, condition = _split(rest)
            if word == "if":
                enter("if", condition, chained=True)
            elif rest:
                _fail(f"unexpected {rest!r} after else")
        elif keyword == "end":
            if rest:
                _fail(f"unexpected {rest!r} in end")
            if not stack:
                _fail("unexpected {{end}}")
            while True:
                scopes.pop()
                if not stack.pop().chained:
                    break
        elif (declared := _declaration(body)) is not None:
            names, operator, text = declared
            if len(names) > 1:
                _fail(f"too many declarations in {body!r}")
            if operator == "=" and names[0] not in scopes[-1]:
                _fail(f'undefined variable "{names[0]}"')
            if not text:
                _fail(f"missing value for {names[0]}")
            target().append(_Assign(names[0], operator == ":=", _pipeline(text, known())))
            scopes[-1].add(names[0])
        else:
            target().append(_pipeline(body, known()))
    if stack:
        _fail("unexpected EOF: missing {{end}}")
    return root


# -- rendering -------------------------------------------------------------------------


def _field(value: Any, path: str) -> Any:
    if path == ".":
        return value
    for name in path[1:].split("."):
        if isinstance(value, dict) and name in value:
            value = value[name]
        else:
            raise InvalidArgError(f"template: can't evaluate field {name} in {path}")
    return value


#: The variables of a render, innermost scope last.
_Env = list[dict[str, Any]]


def _lookup(env: _Env, name: str) -> dict[str, Any]:
    """The scope that holds variable ``name`` (the parser made sure one does)."""
    for scope in reversed(env):
        if name in scope:
            return scope
    return _fail(f'undefined variable "{name}"')


def _value(operand: _Operand, dot: Any, env: _Env) -> Any:
    if operand.kind == "pipe":
        pipeline, path = operand.value
        value = _run(pipeline, dot, env)
        return _field(value, path) if path else value
    if operand.kind == "var":
        name, path = operand.value
        value = _lookup(env, name)[name]
        return _field(value, path) if path else value
    return _field(dot, operand.value) if operand.kind == "field" else operand.value


def _run(pipeline: tuple[_Command, ...], dot: Any, env: _Env) -> Any:
    piped: list[Any] = []
    for command in pipeline:
        args = [_value(a, dot, env) for a in command.args]
        piped = [FUNCTIONS[command.function](*args, *piped) if command.function else args[0]]
    return piped[0]


def _truthy(value: Any) -> bool:
    return bool(value) and value != 0


def _render(nodes: list[Any], dot: Any, out: list[str], env: _Env) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, tuple):
            out.append(go_str(_run(node, dot, env)))
        elif isinstance(node, _Assign):
            value = _run(node.pipeline, dot, env)
            (env[-1] if node.declare else _lookup(env, node.name))[node.name] = value
        elif node.keyword == "if":
            value = _run(node.pipeline, dot, env)
            scope = dict(zip(node.variables, (value,), strict=False))
            branch = node.body if _truthy(value) else node.orelse
            _render(branch, dot, out, [*env, scope])
        else:
            _range(node, dot, out, env)


def _range(node: _Block, dot: Any, out: list[str], env: _Env) -> None:
    """A ``range``: its body for each element (``$i, $v``: the key or index and the
    element), or its else branch if there is none."""
    items = _run(node.pipeline, dot, env)
    pairs = list(items.items()) if isinstance(items, dict) else list(enumerate(items or ()))
    for key, item in pairs:
        values = (item,) if len(node.variables) == 1 else (key, item)
        _render(node.body, item, out, [*env, dict(zip(node.variables, values, strict=False))])
    if not pairs:
        _render(node.orelse, dot, out, [*env, {}])


class Template:
    """A parsed template: :meth:`render` it with each object."""

    def __init__(self, source: str):
        self.source = source
        #: ``json`` as the whole template: podman's shorthand for ``{{json .}}``, indented.
        self.whole_json = source.strip() == "json"
        self.nodes = [] if self.whole_json else _nodes(
            source.replace("\\n", "\n").replace("\\t", "\t"))

    def render(self, dot: Any) -> str:
        """The template's text for ``dot`` (a dict from inspect or ps) as ``.``."""
        if self.whole_json:
            return json.dumps(dot, indent=4)
        out: list[str] = []
        try:
            _render(self.nodes, dot, out, [{"$": dot}])
        except (TypeError, ValueError, OverflowError) as exc:
            # A function given the wrong arguments, printf's verbs not matching, range
            # over a number: the user's template, not a bug of pypod.
            raise InvalidArgError(f"template: {exc}") from None
        return "".join(out)


def parse(template: str) -> Template:
    """Parse ``template`` whole; InvalidArgError (one line) if it is malformed."""
    return Template(template)


def render(template: str, dot: Any) -> str:
    """Render ``template`` with ``dot`` as ``.`` (parse, then render)."""
    return parse(template).render(dot)
