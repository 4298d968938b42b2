"""What each half of the Runtime (:class:`~pypod_core.engine.runtime_ctr.ContainerOps`,
:class:`~pypod_core.engine.runtime_pod.PodOps`) uses of the whole, typed.

The halves are mixins of :class:`pypod_core.engine.runtime.Runtime`, as libpod splits its
Runtime over runtime_ctr.go and runtime_pod.go; this base says, for the type checker,
what the Runtime provides them, and gives each a typed view of the Runtime it is part of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig
    from pypod_core.engine.runtime import Runtime
    from pypod_core.host.locks import LockTable
    from pypod_core.plugin.manager import PluginManager
    from pypod_core.plugin.state import State


class RuntimeHalf:
    """The part of the Runtime both halves use (the Runtime overrides each method)."""

    config: RuntimeConfig
    state: State
    plugins: PluginManager
    lock_dir: str

    @property
    def locks(self) -> LockTable:
        """Provided by Runtime: this process's locks on objects."""
        raise NotImplementedError

    def check_valid(self) -> None:
        """Provided by Runtime: raise unless the runtime is usable."""
        raise NotImplementedError

    def generate_name(self) -> str:
        """Provided by Runtime: a free container or pod name."""
        raise NotImplementedError

    @property
    def _runtime(self) -> Runtime:
        """This half as the Runtime it is a part of: what it calls of the other half
        (and passes to a Container or Pod) is typed, where a mixin cannot say so."""
        return cast("Runtime", self)
