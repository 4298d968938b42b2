"""The ``none`` firewall: writes no rules (rootless pypod, or a host whose firewall is
managed by something else)."""

from __future__ import annotations

from typing import Any

from pypod_core.plugin.firewall import Firewall


class NoFirewall(Firewall):
    """A firewall that does nothing, successfully."""

    name = "none"

    def add(self, result: dict[str, Any]) -> None:
        """Write nothing."""

    def delete(self, result: dict[str, Any]) -> None:
        """Delete nothing."""

    def masquerade(self, subnets: list[str]) -> None:
        """Masquerade nothing."""

    def unmasquerade(self, subnets: list[str]) -> None:
        """Nothing to remove."""

    def masqueraded(self) -> list[str]:
        """Never any subnet."""
        return []

    def rules(self, result: dict[str, Any]) -> list[str]:
        """There are never any rules."""
        return []
