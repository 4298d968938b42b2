"""Declares the ``iptables`` and ``none`` firewall backends."""

from __future__ import annotations

from pypod_core.plugin import FirewallBackend, hookimpl


def _make_iptables(runtime):
    # lazy: only when the backend is built
    from pypod_firewall_iptables.iptables import IptablesFirewall

    return IptablesFirewall.for_runtime(runtime)


def _make_none(runtime):
    from pypod_firewall_iptables.none import NoFirewall  # lazy: only when the backend is built

    return NoFirewall()


@hookimpl
def pypod_firewall_backends():
    """``iptables`` (the seed's rules) and ``none`` (rootless, or no firewall wanted)."""
    yield FirewallBackend(
        name="iptables", factory=_make_iptables, description="iptables rules per container IP"
    )
    yield FirewallBackend(name="none", factory=_make_none, description="writes no rules")
