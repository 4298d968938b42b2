"""The backend's own settings: the ``[plugins.state_sqlite]`` table of ``pypod.conf``.

::

    [plugins.state_sqlite]
    busy_timeout_ms = 100000   # how long to wait for another process's write
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from pypod_core.errors import ConfigError

#: The name of the settings table: the plugin's entry-point name.
PLUGIN: Final = "state_sqlite"
#: podman's busy timeout: long, because a writer waiting is better than a failed command.
DEFAULT_BUSY_TIMEOUT_MS: Final = 100_000


@attrs.frozen
class Settings:
    """The backend's settings, validated."""

    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS


def parse_settings(table: Mapping[str, Any], source: str = "") -> Settings:
    """Settings from the plugin's config table; ConfigError naming the file and the key
    for an unknown key or a bad value."""
    where = f"{source or 'options'}: [plugins.{PLUGIN}]"
    unknown = sorted(set(table) - {a.name for a in attrs.fields(Settings)})
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(repr(k) for k in unknown)}")
    timeout = table.get("busy_timeout_ms", DEFAULT_BUSY_TIMEOUT_MS)
    # bool is an int in Python; true is not a number of milliseconds.
    if type(timeout) is not int or timeout < 0:
        raise ConfigError(
            f"{where}: key 'busy_timeout_ms': expected a non-negative integer "
            f"(milliseconds), got {type(timeout).__name__} {timeout!r}"
        )
    return Settings(busy_timeout_ms=timeout)
