"""The plugin contract: everything a backend or stage author imports, and nothing else.

Import from here (``from pypod_core.plugin import hookimpl, StateBackend, State``) and
from the vocabulary beside it (:mod:`pypod_core.errors`, :mod:`pypod_core.model`,
:mod:`pypod_core.serialize`, :mod:`pypod_core.config`) and the host helpers
(:mod:`pypod_core.host`).  The engine (:mod:`pypod_core.engine`) and the command line
(:mod:`pypod_core.cli`) are internal: a plugin that imports them breaks when they change.

The hook specs and declarations are imported at once (a plugin module needs them to be
discovered); the interfaces on first use, so that discovering plugins stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pypod_core.plugin.declarations import (
    BACKEND_FAMILIES,
    CONTRACT_VERSION,
    FirewallBackend,
    GraphDriverBackend,
    ImageTransportBackend,
    NetworkBackend,
    OCIRuntimeBackend,
    SecretDriverBackend,
    StateBackend,
    VolumeDriverBackend,
)
from pypod_core.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from pypod_core.plugin.firewall import Firewall, container_ips
    from pypod_core.plugin.graph_driver import GraphDriver, LayerInfo, chain_id
    from pypod_core.plugin.image_transport import (
        BlobDescriptor,
        ImageDestination,
        ImageSource,
        ImageTransport,
        Manifest,
        Platform,
        PullOptions,
        PushOptions,
        VerifiedReader,
        decompress,
        split_transport,
    )
    from pypod_core.plugin.network import Network, NetworkInfo, NetworkRequest, result_addresses
    from pypod_core.plugin.oci import Attachment, ExecAttachment, ExecSpec, OCIRuntime
    from pypod_core.plugin.secret import MAX_SECRET_SIZE, SecretDriver
    from pypod_core.plugin.state import DBConfig, State, check_db_config
    from pypod_core.plugin.storage import Storage
    from pypod_core.plugin.views import ContainerView, PodView, RuntimeView
    from pypod_core.plugin.volume import VolumeDriver, VolumeInfo, check_volume_name

#: Each lazily imported name and the contract module that holds it.
_LAZY = {
    "Firewall": "firewall", "container_ips": "firewall",
    "GraphDriver": "graph_driver", "LayerInfo": "graph_driver", "chain_id": "graph_driver",
    "BlobDescriptor": "image_transport", "ImageDestination": "image_transport",
    "ImageSource": "image_transport", "PushOptions": "image_transport",
    "ImageTransport": "image_transport", "Manifest": "image_transport",
    "Platform": "image_transport", "PullOptions": "image_transport",
    "VerifiedReader": "image_transport", "decompress": "image_transport",
    "split_transport": "image_transport",
    "Network": "network", "NetworkInfo": "network", "NetworkRequest": "network",
    "result_addresses": "network",
    "Attachment": "oci", "ExecAttachment": "oci", "ExecSpec": "oci", "OCIRuntime": "oci",
    "DBConfig": "state", "State": "state", "check_db_config": "state",
    "Storage": "storage",
    "MAX_SECRET_SIZE": "secret", "SecretDriver": "secret",
    "ContainerView": "views", "PodView": "views", "RuntimeView": "views",
    "VolumeDriver": "volume", "VolumeInfo": "volume", "check_volume_name": "volume",
}

__all__ = [
    "BACKEND_FAMILIES",
    "CONTRACT_VERSION",
    "Attachment",
    "BlobDescriptor",
    "ContainerView",
    "DBConfig",
    "ExecAttachment",
    "ExecSpec",
    "Firewall",
    "FirewallBackend",
    "GraphDriver",
    "GraphDriverBackend",
    "LayerInfo",
    "ImageDestination",
    "ImageSource",
    "ImageTransport",
    "ImageTransportBackend",
    "Manifest",
    "Network",
    "NetworkBackend",
    "NetworkInfo",
    "NetworkRequest",
    "OCIRuntime",
    "OCIRuntimeBackend",
    "Platform",
    "PodView",
    "PullOptions",
    "PushOptions",
    "RuntimeView",
    "MAX_SECRET_SIZE",
    "SecretDriver",
    "SecretDriverBackend",
    "State",
    "StateBackend",
    "Storage",
    "chain_id",
    "VerifiedReader",
    "VolumeDriver",
    "VolumeDriverBackend",
    "VolumeInfo",
    "check_db_config",
    "check_volume_name",
    "container_ips",
    "decompress",
    "hookimpl",
    "result_addresses",
    "split_transport",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"pypod_core.plugin.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'pypod_core.plugin' has no attribute {name!r}")
