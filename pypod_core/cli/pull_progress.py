"""``pypod pull``'s progress on stderr, as podman 4.3.1 prints it.

Not a terminal (a log, a pipe), one line per step, full digests::

    Trying to pull 127.0.0.1:5000/lib/busybox:latest...
    Getting image source signatures
    Copying blob sha256:9e412c8dfc6bf6067fd95f9aead53796602410aabb4484c8a2c7a57b69b715c6
    Copying config sha256:68ed31e489a75ba4a18e02c4b2aa7e560d01b4da4e35cf925da05396d9995413
    Writing manifest to image destination
    Storing signatures

(podman says nothing more for a blob the store has already, when not on a terminal).
On a terminal, a bar per blob while it arrives, redrawn in place, each ending as
``Copying blob 9e412c8dfc6b done`` or ``Copying blob 9e412c8dfc6b skipped: already
exists``, and ``Copying config 68ed31e489 done``.
"""

from __future__ import annotations

import shutil
import threading
import time
from typing import TextIO

from pypod_core.model import PullEvent, PullStep

#: The shortest time between two redraws of the bars (a final state is drawn at once).
REDRAW_INTERVAL = 0.1
_IEC = ("b", "KiB", "MiB", "GiB", "TiB")


def iec_size(size: float) -> str:
    """A byte count as podman's bars show it: ``409.0b``, ``1.0MiB``."""
    for unit in _IEC:
        if size < 1024 or unit == _IEC[-1]:
            return f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


class PullProgress:
    """A ``progress`` callable for ``pull_image``: prints podman's lines on ``stream``
    (bars when it is a terminal).  Safe to call from several threads at once (layers
    are fetched in parallel)."""

    def __init__(self, stream: TextIO, tty: bool | None = None, width: int | None = None):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.width = width
        self._lock = threading.Lock()
        #: The bar lines on screen, in order: digest -> text.
        self._bars: dict[str, str] = {}
        self._totals: dict[str, int] = {}
        self._drawn = 0  # how many bar lines are on screen
        self._last_draw = 0.0

    def __call__(self, event: PullEvent) -> None:
        with self._lock:
            if self.tty:
                self._terminal(event)
            else:
                self._plain(event)
            self.stream.flush()

    # -- lines -----------------------------------------------------------------------------

    def _plain(self, event: PullEvent) -> None:
        step = event.step
        if step is PullStep.TRYING:
            self._line(f"Trying to pull {event.reference}...")
        elif step is PullStep.SOURCE:
            self._line("Getting image source signatures")
        elif step is PullStep.BLOB:
            self._line(f"Copying blob {event.digest}")
        elif step is PullStep.CONFIG:
            self._line(f"Copying config {event.digest}")
        elif step is PullStep.MANIFEST:
            self._line("Writing manifest to image destination")
            self._line("Storing signatures")

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")

    # -- bars --------------------------------------------------------------------------------

    def _terminal(self, event: PullEvent) -> None:
        step = event.step
        short = _short(event.digest, 12)
        if step is PullStep.BLOB:
            self._totals[event.digest] = event.total
            text = (f"Copying blob {short} skipped: already exists" if event.skipped
                    else self._bar(f"Copying blob {short}", 0, event.total))
            self._bars[event.digest] = text
            self._draw(force=True)
        elif step is PullStep.BLOB_PROGRESS and event.digest in self._bars:
            total = event.total or self._totals.get(event.digest, 0)
            self._bars[event.digest] = self._bar(f"Copying blob {short}", event.done, total)
            self._draw()
        elif step is PullStep.BLOB_DONE and event.digest in self._bars:
            if not self._bars[event.digest].endswith("already exists"):
                self._bars[event.digest] = f"Copying blob {short} done"
            self._draw(force=True)
        elif step is PullStep.CONFIG:
            self._bars[event.digest] = f"Copying config {_short(event.digest, 10)} done"
            self._draw(force=True)
        elif step in (PullStep.MANIFEST, PullStep.TRYING, PullStep.SOURCE):
            self._bars.clear()  # what is on screen stays; new lines go below it
            self._drawn = 0
            self._plain(event)

    def _bar(self, label: str, done: int, total: int) -> str:
        """``LABEL [=====>-----] DONE / TOTAL`` fitted to the terminal's width (a counter
        alone when the size is not known)."""
        if total <= 0:
            return f"{label} {iec_size(done)}"
        counters = f"{iec_size(done)} / {iec_size(total)}"
        room = self._columns() - len(label) - len(counters) - 4
        if room < 10:
            return f"{label} {counters}"
        filled = min(room, room * done // total)
        body = "=" * filled + (">" if filled < room else "") + "-" * (room - filled - 1)
        return f"{label} [{body[:room]}] {counters}"

    def _columns(self) -> int:
        if self.width is not None:
            return self.width
        return shutil.get_terminal_size((80, 24)).columns

    def _draw(self, force: bool = False) -> None:
        """Redraw the bar lines in place (cursor up over the last drawing, then each line
        cleared and written), at most every REDRAW_INTERVAL unless ``force``."""
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_INTERVAL:
            return
        self._last_draw = now
        out = [f"\x1b[{self._drawn}A"] if self._drawn else []
        out += [f"\r\x1b[K{text}\n" for text in self._bars.values()]
        self.stream.write("".join(out))
        self._drawn = len(self._bars)


def _short(digest: str, length: int) -> str:
    return digest.partition(":")[2][:length] or digest[:length]
