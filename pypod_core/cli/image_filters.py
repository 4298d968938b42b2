"""``images --filter KEY=VALUE`` (and ``KEY!=VALUE``), as podman 4.3.1 filters images.

Filters of one key are alternatives (``--filter reference=a --filter reference=b``
lists both); filters of different keys must all hold.  The keys:

- ``reference=PATTERN``: a name matches as a Go ``path.Match`` pattern (``*`` stops at
  ``/``) against the whole name, the name without its tag, and the last components of
  each (``one``, ``one:latest``, ``x/y``, ``localhost/one``);
- ``label=KEY`` or ``label=KEY=VALUE``; ``dangling=BOOL`` (no names);
  ``containers=BOOL`` (used by a container); ``id=ID`` (the whole id);
- ``before=IMAGE``, ``since=IMAGE`` (``after=``): built before or after that image;
  ``until=TIME`` (a Unix or RFC 3339 time, or a duration before now);
- ``readonly=BOOL`` and ``intermediate=BOOL``: pypod's store has no read-only images
  and no intermediate ones (images are never built here), so only ``false`` matches.

Anything else is refused by name, as podman refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pypod_core.engine.image_inspect import created_time
from pypod_core.errors import InvalidArgError, NoSuchImageError
from pypod_core.host.reference import parse_reference
from pypod_core.model import Image

Test = Callable[[Image], bool]
#: Go's strconv.ParseBool.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class FilterContext:
    """What the filters look at besides each image: the other images (``before=``),
    the images containers use (``containers=``), and the time now (``until=``)."""

    def __init__(self, lookup: Callable[[str], Image], used: Callable[[Image], bool],
                 now: float):
        self.lookup = lookup
        self.used = used
        self.now = now


def compile_filters(specs: Sequence[str], ctx: FilterContext) -> Test:
    """One test for ``--filter`` ``specs``; InvalidArgError naming a malformed or an
    unknown one (before any image is listed)."""
    groups: dict[str, list[Test]] = {}
    for spec in specs:
        key, value, negate = _split(spec)
        make = _FILTERS.get(key)
        if make is None:
            raise InvalidArgError(f'unsupported image filter "{key}"')
        test = make(value, ctx)
        groups.setdefault(key, []).append((lambda t: lambda i: not t(i))(test) if negate
                                          else test)
    alternatives = list(groups.values())
    return lambda image: all(any(t(image) for t in tests) for tests in alternatives)


def _split(spec: str) -> tuple[str, str, bool]:
    """``(key, value, negated)`` of ``key=value`` or ``key!=value`` (split at the first
    ``!=`` if there is one, as podman)."""
    if "!=" in spec:
        key, value = spec.split("!=", 1)
        return key, value, True
    if "=" not in spec:
        raise InvalidArgError(f'invalid image filter "{spec}": must be in the format '
                              f'"filter=value or filter!=value"')
    key, value = spec.split("=", 1)
    return key, value, False


def _bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgError(f'invalid image filter "{key}={value}": {value!r} is not a '
                          f"boolean (true or false)")


def _reference(value: str, ctx: FilterContext) -> Test:
    pattern = go_path_pattern(value)
    if pattern is None:  # a malformed pattern matches nothing, as podman's
        return lambda image: False
    return lambda image: any(pattern.fullmatch(c) for name in image.names
                             for c in reference_candidates(name))


def reference_candidates(name: str) -> list[str]:
    """What ``reference=`` patterns are matched against for the name ``name``: the
    name, without its registry, without its tag, and its last component each way."""
    ref = parse_reference(name)
    trimmed = ref.name
    suffix = name[len(trimmed):]  # ":tag" or "@digest" (or both)
    return [name, ref.repository, name.rsplit("/", 1)[-1], trimmed,
            ref.repository + suffix, trimmed.rsplit("/", 1)[-1]]


def go_path_pattern(pattern: str) -> re.Pattern[str] | None:
    """Go's ``path.Match`` pattern as a regular expression (``*`` and ``?`` do not
    match ``/``; ``[...]`` classes with ``^`` and ranges; ``\\`` escapes), or None for a
    malformed one."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 == len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = _class_end(pattern, i)
            if end is None:
                return None
            out.append(_class(pattern[i + 1:end]))
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out), re.S)
    except re.error:  # a range such as [z-a]
        return None


def _class_end(pattern: str, start: int) -> int | None:
    """The index of the ``]`` closing the class at ``start``, None if there is none or
    the class is empty."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] in "]-":  # Go: an empty class, a bad range
        return None
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return None


def _class(body: str) -> str:
    negate = body.startswith("^")
    chars, i = [], 1 if negate else 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            i += 1
        chars.append("\\" + body[i] if body[i] in "\\]^-[" else body[i])
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.append("-")
            i += 1
        i += 1
    return "[" + ("^" if negate else "") + "".join(chars) + "]"


def _label(value: str, ctx: FilterContext) -> Test:
    key, has_value, wanted = value.partition("=")

    def test(image: Image) -> bool:
        labels = image.run_config.get("Labels") or {}
        return key in labels and (not has_value or labels[key] == wanted)

    return test


def _created(value: str, ctx: FilterContext, after: bool, key: str) -> Test:
    try:
        reference = created_time(ctx.lookup(value))
    except NoSuchImageError as exc:
        raise InvalidArgError(f'could not find local image for filter "{key}"="{value}": '
                              f"{exc}") from None
    if after:
        return lambda image: created_time(image) > reference
    return lambda image: created_time(image) < reference


def _until(value: str, ctx: FilterContext) -> Test:
    from pypod_core.cli.options import parse_since  # lazy: only until= (~0.4 ms)

    limit = parse_since(value, ctx.now)
    return lambda image: created_time(image) < limit


def _never(key: str) -> Callable[[str, FilterContext], Test]:
    """A boolean filter of what pypod's images never are (read-only, intermediate)."""
    def make(value: str, ctx: FilterContext) -> Test:
        wanted = _bool(key, value)
        return lambda image: not wanted

    return make


def _dangling(value: str, ctx: FilterContext) -> Test:
    wanted = _bool("dangling", value)
    return lambda image: (not image.names) == wanted


def _containers(value: str, ctx: FilterContext) -> Test:
    wanted = _bool("containers", value)
    return lambda image: ctx.used(image) == wanted


def _id(value: str, ctx: FilterContext) -> Test:
    bare = value.removeprefix("sha256:")
    return lambda image: image.id == bare


_FILTERS: dict[str, Callable[[str, FilterContext], Test]] = {
    "after": lambda v, c: _created(v, c, True, "after"),
    "before": lambda v, c: _created(v, c, False, "before"),
    "containers": _containers,
    "dangling": _dangling,
    "id": _id,
    "intermediate": _never("intermediate"),
    "label": _label,
    "readonly": _never("readonly"),
    "reference": _reference,
    "since": lambda v, c: _created(v, c, True, "since"),
    "until": _until,
}
