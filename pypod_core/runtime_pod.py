"""Pod operations of the Runtime (libpod's ``runtime_pod.go``).

Placeholder until pods land.
"""

from __future__ import annotations


class PodOps:
    """The pod half of :class:`pypod_core.runtime.Runtime` (a mixin)."""

    def refresh_pods(self) -> None:
        """After a reboot, refresh every pod (libpod's ``pod.refresh``)."""
