"""The events log: what happened to containers, pods, images and volumes, as podman's
``file`` events backend keeps it.

The core's event hooks feed it (:mod:`pypod_core.engine.events_hooks`): each event is
one JSON line (podman's ``Event`` keys: ``ID``, ``Name``, ``Image``, ``Status``,
``Time``, ``Type``, ``Attributes``, ``PodID``, ``ContainerExitCode``) appended to
``events_logfile_path`` (default ``tmp_dir/events/events.log``, podman's place under
the run root).  ``events_logger = "none"`` writes nothing.  :func:`read_events` reads
them back, filtered, and can follow the file as ``podman events`` does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig

#: The event types podman's ``--filter type=`` knows.
EVENT_TYPES = ("container", "image", "machine", "network", "pod", "system", "volume")
#: ``--filter`` keys (podman's, case-insensitive).
FILTER_KEYS = ("container", "event", "image", "label", "pod", "type", "volume")
#: How often a follower looks for new lines (seconds).
FOLLOW_INTERVAL = 0.1


@attrs.frozen(kw_only=True)
class Event:
    """One event: its ``type`` (container, pod, image, volume), its ``status`` (create,
    start, died, remove, pull...), when (``time``, seconds since the epoch, with
    nanoseconds in ``time_ns``) and what it concerns."""

    type: str
    status: str
    time_ns: int
    id: str = ""
    name: str = ""
    image: str = ""
    pod_id: str = ""
    exit_code: int | None = None
    attributes: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def time(self) -> float:
        """The event's time, in seconds since the epoch."""
        return self.time_ns / 1e9

    def to_json(self) -> dict[str, Any]:
        """podman's JSON of an event (its file line and ``--format json``)."""
        doc: dict[str, Any] = {}
        if self.exit_code is not None:
            doc["ContainerExitCode"] = self.exit_code
        for key, value in (("ID", self.id), ("Image", self.image), ("Name", self.name)):
            if value:
                doc[key] = value
        doc.update(Status=self.status, Time=rfc3339_nano(self.time_ns), Type=self.type)
        if self.pod_id:
            doc["PodID"] = self.pod_id
        if self.attributes:
            doc["Attributes"] = dict(self.attributes)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Event:
        """An event from its JSON (a line of the log)."""
        return cls(type=doc.get("Type", ""), status=doc.get("Status", ""),
                   time_ns=parse_rfc3339_ns(doc.get("Time", "")), id=doc.get("ID", ""),
                   name=doc.get("Name", ""), image=doc.get("Image", ""),
                   pod_id=doc.get("PodID", ""), exit_code=doc.get("ContainerExitCode"),
                   attributes=dict(doc.get("Attributes") or {}))

    def human(self, truncate: bool = False) -> str:
        """podman's line for the event (``podman events`` without ``--format``)."""
        when = go_time(self.time_ns)
        ident = self.id[:12] if truncate else self.id
        if self.type in ("container", "pod"):
            extra = [f"image={self.image}", f"name={self.name}"]
            if self.pod_id:
                extra.append(f"pod_id={self.pod_id}")
            extra += [f"{k}={v}" for k, v in self.attributes.items()]
            return f"{when} {self.type} {self.status} {ident} ({', '.join(extra)})"
        if self.type == "image":
            return f"{when} {self.type} {self.status} {ident} {self.name}"
        if self.type == "system" and not self.name:
            return f"{when} {self.type} {self.status}"
        return f"{when} {self.type} {self.status} {self.name}"

    def template_view(self) -> dict[str, Any]:
        """The fields a ``--format`` template sees (podman's names; ``.Time`` as Go
        prints a time)."""
        return {**self.to_json(), "ID": self.id, "Name": self.name, "Image": self.image,
                "PodID": self.pod_id, "Attributes": dict(self.attributes),
                "Time": go_time(self.time_ns), "TimeNano": self.time_ns}


# -- times as Go writes them -----------------------------------------------------------


def _fraction(ns: int) -> str:
    """Go's ``.999999999``: the nanoseconds without trailing zeros, none for zero."""
    digits = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f".{digits}" if digits else ""


def rfc3339_nano(ns: int) -> str:
    """``2006-01-02T15:04:05.999999999Z07:00`` in local time (Go's RFC3339Nano)."""
    import datetime  # lazy: every runtime loads this module (its hooks), ~1 ms
    moment = datetime.datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    offset = moment.strftime("%z")
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(ns) + zone


def go_time(ns: int) -> str:
    """``2006-01-02 15:04:05.999999999 -0700 MST`` in local time (Go's Time.String)."""
    import datetime  # lazy: see rfc3339_nano
    moment = datetime.datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    return (moment.strftime("%Y-%m-%d %H:%M:%S") + _fraction(ns)
            + moment.strftime(" %z %Z"))


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine decimals."""
    import datetime  # lazy: see rfc3339_nano

    if not text:
        return 0
    head, dot, rest = text.partition(".")
    digits = ""
    if dot:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        digits, zone = rest[:i], rest[i:]
        head += zone
    moment = datetime.datetime.fromisoformat(head.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + int((digits + "000000000")[:9])


# -- writing ---------------------------------------------------------------------------


def log_path(config: RuntimeConfig) -> str:
    """Where the runtime's events go: ``events_logfile_path``, or podman's default
    under the temporary directory (on the run root's tmpfs)."""
    return config.events_logfile_path or os.path.join(config.tmp_dir, "events", "events.log")


def write_event(config: RuntimeConfig, event: Event) -> None:
    """Append ``event`` to the log (one write of one line: appends of several processes
    do not interleave); nothing with ``events_logger = "none"``."""
    if config.events_logger != "file":
        return
    import json  # lazy: see rfc3339_nano

    path = log_path(config)
    line = (json.dumps(event.to_json(), separators=(",", ":")) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        from pypod_core.host.private import private_dir  # lazy: only the first event

        private_dir(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def now_ns() -> int:
    """The time of an event happening now."""
    return time.time_ns()


def container_event(ctr_config: Any, status: str, exit_code: int | None = None) -> Event:
    """An event of the container whose config is ``ctr_config``, happening now, with the
    fields podman gives one (its labels as attributes)."""
    c = ctr_config
    return Event(type="container", status=status, time_ns=now_ns(), id=c.id, name=c.name,
                 image=c.image_name or c.rootfs, pod_id=c.pod, exit_code=exit_code,
                 attributes=dict(c.labels))


def image_event(image_id: str, status: str, name: str = "") -> Event:
    """An event of the image ``image_id``, happening now."""
    return Event(type="image", status=status, time_ns=now_ns(), id=image_id, name=name)


# -- reading ---------------------------------------------------------------------------


Matcher = Callable[[Event], bool]


def parse_filters(items: Sequence[str]) -> Matcher:
    """``--filter KEY=VALUE`` as podman's: values of one key are alternatives, keys
    must all match; an unknown key or type is an InvalidArgError."""
    wanted: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.lower()
        if not eq or key not in FILTER_KEYS:
            raise InvalidArgError(f"{item} is an invalid filter")
        if key == "type" and value not in EVENT_TYPES:
            raise InvalidArgError(f"unknown event type {value!r}: one of "
                                  f"{', '.join(EVENT_TYPES)}")
        wanted.setdefault(key, []).append(value)

    def matches(event: Event) -> bool:
        return all(any(_match(key, value, event) for value in values)
                   for key, values in wanted.items())

    return matches


def _match(key: str, value: str, event: Event) -> bool:
    if key == "type":
        return event.type == value
    if key == "event":
        return event.status == value
    if key == "label":
        name, eq, label_value = value.partition("=")
        return name in event.attributes and (not eq or event.attributes[name] == label_value)
    if key == "image":
        return event.type in ("container", "image") and value in (event.image, event.name,
                                                                  event.id)
    if key == "pod":
        return (event.type == "pod" and _names(value, event)) or event.pod_id.startswith(value)
    kind = {"container": "container", "volume": "volume"}[key]
    return event.type == kind and _names(value, event)


def _names(value: str, event: Event) -> bool:
    return bool(value) and (event.name == value or event.id.startswith(value))


def read_events(config: RuntimeConfig, *, since: float | None = None,
                until: float | None = None, stream: bool = True,
                matches: Matcher = lambda e: True) -> Iterator[Event]:
    """The events of the log, oldest first.  As podman's: with ``since`` or ``until``,
    or without ``stream``, from the start of the log, else only those that come from now
    on; with ``stream``, follow the log (until ``until``, or forever)."""
    path = log_path(config)
    from_start = since is not None or until is not None or not stream
    with _open_log(path, stream) as log:
        if log is not None and not from_start:
            log.seek(0, os.SEEK_END)
        for event in _lines(log, path, stream, until):
            if since is not None and event.time < since:
                continue
            if until is not None and event.time > until:
                if stream:
                    continue
                break
            if matches(event):
                yield event


class _open_log:
    """The log opened for reading (None where there is none yet and we do not wait)."""

    def __init__(self, path: str, stream: bool):
        self.path, self.stream = path, stream
        self.file: Any = None

    def __enter__(self) -> Any:
        try:
            self.file = open(self.path, "rb")  # noqa: SIM115 - closed by __exit__
        except FileNotFoundError:
            self.file = None
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def _lines(log: Any, path: str, stream: bool, until: float | None) -> Iterator[Event]:
    """The events of ``log`` (whole lines only), then, with ``stream``, those appended
    to the file at ``path`` until ``until``."""
    import json  # lazy: see rfc3339_nano

    pending = b""
    while True:
        chunk = log.read() if log is not None else b""
        if chunk:
            pending += chunk
            *whole, pending = pending.split(b"\n")
            for line in whole:
                if line.strip():
                    yield Event.from_json(json.loads(line))
            continue
        if not stream or (until is not None and time.time() > until):
            return
        time.sleep(FOLLOW_INTERVAL)
        if log is None and os.path.exists(path):
            log = open(path, "rb")  # noqa: SIM115 - the log appeared: follow it
