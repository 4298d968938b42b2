"""pypod's conformance kit: pytest classes a backend's own test suite subclasses.

A backend author subclasses the class of the backend's family and provides one fixture;
every test of the class then runs against the backend.  The bundled backends are tested
this way, so a third-party backend that passes behaves as the bundled ones do::

    import pytest
    from pypod_core.testing import StateBackendTests
    from my_state.store import RedisState

    class TestRedisState(StateBackendTests):
        @pytest.fixture
        def make_state(self):
            return lambda directory: RedisState.at(directory)

The classes carry no ``Test`` prefix, so pytest collects them only through a subclass.
See ``docs/state.md`` for the state kit.
"""

from __future__ import annotations

import pkgutil

import pytest

# The kits' asserts live outside test modules: have pytest rewrite them anyway, so a
# failing check shows the values it compared.  (Each module by name: this package is
# already imported by the time this line runs.)
pytest.register_assert_rewrite(
    *(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)))

from pypod_core.testing.firewall import FirewallBackendTests  # noqa: E402
from pypod_core.testing.graph_driver import GraphDriverTests  # noqa: E402
from pypod_core.testing.image_transport import ImageTransportTests  # noqa: E402
from pypod_core.testing.network import NetworkBackendTests  # noqa: E402
from pypod_core.testing.oci import OCIRuntimeTests  # noqa: E402
from pypod_core.testing.secret_driver import SecretDriverTests  # noqa: E402
from pypod_core.testing.state import StateBackendTests  # noqa: E402
from pypod_core.testing.volume_driver import VolumeDriverTests  # noqa: E402

__all__ = ["FirewallBackendTests", "GraphDriverTests", "ImageTransportTests",
           "NetworkBackendTests", "OCIRuntimeTests", "SecretDriverTests", "StateBackendTests",
           "VolumeDriverTests"]
