"""``pypod info`` (also ``pypod system info``), ``pypod plugins``, ``pypod config
show``, ``pypod version``, and ``pypod build`` (refused: pypod builds no images).

Each command's parser (``_add_<command>``) sits beside its handler (``cmd_<command>``);
the commands and their summaries are the table in :mod:`pypod_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import TYPE_CHECKING, Any

from pypod_core.cli.commands import add_parsers, summary
from pypod_core.cli.main import ArgumentParser
from pypod_core.cli.output import parse_format
from pypod_core.config import load_config
from pypod_core.errors import InvalidArgError
from pypod_core.plugin.entrypoints import version
from pypod_core.plugin.manager import PluginManager

if TYPE_CHECKING:
    from pypod_core.cli.main import CLIContext, Wanted


def _yaml_like(data: Any, indent: int = 0) -> list[str]:
    """podman's human ``info`` output: nested keys, one per line."""
    pad = "  " * indent
    lines: list[str] = []
    for key, value in data.items():
        if value in ({}, []) or value is None:  # as YAML shows them: {}, [], null
            lines.append(f"{pad}{key}: {'null' if value is None else value}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines += _yaml_like(value, indent + 1)
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, dict):
                    lines.append(f"{pad}- " + ", ".join(f"{k}: {v}" for k, v in item.items()))
                else:
                    lines.append(f"{pad}- {item}")
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return lines


def _yaml_scalar(value: Any) -> str:
    """A scalar as YAML (and podman) writes it: booleans in lower case."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


#: Go's field names of podman's info where they are not the JSON key capitalised.
_GO_NAMES = {"cpus": "CPUs", "os": "OS", "ociRuntime": "OCIRuntime",
             "cgroupVersion": "CgroupsVersion", "idMappings": "IDMappings",
             "seccompEnabled": "SECCOMPEnabled",
             "seccompProfilePath": "SECCOMPProfilePath", "selinuxEnabled": "SELinuxEnabled",
             "apparmorEnabled": "AppArmorEnabled"}


def _template_view(data: Any, under: str = "") -> Any:
    """``info`` as podman's Go templates see it: struct field names (``.Host.Kernel``,
    ``.Store.GraphRoot``, ``.Host.OCIRuntime.Path``); the registries stay a map."""
    if isinstance(data, list):
        return [_template_view(item, under) for item in data]
    if not isinstance(data, dict) or under == "registries":
        return data
    return {_GO_NAMES.get(k, k[:1].upper() + k[1:]): _template_view(v, k)
            for k, v in data.items()}


def cmd_info(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod info [--format json|TEMPLATE]``."""
    template = parse_format(args.format, "json", "{{json .}}")
    data = ctx.runtime.info()
    if template is not None:
        ctx.out(template.render(_template_view(data)))
    elif args.format:
        ctx.out(json.dumps(data, indent=2))
    else:
        ctx.out("\n".join(_yaml_like(data)))
    return 0


def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help=summary("info"))
    p.add_argument("--format", "-f", default="", help="json, or a Go template")
    p.set_defaults(func=cmd_info)


def cmd_plugins(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod plugins [--json]``: works even when no runtime can be built."""
    config = load_config(args.config)
    manager = PluginManager(blocked=[*config.disabled_plugins, *args.no_plugin])
    from pypod_core.engine import defaults  # lazy: the engine, not for parsing

    rows = manager.load(tolerant=True).use_defaults(defaults).rows()
    manager.warn_unknown(args.no_plugin, "--no-plugin")
    if args.json:
        ctx.out(json.dumps(rows, indent=2))
        return 0
    ctx.out(f"{'NAME':<22} {'DISTRIBUTION':<26} {'VERSION':<9} {'STATUS':<8} "
            f"{'MODULE':<30} BACKENDS")
    for row in rows:
        backends = "; ".join(f"{fam}: {', '.join(names)}" for fam, names in row["backends"].items())
        ctx.out(f"{row['name']:<22} {row['distribution']:<26} {row['version']:<9} "
                f"{row['status']:<8} {row['module']:<30} {backends}")
    return 0


def _add_plugins(sub: Any) -> None:
    p = sub.add_parser("plugins", help=summary("plugins"))
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_plugins)


def cmd_config_show(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod config show``: the effective configuration as TOML (no runtime built)."""
    options = {k: v for k, v in ctx.runtime_options().items()
               if k not in ("config_path", "no_plugins", "trace")}
    ctx.out(load_config(args.config, options).to_toml().rstrip())
    return 0


def _add_config(sub: Any) -> None:
    config = sub.add_parser("config", help=summary("config"))
    config_sub = config.add_subparsers(dest="config_command", metavar="COMMAND",
                                       parser_class=ArgumentParser)
    show = config_sub.add_parser("show", help="print the effective config as TOML")
    show.set_defaults(func=cmd_config_show)
    config.set_defaults(func=cmd_config_show)


#: The podman release whose command line pypod's follows (``version``'s API Version).
PODMAN_API_VERSION = "4.3.1"


def version_info() -> dict[str, Any]:
    """``podman version``'s Client fields, for pypod: its version, the podman API it
    follows, the Python it runs on (in podman's ``GoVersion`` key, which scripts read)
    and when it was installed (``Built``: its package's time)."""
    # lazy: only version (infra, with the image records ~5 ms)
    from pypod_core.engine.infra import build_time

    built = build_time()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"APIVersion": PODMAN_API_VERSION, "Version": version("pypod"),
            "GoVersion": f"python{platform.python_version()}", "GitCommit": "",
            "BuiltTime": time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(built)),
            "Built": built, "OsArch": f"linux/{arch}", "Os": "linux"}


def cmd_version(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod version [--format json|TEMPLATE]``: podman's layout and keys
    (``{{.Client.Version}}``...)."""
    template = parse_format(args.format, "json")
    client = version_info()
    if args.format.strip() == "json":
        ctx.out(json.dumps({"Client": client}, indent=2))
    elif template is not None:
        # A local podman's template sees the one engine as both Client and Server
        # (scripts read {{.Server.Version}}); its JSON has the Client alone.
        ctx.out(template.render({"Client": client, "Server": client}))
    else:
        ctx.out("Client:       pypod")
        for label, key in (("Version", "Version"), ("API Version", "APIVersion"),
                           ("Go Version", "GoVersion"), ("Built", "BuiltTime"),
                           ("OS/Arch", "OsArch")):
            ctx.out(f"{label + ':':<14}{client[key]}")
    return 0


def _add_version(sub: Any) -> None:
    p = sub.add_parser("version", help=summary("version"))
    p.add_argument("-f", "--format", default="", help="json, or a Go template")
    p.set_defaults(func=cmd_version)


def cmd_build(args: argparse.Namespace, ctx: CLIContext) -> int:
    """``pypod build``: refused (pypod runs images; it does not build them)."""
    raise InvalidArgError("build: not supported by pypod (build images with buildah or "
                          "podman, then pull or load them)")


def _add_build(sub: Any) -> None:
    # No flags of its own: whatever follows is refused the same way, not as a usage error.
    p = sub.add_parser("build", help=summary("build"), prefix_chars="\0", add_help=False)
    p.add_argument("arguments", nargs="*")
    p.set_defaults(func=cmd_build)


def register(sub: Any, groups: dict[str, Any], want: Wanted) -> None:
    """Add this module's commands the command line needs (the table in
    :mod:`pypod_core.cli.commands`), at the top level and under ``pypod system``; each
    command's parser is made by the ``_add_<command>`` beside its handler."""
    add_parsers(globals(), "system", sub, groups, want, group="system")
