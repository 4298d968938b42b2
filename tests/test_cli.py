"""The command line's own machinery: which parsers a command builds, and help."""

from __future__ import annotations

import argparse
import importlib

import pytest
from conftest import run_pypod

from pypod_core.cli import main


class _Groups(dict):
    """Group sub-parsers made on demand, to see which groups a module adds to."""

    def __missing__(self, name: str) -> argparse._SubParsersAction:
        self[name] = argparse.ArgumentParser().add_subparsers()
        return self[name]


@pytest.mark.parametrize("module", list(main.COMMAND_MODULES))
def test_each_module_registers_exactly_the_words_the_map_gives(module: str):
    sub = main.ArgumentParser(prog="pypod").add_subparsers()
    groups = _Groups()
    importlib.import_module(f"pypod_core.cli.{module}").register(sub, groups)
    assert set(sub.choices) | set(groups) == set(main.COMMAND_MODULES[module])


@pytest.mark.parametrize("argv, word", [
    (["--root", "/r", "--log-level", "debug", "run", "--rm"], "run"),
    (["--config=/c", "--trace-plugins", "pod", "ps"], "pod"),
    (["--no-plugin", "run", "ps"], "ps"),
    (["--help"], None),
])
def test_the_command_word_skips_pypods_own_flags_and_their_values(argv, word):
    assert main.command_word(argv) == word


def test_a_command_builds_only_its_modules_parsers_and_help_shows_all():
    run_only = main.build_parser(["run", "--rm"])
    words = set(run_only._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert "run" in words and "info" not in words
    everything = main.build_parser(["--help"])
    words = set(everything._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"run", "info", "plugins", "config", "system", "pod", "network"} <= words
    result = run_pypod("--help")
    assert result.returncode == 0 and "plugins" in result.stdout and "run" in result.stdout
    unknown = run_pypod("bogus")
    assert unknown.returncode == 125 and "invalid choice: 'bogus'" in unknown.stderr
