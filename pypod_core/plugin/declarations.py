"""The declaration types: what a plugin returns from a ``pypod_*_backends`` hook.

Each declaration names a backend and gives a ``factory(runtime)`` that builds it.  The
factory imports the backend's implementation, so that merely discovering plugins stays
cheap.  The plugin manager stamps each declaration with the plugin and distribution that
provided it (``plugin``, ``distribution``, ``version``).

Each declaration also says which version of this contract it was written for
(``contract``, :data:`CONTRACT_VERSION` unless the plugin says otherwise): a backend
written for another major version is refused with an error naming it, rather than
failing later in a call whose shape changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from pypod_core.plugin.firewall import Firewall
    from pypod_core.plugin.graph_driver import GraphDriver
    from pypod_core.plugin.image_transport import ImageTransport
    from pypod_core.plugin.network import Network
    from pypod_core.plugin.oci import OCIRuntime
    from pypod_core.plugin.secret import SecretDriver
    from pypod_core.plugin.state import State
    from pypod_core.plugin.views import RuntimeView as Runtime
    from pypod_core.plugin.volume import VolumeDriver


#: The version of the plugin contract (hook specs, declarations, interfaces) this core
#: implements.  A change that breaks existing backends raises the major number.
CONTRACT_VERSION = "1.7"


def contract_major(version: str) -> str:
    """The major number of a contract version ("1.1" -> "1")."""
    return version.partition(".")[0]


def contract_at_least(version: str, wanted: str) -> bool:
    """Whether a backend written for contract ``version`` knows what ``wanted`` added
    ("1.10" is after "1.9"); a version that is not numbers knows nothing new."""
    try:
        return tuple(int(p) for p in version.split(".")) >= \
            tuple(int(p) for p in wanted.split("."))
    except ValueError:
        return False


@attrs.frozen(kw_only=True)
class _Declaration:
    """Fields shared by every declaration type."""

    name: str
    factory: Callable[[Runtime], Any]
    description: str = ""
    #: The contract version the backend was written for.
    contract: str = CONTRACT_VERSION
    # Filled in by the plugin manager; a plugin leaves these alone.
    plugin: str = ""
    distribution: str = ""
    version: str = ""

    def stamped(self, plugin: str, distribution: str, version: str) -> _Declaration:
        """Return a copy that records which plugin and distribution provided it."""
        return attrs.evolve(self, plugin=plugin, distribution=distribution, version=version)


@attrs.frozen(kw_only=True)
class StateBackend(_Declaration):
    """A state store: ``factory(runtime)`` returns a :class:`pypod_core.plugin.state.State`."""

    factory: Callable[[Runtime], State]


@attrs.frozen(kw_only=True)
class OCIRuntimeBackend(_Declaration):
    """An OCI runtime: ``factory(runtime)`` returns a :class:`pypod_core.plugin.oci.OCIRuntime`.

    ``binary`` is the executable the default ``find_runtime_path`` stage looks for in
    the usual directories when ``runtime_path`` is not set (default: the backend's own
    name), so a backend named ``runc-logged`` can run ``runc``."""

    factory: Callable[[Runtime], OCIRuntime]
    binary: str = ""


@attrs.frozen(kw_only=True)
class NetworkBackend(_Declaration):
    """A network backend: ``factory(runtime)`` returns a
    :class:`pypod_core.plugin.network.Network`."""

    factory: Callable[[Runtime], Network]


@attrs.frozen(kw_only=True)
class FirewallBackend(_Declaration):
    """A firewall: ``factory(runtime)`` returns a :class:`pypod_core.plugin.firewall.Firewall`."""

    factory: Callable[[Runtime], Firewall]


@attrs.frozen(kw_only=True)
class GraphDriverBackend(_Declaration):
    """A graph driver: ``factory(runtime)`` returns a
    :class:`pypod_core.plugin.graph_driver.GraphDriver` keeping its files under
    ``runtime.config.graph_root``/``name``."""

    factory: Callable[[Runtime], GraphDriver]


@attrs.frozen(kw_only=True)
class ImageTransportBackend(_Declaration):
    """An image transport: ``factory(runtime)`` returns a
    :class:`pypod_core.plugin.image_transport.ImageTransport`.  No config key selects
    one: a reference's prefix does (``docker://``, ``oci:``; none is ``docker``)."""

    factory: Callable[[Runtime], ImageTransport]


@attrs.frozen(kw_only=True)
class VolumeDriverBackend(_Declaration):
    """A volume driver: ``factory(runtime)`` returns a
    :class:`pypod_core.plugin.volume.VolumeDriver`.  ``volume create -d NAME`` picks one
    per volume; config ``volume_driver`` names the default (``local``)."""

    factory: Callable[[Runtime], VolumeDriver]


@attrs.frozen(kw_only=True)
class SecretDriverBackend(_Declaration):
    """A secret driver: ``factory(runtime)`` returns a
    :class:`pypod_core.plugin.secret.SecretDriver`.  ``secret create --driver NAME``
    picks one per secret; config ``secret_driver`` names the default (``file``)."""

    factory: Callable[[Runtime], SecretDriver]


#: The declaration families: config key that selects one ("" when a reference's
#: prefix does, as for image transports), hook that declares them.
BACKEND_FAMILIES: dict[str, tuple[str, str]] = {
    "state": ("state_type", "pypod_state_backends"),
    "oci_runtime": ("runtime", "pypod_oci_runtimes"),
    "network": ("network_backend", "pypod_network_backends"),
    "firewall": ("firewall_backend", "pypod_firewall_backends"),
    "graph_driver": ("graph_driver", "pypod_graph_drivers"),
    "image_transport": ("", "pypod_image_transports"),
    "volume_driver": ("volume_driver", "pypod_volume_drivers"),
    "secret_driver": ("secret_driver", "pypod_secret_drivers"),
}
