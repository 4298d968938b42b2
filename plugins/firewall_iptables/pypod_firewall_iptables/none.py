"""The ``none`` firewall: writes no rules (rootless pypod, or a host whose firewall is
managed by something else)."""

from __future__ import annotations

from typing import Any

from pypod_core.firewall import Firewall


class NoFirewall(Firewall):
    """A firewall that does nothing, successfully."""

    name = "none"

    def add(self, result: dict[str, Any]) -> None:
        """Write nothing."""

    def delete(self, result: dict[str, Any]) -> None:
        """Delete nothing."""

    def rules(self, result: dict[str, Any]) -> list[str]:
        """There are never any rules."""
        return []
