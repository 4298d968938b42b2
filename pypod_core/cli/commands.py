"""The one table of pypod's commands: each word, the module whose ``register`` adds its
parser, and its summary (the ``--help`` line).

A command line builds only the parsers of its own command (building all of them would
cost every ``pypod`` process ~8 ms): :mod:`pypod_core.cli.main` looks the command word up
here and imports only its module, as pip's ``commands_dict`` does.
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    """A command word: the modules (under ``pypod_core.cli``) that add its parser or its
    sub-commands, its summary, and whether it is a group (``pypod pod ...``)."""

    modules: tuple[str, ...]
    summary: str
    group: bool = False


_SYSTEM, _CONTAINERS = ("system",), ("containers",)

#: Every top-level word, in ``--help`` order.
COMMANDS: dict[str, Command] = {
    "info": Command(_SYSTEM, "show host, store, registries and plugins"),
    "plugins": Command(_SYSTEM, "list plugins and the backends they declare"),
    "config": Command(_SYSTEM, "show the effective configuration"),
    "system": Command(("system", "state_admin"), "manage pypod itself", group=True),
    "create": Command(_CONTAINERS, "create a container"),
    "run": Command(_CONTAINERS, "run a command in a new container"),
    "start": Command(_CONTAINERS, "start containers"),
    "stop": Command(_CONTAINERS, "stop containers"),
    "kill": Command(_CONTAINERS, "send a signal to containers"),
    "rm": Command(_CONTAINERS, "remove containers"),
    "pause": Command(_CONTAINERS, "pause containers"),
    "unpause": Command(_CONTAINERS, "unpause containers"),
    "wait": Command(_CONTAINERS, "wait for containers to exit"),
    "restart": Command(_CONTAINERS, "restart containers"),
    "ps": Command(_CONTAINERS, "list containers"),
    "inspect": Command(_CONTAINERS, "show containers' configuration and state"),
    "logs": Command(_CONTAINERS, "show a container's output"),
    "exec": Command(_CONTAINERS, "run a command in a running container"),
    "container": Command(_CONTAINERS, "manage containers", group=True),
    "network": Command(("networks",), "manage networks", group=True),
    "pod": Command(("pods",), "manage pods", group=True),
}

#: What ``pypod container`` has besides every top-level container command.
CONTAINER_ONLY: dict[str, Command] = {
    "ls": Command(_CONTAINERS, "list containers (ps)"),
    "cleanup": Command(_CONTAINERS, "clean up after a container exited (exit command)"),
}


def modules_for(word: str | None) -> list[str]:
    """The modules a command line naming ``word`` needs: its own, or every one for no
    command or an unknown one (whose error lists every command)."""
    if word in COMMANDS:
        return list(COMMANDS[word].modules)
    return list(dict.fromkeys(m for command in COMMANDS.values() for m in command.modules))


def container_verbs() -> list[str]:
    """The container commands, at the top level and under ``pypod container``."""
    return [w for w, c in COMMANDS.items() if c.modules == _CONTAINERS and not c.group]


def summary(word: str) -> str:
    """A command's ``--help`` line (a container command's, also under ``container``)."""
    return (COMMANDS.get(word) or CONTAINER_ONLY[word]).summary
