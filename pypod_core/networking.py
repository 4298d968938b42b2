"""A container's networking, as the lifecycle sees it (libpod's ``networking_linux.go``).

The container lifecycle calls :func:`setup_network` before a container starts and
:func:`teardown_network` when it stops, exits, is removed, or at the reboot refresh.
Network modes: ``none`` (the OCI runtime makes a namespace with loopback only),
``host`` (no namespace of its own), ``bridge`` (the runtime's network backend, in a
namespace pypod makes).

Placeholder until the networking issue lands: ``none`` and ``host`` need nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pypod_core.container import Container
    from pypod_core.runtime import Runtime


def setup_network(runtime: Runtime, ctr: Container) -> None:
    """Make the container's network namespace and networks; record them in ``ctr.state``
    (``netns_path``, ``network_status``).  On failure, undo what was done and raise."""


def teardown_network(runtime: Runtime, ctr: Container) -> None:
    """Undo :func:`setup_network` (firewall, then CNI DEL, then the namespace); tolerate
    parts already gone; clear ``ctr.state``'s network fields."""


def network_settings(ctr: Container) -> dict[str, Any]:
    """The ``NetworkSettings`` of ``pypod inspect``, with podman's keys."""
    return {"IPAddress": "", "Networks": {}, "Ports": {}}
