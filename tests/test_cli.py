"""The command line's own machinery: which parsers a command builds, and help."""

from __future__ import annotations

import argparse
import importlib

import pytest

from conftest import run_pypod
from pypod_core.cli import commands, main

MODULES = commands.modules_for(None)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_registers_exactly_the_words_the_table_gives(module: str):
    sub = main.ArgumentParser(prog="pypod").add_subparsers()
    groups = {name: argparse.ArgumentParser().add_subparsers()
              for name, command in commands.COMMANDS.items() if command.group}
    importlib.import_module(f"pypod_core.cli.{module}").register(sub, groups, main.Wanted(()))
    used = {name for name, group in groups.items() if group.choices}
    assert set(sub.choices) | used == {word for word, command in commands.COMMANDS.items()
                                       if module in command.modules}


def test_the_container_group_has_every_container_command_and_its_own():
    sub = main.ArgumentParser(prog="pypod").add_subparsers()
    groups = {"container": argparse.ArgumentParser().add_subparsers()}
    for module in commands.COMMANDS["container"].modules:
        importlib.import_module(f"pypod_core.cli.{module}").register(sub, groups,
                                                                     main.Wanted(()))
    assert set(groups["container"].choices) == {*commands.container_verbs(),
                                                *commands.CONTAINER_ONLY}
    assert "cp" in groups["container"].choices
    help_of = {action.dest: action.help for action in sub._choices_actions}
    assert help_of["stop"] == commands.summary("stop")


@pytest.mark.parametrize("argv, words", [
    (["--root", "/r", "--log-level", "debug", "run", "--rm", "--network", "none"], ["run"]),
    (["--config=/c", "--trace-plugins", "pod", "ps", "-q"], ["pod", "ps"]),
    (["--no-plugin", "run", "ps"], ["ps"]),
    (["container", "--help"], ["container"]),
    (["--help"], []),
])
def test_the_command_words_skip_pypods_own_flags_and_their_values(argv, words):
    assert main.command_words(argv) == words


def test_a_command_builds_only_its_own_verbs_parsers():
    def verbs(parser: main.ArgumentParser) -> set[str]:
        return set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]

    assert verbs(main.build_parser(["run", "--rm", "true"])) == {"run"}
    container = main.build_parser(["container", "cleanup", "--rm", "x"])
    assert verbs(container) == {"container"}
    assert set(container.parse_args(["container", "cleanup", "--rm", "x"]).containers) == {"x"}
    whole_group = main.build_parser(["container", "--help"])._subparsers
    group_parser = whole_group._group_actions[0].choices["container"]  # type: ignore
    assert {"ls", "cleanup", "run", "ps"} <= verbs(group_parser)


def test_a_command_builds_only_its_modules_parsers_and_help_shows_all():
    run_only = main.build_parser(["run", "--rm"])
    words = set(run_only._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert "run" in words and "info" not in words
    everything = main.build_parser(["--help"])
    words = set(everything._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"run", "info", "plugins", "config", "system", "pod", "network"} <= words
    result = run_pypod("--help")
    assert result.returncode == 0 and "plugins" in result.stdout and "run" in result.stdout
    unknown = run_pypod("xyzzy")
    assert unknown.returncode == 125
    assert unknown.stderr == "Error: unrecognized command `pypod xyzzy` (see 'pypod --help')\n"
    typo = run_pypod("imagess")  # podman's first line, its near misses on the same line
    assert typo.returncode == 125 and typo.stderr == (
        "Error: unrecognized command `pypod imagess`; did you mean images or image? "
        "(see 'pypod --help')\n")


def _group_verbs(argv: list[str]) -> set[str]:
    top = main.build_parser(argv)._subparsers._group_actions[0]  # type: ignore[union-attr]
    group = top.choices[argv[0]]  # type: ignore[index]
    return set(group._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("group", commands.GROUP_COMMANDS)
def test_a_group_has_exactly_its_tables_words_and_one_sub_command_builds_only_its_own(
        group: str):
    assert _group_verbs([group, "--help"]) == set(commands.group_words(group))
    first = commands.group_words(group)[0]
    assert _group_verbs([group, first, "--help"]) == {first}


@pytest.mark.parametrize("group", commands.GROUP_COMMANDS)
def test_an_unknown_sub_command_is_refused_with_its_near_misses(group: str):
    result = run_pypod(group, "xyzzy")
    assert result.returncode == 125 and result.stderr == (
        f"Error: unrecognized command `pypod {group} xyzzy` (see 'pypod {group} --help')\n")
    word = commands.group_words(group)[0]
    typo = run_pypod(group, word + "x")
    assert typo.returncode == 125 and len(typo.stderr.splitlines()) == 1
    assert f"did you mean {word}" in typo.stderr


def test_a_sub_commands_help_line_is_its_groups():
    sub = argparse.ArgumentParser().add_subparsers()
    groups = {"pod": argparse.ArgumentParser().add_subparsers()}
    importlib.import_module("pypod_core.cli.pods").register(sub, groups, main.Wanted(()))
    help_of = {action.dest: action.help for action in groups["pod"]._choices_actions}
    assert help_of["rm"] == commands.summary("rm", "pod") == "remove pods"
    assert help_of["ls"] == help_of["list"] == commands.summary("ps", "pod")
