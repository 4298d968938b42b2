"""Go templates for ``--format``: parsed whole before any work, bounded, one-line errors;
and every command with ``--format`` takes them (info, network ls included)."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable

import pytest

from conftest import need_binary, run_pypod
from pypod_core.cli.gotemplate import MAX_DEPTH, MAX_WIDTH, parse, render
from pypod_core.errors import InvalidArgError

DOC = {"Name": "web", "State": {"ExitCode": 3, "Running": False}, "L": ["a", "b"], "N": 0,
       "M": {"k": {"Name": "in"}}}

MALFORMED = [
    ("{{", "unclosed action"),
    ("x {{ .Name", "unclosed action"),
    ('{{"open}}', "unterminated quoted string"),
    ("{{nope .Name}}", "function 'nope' not defined"),
    ("{{.Name}}{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{if .Name}}x", "missing {{end}}"),
    ("{{if}}x{{end}}", "missing value for if"),
    ("{{with .Name}}{{end}}", "{{with}} is not supported"),
    ("{{$x}}", 'undefined variable "$x"'),
    ("{{if .N}}{{$y := 1}}{{end}}{{$y}}", 'undefined variable "$y"'),  # ended with its block
    ("{{$x = 1}}", 'undefined variable "$x"'),  # assigned before it is declared
    ("{{(.Name}}", "unclosed left paren"),
    ("{{.Name)}}", "unexpected right paren"),
    ("{{()}}", "missing command"),
    ("{{(.Name) .Name}}", "can't give argument to non-function"),
    ("{{.Name 3}}", "can't give argument to non-function .Name"),
    ("{{.Name | .Name}}", "non executable command"),
    ("{{.a-b}}", "bad field name"),
    ("{{if .N}}" * (MAX_DEPTH + 1) + "{{end}}" * (MAX_DEPTH + 1), "nested too deeply"),
    ("{{if .N}}" * 5000, "nested too deeply"),
    ('{{printf "%999999999d" 1}}', f"width 999999999 is above {MAX_WIDTH}"),
    ('{{printf "%.999999999f" 1.5}}', "is above"),
    ('{{printf "%*d" 5 1}}', "* widths are not supported"),
    ('{{printf "%z" 1}}', "unsupported verb %z"),
]


@pytest.mark.parametrize("template, message", MALFORMED)
def test_malformed_templates_fail_at_parse(template: str, message: str) -> None:
    with pytest.raises(InvalidArgError) as err:
        parse(template)
    assert str(err.value).startswith("template: ") and message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("template, expected", [
    ("{{if .N}}x{{else if .Name}}y{{else}}z{{end}}", "y"),
    ("{{if .N}}x{{else if .N}}y{{else}}z{{end}}", "z"),
    ("a  {{- .Name -}}  b", "awebb"),
    ("{{-3}} {{1.5}} {{true}}", "-3 1.5 true"),
    ('{{printf "%5d|%-4s|%q|%v" 3 .Name .Name .L}}', '    3|web |"web"|[a b]'),
    ('{{printf "%.2f %d%%" 1.5 5}}', "1.50 5%"),
    ('{{join .L "|"}}', "a|b"),
    ('{{printf "}}"}}', "}}"),
    ("{{/* a comment */}}ok", "ok"),
    ("}}", "}}"),
    ("{{range .L}}<{{.}}>{{else}}none{{end}}", "<a><b>"),
    ('{{.Name | printf "%s!"}}', "web!"),
    ('{{(index .State "ExitCode")}} {{(index .M "k").Name}}', "3 in"),
    ('{{printf "%s=%d" (index .L 1) (len .L)}}', "b=2"),
    ('{{len (index .M "k").Name | printf "%d!"}}', "2!"),
    ("{{$n := .Name}}{{range .L}}{{.}}{{$n}}{{$.N}} {{end}}", "aweb0 bweb0 "),
    ("{{range $i, $v := .L}}{{$i}}:{{$v}} {{end}}", "0:a 1:b "),
    ("{{range $k, $v := .M}}{{$k}}={{$v.Name}}{{end}}", "k=in"),
    ("{{$x := 1}}{{if .L}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{if $s := .State}}{{$s.ExitCode}}{{end}}", "3"),
])
def test_what_templates_can_say(template: str, expected: str) -> None:
    assert render(template, DOC) == expected


def test_a_printf_width_from_the_data_is_bounded_too() -> None:
    with pytest.raises(InvalidArgError, match="is above"):
        render("{{printf .F 1}}", {"F": "%99999999d"})


Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(net_config: str) -> Pypod:
    """``pypod(*args)`` on this test's store, which has no containers or pods."""
    need_binary("runc")
    need_binary("conmon")
    return lambda *args: run_pypod("--config", net_config, *args)


@pytest.mark.parametrize("command", [["ps", "-a"], ["pod", "ps"], ["network", "ls"], ["info"],
                                     ["inspect", "nosuch"], ["pod", "inspect", "nosuch"]])
@pytest.mark.parametrize("template", ["{{", "{{nope}}", "{{if .X}}" * 3000])
def test_a_malformed_template_fails_even_with_nothing_to_show(
        pypod: Pypod, command: list[str], template: str) -> None:
    result = pypod(*command, "--format", template)
    assert result.returncode == 125 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: template: "), line


def test_info_and_network_ls_take_templates(pypod: Pypod, net_config: str) -> None:
    info = pypod("info", "--format", "{{.Host.Kernel}} {{.Host.OCIRuntime.Name}} "
                 "{{.Store.ContainerStore.Number}}")
    assert info.returncode == 0, info.stderr
    assert info.stdout == f"{platform.release()} runc 0\n"
    nets = pypod("network", "ls", "--format", "{{.Name}} {{.Driver}} {{len .Subnets}}")
    assert nets.returncode == 0, nets.stderr
    assert nets.stdout == "podman bridge 1\n"
