"""``/run/.containerenv``: the file that tells a process it runs in a container.

As podman writes it: every container gets the file, which programs test for
(``systemd-detect-virt``, toolbox); empty, except in a ``--privileged`` container,
which has the host's view anyway and is told the engine, its own name and id, its image
and whether the engine runs rootless, as shell assignments a script can source.
"""

from __future__ import annotations

import os

from pypod_core.model import ContainerConfig

#: Where the file appears in the container.
DESTINATION = "/run/.containerenv"


def content(config: ContainerConfig, engine_version: str, rootless: bool) -> str:
    """The file's text: empty, or the privileged container's assignments."""
    if not config.privileged:
        return ""
    values = (("engine", f"pypod-{engine_version}"), ("name", config.name),
              ("id", config.id), ("image", config.image_name), ("imageid", config.image_id))
    lines = [f'{key}="{_quoted(value)}"' for key, value in values]
    return "\n".join([*lines, f"rootless={int(rootless)}"]) + "\n"


def _quoted(value: str) -> str:
    """``value`` inside a shell's double quotes."""
    return "".join("\\" + c if c in '"\\$`' else c for c in value)


def write(config: ContainerConfig, run_dir: str) -> tuple[str, str]:
    """Write the file in the container's run dir; the (host file, container path) pair
    to bind-mount."""
    from pypod_core.plugin.entrypoints import version  # lazy: only a container's init

    path = os.path.join(run_dir, "containerenv")
    with open(path, "w") as f:
        f.write(content(config, version("pypod") or "unknown", os.geteuid() != 0))
    return path, DESTINATION
