"""The ``pypod`` command: global flags, command modules, one-line errors and exit 125.

The words and the modules that add their parsers are one table,
:mod:`pypod_core.cli.commands`.  Each command module exposes ``register(sub, groups,
want)``, adding the parsers of the verbs ``want`` (a :class:`Wanted`) says the command
line needs; a command's parser sets ``func=handler`` with ``handler(args, ctx) -> int``.
An error pypod raises on purpose is printed as one line and exits 125; a traceback only
with ``--log-level debug``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pypod_core.cli import global_flags
from pypod_core.cli.commands import COMMANDS, group_words, modules_for
from pypod_core.cli.log_level import EXIT_BAD_LEVEL, Logger, LogLevelError, chosen_level
from pypod_core.errors import InvalidArgError, PypodError

#: Exit code for pypod's own errors (podman's).
EXIT_ERROR = 125
#: pypod's own flags that take a value, to find the command word in a command line.
_VALUE_FLAGS = frozenset({"--config", "--root", "--runroot", "--state-type", "--runtime",
                          "--log-level", "--no-plugin"}) | global_flags.VALUE_FLAGS


def _is_group(word: str) -> bool:
    return word in COMMANDS and COMMANDS[word].group


class UsageError(InvalidArgError):
    """A malformed command line."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, with podman's ``Usage:`` heading (scripts look for it)."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any = None) -> None:
        """The usage line, headed ``Usage:``."""
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is a PypodError (one line, exit 125), not exit 2, and
    a flag is spelt out: no abbreviations, as podman takes none."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    #: The arguments this parser was last given (to name the flag an error is about).
    _given: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        """A usage error: podman's words where it has them, else argparse's."""
        missing = _MISSING_VALUE.match(message)
        if missing:
            flags = missing[1].split("/")
            used = next((a for a in self._given if a in flags), flags[-1])
            said = f"'{used[1:]}' in {used}" if not used.startswith("--") else used
            raise UsageError(f"flag needs an argument: {said} (see '{self.prog} --help')")
        verb = _INVALID_COMMAND.match(message)
        if verb:
            raise UsageError(self._unrecognized(verb[1]))
        unknown = self._unknown_flag()
        if unknown and message.startswith("the following arguments are required"):
            # what is missing was taken for the unknown flag's value: name the flag
            raise UsageError(f"unknown flag: {unknown} (see '{self.prog} --help')")
        raise UsageError(f"{self.prog}: {message}")

    def _unrecognized(self, word: str) -> str:
        """podman's words for an unknown command, with its near misses on one line."""
        import difflib  # lazy: only a mistyped command (~2 ms)

        verbs = [verb for action in self._actions
                 if isinstance(action, argparse._SubParsersAction)
                 for verb in action.choices]
        close = difflib.get_close_matches(word, verbs, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        return f"unrecognized command `{self.prog} {word}`{hint} (see '{self.prog} --help')"

    def _unknown_flag(self) -> str | None:
        """The first flag given (before ``--``) that this parser does not know."""
        for arg in self._given:
            if arg == "--":
                return None
            name = arg.split("=", 1)[0]
            if (arg[:1] == "-" and len(arg) > 1 and name not in self._option_string_actions
                    and not self._negative_number_matcher.match(arg)):
                return name
        return None

    def _parse_optional(self, arg_string: str) -> Any:
        """argparse's, but an unknown ``--x="a b"`` is an unknown flag, as podman's,
        not an argument (argparse takes a dashed word with a space for one)."""
        parsed = super()._parse_optional(arg_string)
        if (parsed is None and arg_string[:1] == "-" and " " in arg_string
                and arg_string.split("=", 1)[0].count(" ") == 0
                and not self._negative_number_matcher.match(arg_string)):
            # argparse's own answer for an unknown flag, in this Python's shape (a list
            # of 4-tuples since 3.12.7, a 3-tuple before)
            probe = super()._parse_optional(arg_string.replace(" ", "_"))
            if isinstance(probe, list):
                return [(None, arg_string, None, None)]
            return None, arg_string, None
        return parsed

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse's asks shutil for the width, and importing shutil (with bz2, lzma)
        # costs every command ~1.5 ms: add_argument makes a formatter for each flag.
        # (typeshed's protocol names prog alone; argparse's formatters all take width)
        return self.formatter_class(prog=self.prog,  # type: ignore[call-arg]
                                    width=terminal_columns() - 2)

    #: Options whose value may begin with a dash (``kill -s -INT``), as podman's flag
    #: parser takes them; argparse would read ``-INT`` as an option of its own.
    dash_values: frozenset[str] = frozenset()

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """argparse's, with each ``OPTION VALUE`` of :attr:`dash_values` joined into
        ``OPTION=VALUE`` first (a value of a dash, as ``-INT``, stays that option's)."""
        if self.dash_values and args is not None:
            args = _join_dash_values(list(args), self.dash_values)
        self._given = tuple(args or ())
        return super().parse_known_args(args, namespace)


#: argparse's message for a word that is none of a command's sub-commands.
_INVALID_COMMAND = re.compile(r"^argument COMMAND: invalid choice: '(.*?)' \(choose from ")

#: argparse's message for a flag given without its value.
_MISSING_VALUE = re.compile(r"^argument (\S+): expected one argument$")


def terminal_columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it: ``COLUMNS``, else
    the width of stdout's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _join_dash_values(args: list[str], options: frozenset[str]) -> list[str]:
    """``[-s, -INT, x]`` -> ``[-s=-INT, x]`` for the ``options``, up to ``--``."""
    joined: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return joined + args[i:]
        if arg in options and i + 1 < len(args) and args[i + 1].startswith("-"):
            joined.append(f"{arg}={args[i + 1]}")
            i += 2
            continue
        joined.append(arg)
        i += 1
    return joined


class CLIContext:
    """What a command handler gets besides its arguments: the runtime, built lazily."""

    def __init__(self, args: argparse.Namespace, logger: Logger | None = None):
        self.args = args
        self.logger = logger or Logger("warn")
        self._runtime: Any = None

    def runtime_options(self) -> dict[str, Any]:
        """new_runtime's arguments from the global flags."""
        a = self.args
        options: dict[str, Any] = {}
        for flag, key in (("root", "graph_root"), ("runroot", "run_root"),
                          ("state_type", "state_type"), ("runtime", "runtime")):
            value = getattr(a, flag)
            if value is not None:
                options[key] = value
        options.update(global_flags.config_options(a))
        return {
            "config_path": a.config,
            "no_plugins": a.no_plugin,
            "trace": a.trace_plugins,
            **options,
        }

    @property
    def runtime(self) -> Any:
        """The runtime the global flags describe, built on first use."""
        if self._runtime is None:
            from pypod_core.engine.runtime import new_runtime  # lazy: ~27 ms, not for --help

            self._runtime = new_runtime(**self.runtime_options())
            self.logger.runtime_built(self._runtime)
        return self._runtime

    def global_argv(self) -> list[str]:
        """The global flags as arguments, to start another ``pypod`` on the same runtime."""
        a = self.args
        argv: list[str] = []
        for flag in ("config", "root", "runroot", "state_type", "runtime"):
            value = getattr(a, flag)
            if value is not None:
                argv += [f"--{flag.replace('_', '-')}", value]
        for name in a.no_plugin:
            argv += ["--no-plugin", name]
        return argv + global_flags.global_argv(a)

    def out(self, text: str = "") -> None:
        """Print a line of the command's output (none with ``--noout``: podman's drops
        its own output; what containers write, attached or in logs, is not its own)."""
        if not self.args.noout:
            print(text)

    def close(self) -> None:
        """Close the runtime's state if one was built."""
        if self._runtime is not None and self._runtime.valid:
            self._runtime.state.close()
            self._runtime.valid = False


def command_words(argv: Sequence[str]) -> list[str]:
    """The words of ``argv`` that are neither flags of pypod's nor their values: the
    command word, then (for a group such as ``container``) its sub-command."""
    words = []
    i = 0
    while i < len(argv):
        if argv[i] in _VALUE_FLAGS:
            i += 2
            continue
        if not argv[i].startswith("-"):
            words.append(argv[i])
            if not _is_group(words[0]) or len(words) == 2:
                break
        elif words:  # a flag after the group word: there is no sub-command word
            break
        i += 1
    return words


class Wanted:
    """Which parsers a command line needs: its command's, or all of them when it names
    no command (``pypod --help``).  Building every parser would cost each ``pypod``
    process ~8 ms, so a module adds only the verbs this says yes to."""

    def __init__(self, argv: Sequence[str]):
        words = command_words(argv)
        self.command = words[0] if words else None
        self.sub_command = words[1] if len(words) > 1 else None
        if self.sub_command is not None and self.sub_command not in group_words(words[0]):
            self.sub_command = None  # an unknown one: its error lists the group's words

    def __call__(self, verb: str, group: str | None = None) -> bool:
        """Whether ``verb`` (of ``group``, or at the top level) is needed."""
        if self.command is None:
            return True
        if group is None:
            return verb == self.command
        return group == self.command and self.sub_command in (None, verb)


def build_parser(argv: Sequence[str] = ()) -> ArgumentParser:
    """The command line: global flags, the groups, and the commands ``argv`` needs (every
    one when it names none, or for help)."""
    parser = ArgumentParser(prog="pypod", description="Manage containers and pods.")
    parser.add_argument("--config", help="read this config file only")
    # Relative directories are taken from the current one, as podman's (the config
    # wants absolute paths: the exit command runs elsewhere).
    parser.add_argument("--root", type=_absolute, help="storage root directory (graph_root)")
    parser.add_argument("--runroot", type=_absolute,
                        help="storage state directory (run_root)")
    parser.add_argument("--state-type", help="state backend (sqlite, memory, ...)")
    parser.add_argument("--runtime", help="OCI runtime backend (runc, crun, ...)")
    parser.add_argument("--log-level", default=None, metavar="LEVEL",
                        help="trace, debug, info, warn (the default), error, fatal or panic")
    parser.add_argument("-D", "--debug", action="store_true", help="--log-level=debug")
    parser.add_argument("--no-plugin", action="append", default=[], metavar="NAME",
                        help="do not load this plugin (repeatable)")
    parser.add_argument("--trace-plugins", action="store_true",
                        help="print each runtime stage, the plugin serving it and its time")
    global_flags.add_global_flags(parser, hide_remote=global_flags.remote_implied(list(argv)))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    want = Wanted(argv)
    if want.command not in COMMANDS:  # no command, or an unknown one: list them all
        want = Wanted(())
    groups = {}
    for name, command in COMMANDS.items():
        if command.group and want(name):
            group = sub.add_parser(name, help=command.summary)
            groups[name] = group.add_subparsers(dest=f"{name}_command", metavar="COMMAND",
                                                parser_class=ArgumentParser)
            group.set_defaults(func=_group_help(group))
    for module_name in modules_for(want.command):
        importlib.import_module(f"pypod_core.cli.{module_name}").register(sub, groups, want)
    return parser


def _group_help(parser: argparse.ArgumentParser):
    def show(args: argparse.Namespace, ctx: CLIContext) -> int:
        parser.print_help()
        return EXIT_ERROR

    return show


def _absolute(path: str) -> str:
    return os.path.abspath(path) if path else path


def _fail(message: str, debug: bool) -> int:
    """Report the exception being handled: one line, the traceback only when debugging."""
    if debug:
        import traceback  # lazy: only --log-level debug (~1.3 ms)

        traceback.print_exc()
    print(f"Error: {message}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pypod``; return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(argv)
    ctx = None
    try:
        parser = build_parser(argv)
        args = _parse(parser, argv)
        logger = Logger(chosen_level(args.log_level, args.debug))
        if args.version:
            print(global_flags.version_line())
            return 0
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_ERROR
        global_flags.check_remote(args)
        ctx = CLIContext(args, logger)
        logger.started(" ".join(command_words(argv)), argv)
        return int(args.func(args, ctx) or 0)
    except LogLevelError as exc:  # podman's flag check: the message alone, exit 1
        print(exc, file=sys.stderr)
        return EXIT_BAD_LEVEL
    except PypodError as exc:
        return _fail(str(exc), debug)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path the user gave that cannot be read or written
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", debug)
    except Exception as exc:  # a bug: still one line unless debugging
        return _fail(f"internal error: {type(exc).__name__}: {exc}", debug)
    finally:
        if ctx is not None:
            ctx.close()


def _parse(parser: ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; an unknown flag is an error naming it and its command (argparse
    reports a sub-command's leftovers as the top level's, without the command)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        where = " ".join(w for w in command_words(argv) if w in COMMANDS or
                         w == getattr(args, f"{args.command}_command", None))
        prog = f"pypod {where}" if where else "pypod"
        flags = [e for e in extra if e.startswith("-")]
        if flags:
            raise UsageError(f"unknown flag: {flags[0].split('=')[0]} (see '{prog} --help')")
        raise UsageError(f"{prog}: unexpected arguments: {' '.join(extra)}")
    return args


def _wants_debug(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg in ("--log-level=debug", "--log-level=trace", "--debug", "-D") or (
                arg == "--log-level" and argv[i + 1:i + 2] in (["debug"], ["trace"])):
            return True
    return False


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
