"""The one table of pypod's commands: each word, the module whose ``register`` adds its
parser, and its summary (the ``--help`` line); and, for each group (``pypod pod ...``),
its sub-commands the same way.

A command line builds only the parsers of its own command (building all of them would
cost every ``pypod`` process ~8 ms): :mod:`pypod_core.cli.main` looks the command word up
here and imports only its module, as pip's ``commands_dict`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class Command(NamedTuple):
    """A command word: the modules (under ``pypod_core.cli``) that add its parser or its
    sub-commands, its summary, and whether it is a group (``pypod pod ...``)."""

    modules: tuple[str, ...]
    summary: str
    group: bool = False


_SYSTEM, _CONTAINERS, _PODS = ("system",), ("containers",), ("pods",)
_NETWORKS, _STATE_ADMIN, _VOLUMES = ("networks",), ("state_admin",), ("volumes",)
_COPY, _IMAGES, _MOVING = ("copy",), ("images",), ("image_transfer",)
_LOGIN = ("login",)
_TOOLS, _EVENTS = ("container_tools",), ("events",)
_IMAGE_LIFE, _DISK_USAGE = ("image_life",), ("disk_usage",)
_KUBE, _STATS = ("kube",), ("stats",)
_MOUNTING = ("mounting",)
_SECRETS = ("secrets",)

#: Every top-level word, in ``--help`` order.
COMMANDS: dict[str, Command] = {
    "info": Command(_SYSTEM, "show host, store, registries and plugins"),
    "plugins": Command(_SYSTEM, "list plugins and the backends they declare"),
    "config": Command(_SYSTEM, "show the effective configuration"),
    "version": Command(_SYSTEM, "show pypod's version"),
    "events": Command(_EVENTS, "show the events log"),
    "system": Command(_SYSTEM + _STATE_ADMIN + _EVENTS + _DISK_USAGE, "manage pypod itself",
                      group=True),
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
    "inspect": Command(_CONTAINERS, "show containers' or images' configuration"),
    "logs": Command(_CONTAINERS, "show a container's output"),
    "exec": Command(_CONTAINERS, "run a command in a running container"),
    "attach": Command(_CONTAINERS, "attach to a running container"),
    "top": Command(_TOOLS, "show a container's processes"),
    "port": Command(_TOOLS, "show a container's published ports"),
    "rename": Command(_TOOLS, "give a container a new name"),
    "stats": Command(_STATS, "show containers' resource use (CPU, memory, I/O, pids)"),
    "cp": Command(_COPY, "copy files between containers and the host"),
    "commit": Command(_IMAGE_LIFE, "create a new image from a container's changes"),
    "export": Command(_IMAGE_LIFE, "write a container's file system as a tar"),
    "diff": Command(_IMAGE_LIFE, "show the changes to a container's or image's files"),
    "mount": Command(_MOUNTING, "mount containers' root file systems on the host"),
    "umount": Command(_MOUNTING, "unmount containers' root file systems"),
    "unmount": Command(_MOUNTING, "unmount containers' root file systems"),
    "container": Command((*_CONTAINERS, *_COPY, *_TOOLS, *_IMAGE_LIFE, *_MOUNTING, *_STATS),
                         "manage containers", group=True),
    "images": Command(_IMAGES, "list images"),
    "pull": Command(_IMAGES, "pull images from a registry"),
    "build": Command(_SYSTEM, "build an image: not supported by pypod"),
    "rmi": Command(_IMAGES, "remove images"),
    "tag": Command(_IMAGES, "add names to an image"),
    "untag": Command(_IMAGES, "remove names from an image"),
    "push": Command(_MOVING, "push an image to a registry, layout or archive"),
    "save": Command(_MOVING, "write images to an archive or layout"),
    "load": Command(_MOVING, "store the images of an archive or layout"),
    "import": Command(_IMAGE_LIFE, "create an image from a tarball"),
    "history": Command(_IMAGE_LIFE, "show an image's history"),
    "image": Command((*_IMAGES, *_MOVING, *_IMAGE_LIFE, *_MOUNTING), "manage images",
                     group=True),
    "login": Command(_LOGIN, "log in to a container registry"),
    "logout": Command(_LOGIN, "log out of a container registry"),
    "network": Command(_NETWORKS, "manage networks", group=True),
    "pod": Command(_PODS + _STATS, "manage pods", group=True),
    "volume": Command(_VOLUMES, "manage volumes", group=True),
    "secret": Command(_SECRETS, "manage secrets", group=True),
    "play": Command(_KUBE, "play Kubernetes YAML (play kube)", group=True),
    "kube": Command(_KUBE, "play and take down Kubernetes YAML", group=True),
}

#: What ``pypod container`` has besides every top-level container command.
CONTAINER_ONLY: dict[str, Command] = {
    "ls": Command(_CONTAINERS, "list containers (ps)"),
    "cleanup": Command(_CONTAINERS, "clean up after a container exited (exit command)"),
    "cp": Command(_COPY, COMMANDS["cp"].summary),
    "exists": Command(_TOOLS, "exit 0 if a container exists, 1 if not"),
    "prune": Command(_TOOLS, "remove every container that is not running"),
    "top": Command(_TOOLS, COMMANDS["top"].summary),
    "port": Command(_TOOLS, COMMANDS["port"].summary),
    "rename": Command(_TOOLS, COMMANDS["rename"].summary),
    "stats": Command(_STATS, COMMANDS["stats"].summary),
    "commit": Command(_IMAGE_LIFE, COMMANDS["commit"].summary),
    "export": Command(_IMAGE_LIFE, COMMANDS["export"].summary),
    "diff": Command(_IMAGE_LIFE, "show the changes to a container's files"),
    "mount": Command(_MOUNTING, COMMANDS["mount"].summary),
    "umount": Command(_MOUNTING, COMMANDS["umount"].summary),
    "unmount": Command(_MOUNTING, COMMANDS["unmount"].summary),
}

_LIST_PODS = Command(_PODS, "list pods")
_LIST_NETWORKS = Command(_NETWORKS, "list networks")
_LIST_VOLUMES = Command(_VOLUMES, "list volumes")
_REMOVE_VOLUMES = Command(_VOLUMES, "remove volumes")
_LIST_IMAGES = Command(_IMAGES, "list images")
_LIST_SECRETS = Command(_SECRETS, "list secrets")

#: Each group's own sub-commands, in ``--help`` order (``container`` also has every
#: top-level container command: :func:`group_words`).
GROUP_COMMANDS: dict[str, dict[str, Command]] = {
    "container": CONTAINER_ONLY,
    "system": {
        "info": Command(_SYSTEM, COMMANDS["info"].summary),
        "events": Command(_EVENTS, COMMANDS["events"].summary),
        "df": Command(_DISK_USAGE, "show disk usage by images, containers and volumes"),
        "migrate": Command(_STATE_ADMIN, "apply the state database's schema migrations"),
        "reset": Command(_STATE_ADMIN, "remove every container, pod and volume, the "
                                       "state and pypod's directories"),
    },
    "network": {
        "ls": _LIST_NETWORKS,
        "list": _LIST_NETWORKS,
        "inspect": Command(_NETWORKS, "show networks' configuration as JSON"),
        "create": Command(_NETWORKS, "define a new bridge network"),
        "rm": Command(_NETWORKS, "remove networks"),
        "exists": Command(_NETWORKS, "exit 0 if a network exists, 1 if not"),
        "prune": Command(_NETWORKS, "remove every network no container uses"),
        "connect": Command(_NETWORKS, "add a container to a network"),
        "disconnect": Command(_NETWORKS, "remove a container from a network"),
        "reload": Command(_NETWORKS, "make containers' firewall and port rules again"),
    },
    "pod": {
        "create": Command(_PODS, "create a pod"),
        "start": Command(_PODS, "start pods"),
        "restart": Command(_PODS, "restart pods"),
        "pause": Command(_PODS, "pause pods"),
        "unpause": Command(_PODS, "unpause pods"),
        "stop": Command(_PODS, "stop pods (their containers first, the infra last)"),
        "kill": Command(_PODS, "send a signal to pods' containers"),
        "rm": Command(_PODS, "remove pods"),
        "ps": _LIST_PODS,
        "ls": _LIST_PODS,
        "list": _LIST_PODS,
        "inspect": Command(_PODS, "show pods' configuration and state"),
        "exists": Command(_PODS, "exit 0 if a pod exists, 1 if not"),
        "top": Command(_PODS, "show the processes of a pod's containers"),
        "stats": Command(_STATS, "show the resource use of pods' containers"),
        "prune": Command(_PODS, "remove every pod that is stopped or exited"),
    },
    "volume": {
        "create": Command(_VOLUMES, "create a volume"),
        "ls": _LIST_VOLUMES,
        "list": _LIST_VOLUMES,
        "inspect": Command(_VOLUMES, "show volumes' configuration as JSON"),
        "exists": Command(_VOLUMES, "exit 0 if a volume exists, 1 if not"),
        "rm": _REMOVE_VOLUMES,
        "remove": _REMOVE_VOLUMES,
        "prune": Command(_VOLUMES, "remove every volume no container uses"),
        "export": Command(_VOLUMES, "write a volume's files as a tar"),
        "import": Command(_VOLUMES, "extract a tar into a volume"),
    },
    "secret": {
        "create": Command(_SECRETS, "create a secret from a file, stdin or a variable"),
        "ls": _LIST_SECRETS,
        "list": _LIST_SECRETS,
        "inspect": Command(_SECRETS, "show secrets' details (never their data)"),
        "rm": Command(_SECRETS, "remove secrets"),
    },
    "play": {
        "kube": Command(_KUBE, "make and start the pods and volumes of Kubernetes YAML"),
    },
    "kube": {
        "play": Command(_KUBE, "make and start the pods and volumes of Kubernetes YAML"),
        "down": Command(_KUBE, "stop and remove the pods of Kubernetes YAML"),
    },
    "image": {
        "ls": _LIST_IMAGES,
        "list": _LIST_IMAGES,
        "inspect": Command(_IMAGES, "show images' configuration as JSON"),
        "exists": Command(_IMAGES, "exit 0 if an image is in the store, 1 if not"),
        "pull": Command(_IMAGES, COMMANDS["pull"].summary),
        "rm": Command(_IMAGES, COMMANDS["rmi"].summary),
        "tag": Command(_IMAGES, COMMANDS["tag"].summary),
        "untag": Command(_IMAGES, COMMANDS["untag"].summary),
        "push": Command(_MOVING, COMMANDS["push"].summary),
        "save": Command(_MOVING, COMMANDS["save"].summary),
        "load": Command(_MOVING, COMMANDS["load"].summary),
        "import": Command(_IMAGE_LIFE, COMMANDS["import"].summary),
        "history": Command(_IMAGE_LIFE, COMMANDS["history"].summary),
        "prune": Command(_IMAGE_LIFE, "remove dangling images (-a: every unused one)"),
        "diff": Command(_IMAGE_LIFE, "show the changes to an image's files"),
        "tree": Command(_IMAGE_LIFE, "show an image's layers as a tree"),
        "mount": Command(_MOUNTING, "mount images' files on the host, read-only"),
        "unmount": Command(_MOUNTING, "unmount images' files"),
        "umount": Command(_MOUNTING, "unmount images' files"),
    },
}


def modules_for(word: str | None) -> list[str]:
    """The modules a command line naming ``word`` needs: its own, or every one for no
    command or an unknown one (whose error lists every command)."""
    if word in COMMANDS:
        return list(COMMANDS[word].modules)
    return list(dict.fromkeys(m for command in COMMANDS.values() for m in command.modules))


def top_level(module: str) -> list[str]:
    """The top-level commands (not groups) whose parsers ``module`` adds."""
    return [w for w, c in COMMANDS.items() if module in c.modules and not c.group]


def container_verbs() -> list[str]:
    """The container commands, at the top level and under ``pypod container``."""
    return top_level("containers")


def sub_commands(group: str, module: str) -> list[str]:
    """The sub-commands of ``group`` whose parsers ``module`` adds (for ``container``,
    only those it has besides the top-level container commands)."""
    return [w for w, c in GROUP_COMMANDS[group].items() if module in c.modules]


def add_parsers(adders: Mapping[str, Callable[[Any], None]], module: str, sub: Any,
                groups: Mapping[str, Any], want: Callable[..., bool],
                group: str | None = None) -> None:
    """Add the parsers of ``module`` that the command line wants: its top-level commands
    to ``sub``, its sub-commands of ``group`` to that group's parser; each is made by the
    module's ``_add_<command>``, looked up in ``adders`` (the module's globals)."""
    for verb in top_level(module):
        if want(verb):
            adders[f"_add_{verb}"](sub)
    if group is not None and group in groups:
        for verb in sub_commands(group, module):
            if want(verb, group=group):
                adders[f"_add_{verb}"](groups[group])


def group_words(group: str) -> list[str]:
    """Every sub-command of ``group``."""
    extra = container_verbs() if group == "container" else []
    return [*extra, *GROUP_COMMANDS[group]]


def summary(word: str, group: str | None = None) -> str:
    """A command's ``--help`` line: a top-level one's (a container command's, also
    under ``container``), or that of a sub-command of ``group``."""
    if group is not None and word in GROUP_COMMANDS[group]:
        return GROUP_COMMANDS[group][word].summary
    return (COMMANDS.get(word) or CONTAINER_ONLY[word]).summary
