"""``--change`` instructions (``commit``, ``import``): the subset of Dockerfile
instructions podman 4.3.1 applies to an image's config, with its rules.

``INSTRUCTION VALUE`` or ``INSTRUCTION=VALUE``; the instruction in any case:

- ``CMD``/``ENTRYPOINT``: a JSON array as it is, anything else through ``/bin/sh -c``
  (an empty ``ENTRYPOINT`` clears it; an empty ``CMD`` is ``/bin/sh -c``);
- ``ENV K=V`` (quotes around K or V dropped; no value is an empty one);
- ``EXPOSE PORT[/tcp|udp]``; ``LABEL K=V``; ``USER NAME``; ``VOLUME`` a JSON array or
  paths separated by spaces (added); ``WORKDIR`` (relative to the one before);
  ``STOPSIGNAL`` a name or number, stored as the number; ``ONBUILD`` (commit only).

Each mistake is an InvalidArgError with podman's words (``invalid change "X" - ...``).
"""

from __future__ import annotations

import json
import posixpath
import signal
from collections.abc import Sequence
from typing import Any

from pypod_core.errors import InvalidArgError

#: What ``import`` takes (podman's import refuses ONBUILD); ``commit`` takes ONBUILD too.
IMPORT_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL",
                       "USER", "VOLUME", "WORKDIR")
COMMIT_INSTRUCTIONS = (*IMPORT_INSTRUCTIONS, "ONBUILD")


def parse_changes(changes: Sequence[str],
                  allowed: Sequence[str] = COMMIT_INSTRUCTIONS) -> dict[str, Any]:
    """The config fields ``changes`` set (OCI names: ``Cmd``, ``Env`` as ``K=V``
    strings, ``ExposedPorts``, ``Labels``, ``Volumes``, ``OnBuild``...)."""
    result: dict[str, Any] = {}
    for change in changes:
        key, value = _split(change)
        if key not in allowed:
            raise InvalidArgError(f"invalid change {_q(change)} - invalid instruction {key}")
        _APPLY[key](result, value, change)
    return result


def apply_changes(config: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The image config section ``config`` with the parsed ``fields`` applied: Env by
    key (a new value replaces the old), ports, labels and volumes added, the rest
    replaced."""
    out = dict(config)
    for key, value in fields.items():
        if key == "Env":
            env = {e.partition("=")[0]: e for e in out.get("Env") or []}
            env.update({e.partition("=")[0]: e for e in value})
            out["Env"] = list(env.values())
        elif key in ("ExposedPorts", "Volumes", "Labels"):
            out[key] = {**(out.get(key) or {}), **value}
        elif key == "OnBuild":
            out[key] = [*(out.get(key) or []), *value]
        else:
            out[key] = value
    return out


def _q(text: str) -> str:
    """``text`` quoted as Go's ``%q`` quotes it (podman's messages)."""
    return json.dumps(text)


def _split(change: str) -> tuple[str, str]:
    parts = change.split(" ", 1)
    if len(parts) != 2:
        parts = change.split("=", 1)
        if len(parts) != 2:
            raise InvalidArgError(f"invalid change {_q(change)} - must be formatted as "
                                  f"KEY VALUE")
    return parts[0].strip().upper(), parts[1].strip()


def _json_list(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
        return parsed
    return None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return text


def _user(result: dict[str, Any], value: str, change: str) -> None:
    if not value:
        raise InvalidArgError(f"invalid change {_q(change)} - must provide a value to USER")
    result["User"] = value


def _expose(result: dict[str, Any], value: str, change: str) -> None:
    parts = value.split("/")
    if len(parts) > 2:
        raise InvalidArgError(f"invalid change {_q(change)} - EXPOSE port must be formatted "
                              f"as PORT[/PROTO]")
    try:
        port = int(parts[0])
    except ValueError:
        raise InvalidArgError(f"invalid change {_q(change)} - EXPOSE port must be an "
                              f"integer") from None
    if not 0 < port <= 65535:
        raise InvalidArgError(f"invalid change {_q(change)} - EXPOSE port must be a valid "
                              f"port number")
    proto = parts[1].lower() if len(parts) > 1 else "tcp"
    if proto not in ("tcp", "udp"):
        raise InvalidArgError(f"invalid change {_q(change)} - EXPOSE protocol must be TCP "
                              f"or UDP")
    result.setdefault("ExposedPorts", {})[f"{port}/{proto}"] = {}


def _env(result: dict[str, Any], value: str, change: str) -> None:
    key, _, val = value.partition("=")
    if not key:
        raise InvalidArgError(f"invalid change {_q(change)} - ENV must have at least one "
                              f"argument")
    result.setdefault("Env", []).append(f"{_unquote(key)}={_unquote(val)}")


def _entrypoint(result: dict[str, Any], value: str, change: str) -> None:
    parsed = _json_list(value)
    result["Entrypoint"] = parsed if parsed is not None else (
        ["/bin/sh", "-c", value] if value else [])


def _cmd(result: dict[str, Any], value: str, change: str) -> None:
    parsed = _json_list(value)
    result["Cmd"] = parsed if parsed is not None else (
        ["/bin/sh", "-c", *([value] if value else [])])


def _volume(result: dict[str, Any], value: str, change: str) -> None:
    paths = _json_list(value)
    if paths is None:
        paths = value.split(" ")
    if not paths:
        raise InvalidArgError(f"invalid change {_q(change)} - must provide at least one "
                              f"argument to VOLUME")
    for path in paths:
        if not path:
            raise InvalidArgError(f"invalid change {_q(change)} - VOLUME paths must not be "
                                  f"empty")
        result.setdefault("Volumes", {})[path] = {}


def _workdir(result: dict[str, Any], value: str, change: str) -> None:
    if not value:
        raise InvalidArgError(f"invalid change {_q(change)} - must provide a non-empty "
                              f"WORKDIR")
    result["WorkingDir"] = posixpath.join(result.get("WorkingDir", ""), value)


def _label(result: dict[str, Any], value: str, change: str) -> None:
    key, sep, val = value.partition("=")
    if not sep:
        raise InvalidArgError(f"invalid change {_q(change)} - LABEL must be formatted "
                              f"key=value")
    key = _unquote(key)
    if not key:
        raise InvalidArgError(f"invalid change {_q(change)} - LABEL must have a non-empty "
                              f"key")
    result.setdefault("Labels", {})[key] = _unquote(val)


def _stopsignal(result: dict[str, Any], value: str, change: str) -> None:
    text = value.removeprefix("-").upper()
    number: int | None = None
    if text.isdigit():
        number = int(text)
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        number = getattr(signal.Signals, name, None)
    if number is None or not 0 < int(number) < 65:
        raise InvalidArgError(f"invalid change {_q(change)} - KILLSIGNAL must be given a "
                              f"valid signal: invalid signal: {value}")
    result["StopSignal"] = str(int(number))


def _onbuild(result: dict[str, Any], value: str, change: str) -> None:
    if not value:
        raise InvalidArgError(f"invalid change {_q(change)} - ONBUILD must be given an "
                              f"argument")
    result.setdefault("OnBuild", []).append(value)


_APPLY = {"USER": _user, "EXPOSE": _expose, "ENV": _env, "ENTRYPOINT": _entrypoint,
          "CMD": _cmd, "VOLUME": _volume, "WORKDIR": _workdir, "LABEL": _label,
          "STOPSIGNAL": _stopsignal, "ONBUILD": _onbuild}
