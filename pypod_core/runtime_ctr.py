"""Container operations of the Runtime (libpod's ``runtime_ctr.go``).

Placeholder until the container lifecycle lands: the runtime can be built and
refreshed, and has no containers to act on.
"""

from __future__ import annotations


class ContainerOps:
    """The container half of :class:`pypod_core.runtime.Runtime` (a mixin)."""

    def stop_all_containers(self) -> None:
        """Stop every running container (``shutdown(force=True)``)."""

    def refresh_containers(self) -> None:
        """After a reboot, reset what the state refresh cannot (locks, networks)."""
