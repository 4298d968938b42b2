"""The pod records (:mod:`pypod_core.model`'s, imported from there on first use): a
pod's configuration, its state, and the record the state store keeps of both."""

from __future__ import annotations

import time

import attrs

# The field types are read from this module's names (pypod_core.serialize).
from pypod_core.model import PortMapping


@attrs.frozen(kw_only=True)
class PodConfig:
    """A pod's immutable configuration."""

    id: str
    name: str
    labels: dict[str, str] = attrs.field(factory=dict)
    #: Namespace kinds shared by the pod's containers through the infra container.
    share: tuple[str, ...] = ("net", "ipc", "uts")
    infra: bool = True
    port_mappings: tuple[PortMapping, ...] = ()
    namespace: str = ""
    created: float = attrs.field(factory=time.time)
    #: What happens when the last of its containers (but the infra one) exits, as
    #: podman's ``--exit-policy``: "continue" (the infra container runs on) or "stop".
    exit_policy: str = "continue"


@attrs.define(kw_only=True)
class PodState:
    """A pod's mutable state."""

    infra_container_id: str = ""

    def reset_after_reboot(self) -> None:
        """Apply the reboot refresh to a pod: nothing of its state is per-boot yet (the
        infra container's id survives), but every backend calls this, so that a field
        added later is reset in one place."""


@attrs.frozen
class PodRecord:
    """What the state store keeps of one pod: its config and its state."""

    config: PodConfig
    state: PodState
