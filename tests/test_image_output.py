"""How the image commands print, piece by piece, against what podman 4.3.1 printed:
Go's tabwriter layout, ``table`` templates, go-units' sizes and durations, Go's
``path.Match`` for ``reference=`` and pull's progress lines and bars."""

from __future__ import annotations

import io

import pytest

from pypod_core.cli.image_filters import go_path_pattern, reference_candidates
from pypod_core.cli.images import IMAGE_HEADERS, human_size
from pypod_core.cli.pull_progress import PullProgress, iec_size
from pypod_core.cli.report import Report, tabwriter
from pypod_core.engine.inspect import ago
from pypod_core.model import PullEvent, PullStep

BLOB = "sha256:9e412c8dfc6bf6067fd95f9aead53796602410aabb4484c8a2c7a57b69b715c6"
CONFIG = "sha256:68ed31e489a75ba4a18e02c4b2aa7e560d01b4da4e35cf925da05396d9995413"


def test_tabwriter_pads_to_the_widest_cell_plus_two_and_at_least_twelve() -> None:
    """podman's tabwriter(minwidth 12, padding 2): the last cell of a line is not
    padded; an empty column is 12 wide; a line with fewer cells ends a column block."""
    assert tabwriter(["REPOSITORY\tTAG\tSIZE", "localhost/bb\tlatest\t2 MB"]) == [
        "REPOSITORY    TAG         SIZE", "localhost/bb  latest      2 MB"]
    assert tabwriter(["a\t\tb"]) == ["a           " + " " * 12 + "b"]
    assert tabwriter(["aaaa\tb", "no tabs here", "c\td"]) == [
        "aaaa        b", "no tabs here", "c           d"]


def test_table_templates_have_podmans_headers_and_columns() -> None:
    """Every space after ``table`` is a column break, even inside a string literal
    (podman's); a field without a header shows ``<no value>``."""
    rows = [{"Repository": "localhost/bb", "Tag": "latest", "ID": "58db72d6a994",
             "CreatedAt": "x"}]
    report = Report("table {{.Repository}}:{{.Tag}} {{.ID}}", IMAGE_HEADERS)
    assert report.lines(rows) == ["REPOSITORY:TAG       IMAGE ID",
                                  "localhost/bb:latest  58db72d6a994"]
    report = Report('table {{printf "%s|%s" .Repository "a b"}} {{.CreatedAt}}',
                    IMAGE_HEADERS)
    assert report.lines(rows) == ["REPOSITORY|a    b           <no value>",
                                  "localhost/bb|a  b           x"]
    assert report.lines(rows, heading=False) == ["localhost/bb|a  b           x"]
    assert Report("{{.Tag}} {{.ID}}", IMAGE_HEADERS).lines(rows) == ["latest 58db72d6a994"]
    assert Report("table {{.ID}}", IMAGE_HEADERS).lines([], heading=False) == []


@pytest.mark.parametrize("size, shown", [(0, "0 B"), (999, "999 B"), (11331, "11.3 kB"),
                                         (1997912, "2 MB"), (1234567, "1.23 MB"),
                                         (86_100_000, "86.1 MB"), (999_900, "1e+03 kB"),
                                         (5 * 10**12, "5 TB")])
def test_sizes_as_podman_images_prints_them(size: int, shown: str) -> None:
    assert human_size(size) == shown


@pytest.mark.parametrize("seconds, shown", [
    (0.4, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"),
    (3599, "59 minutes"), (3600, "About an hour"), (5400, "2 hours"),
    (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (13 * 86400, "13 days"),
    (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"), (60 * 86400, "2 months"),
    (729 * 86400, "24 months"), (730 * 86400, "2 years"), (6 * 365 * 86400, "6 years")])
def test_durations_as_go_units_prints_them(seconds: float, shown: str) -> None:
    assert ago(seconds) == shown


@pytest.mark.parametrize("pattern, name, matches", [
    ("*", "one", True), ("*", "x/y", False), ("x/*", "x/y", True), ("?ne", "one", True),
    ("[a-c]at", "bat", True), ("[^a-c]at", "rat", True), ("[^a-c]at", "bat", False),
    ("o\\*", "o*", True), ("o\\*", "on", False), ("one:lat*", "one:latest", True)])
def test_reference_patterns_are_gos_path_match(pattern: str, name: str,
                                               matches: bool) -> None:
    compiled = go_path_pattern(pattern)
    assert compiled is not None
    assert bool(compiled.fullmatch(name)) is matches


@pytest.mark.parametrize("pattern", ["[", "[]", "[z-a]", "x\\"])
def test_a_malformed_reference_pattern_matches_nothing(pattern: str) -> None:
    assert go_path_pattern(pattern) is None


def test_reference_candidates_are_the_name_and_its_shorter_forms() -> None:
    assert sorted(set(reference_candidates("quay.io/x/y:2"))) == [
        "quay.io/x/y", "quay.io/x/y:2", "x/y", "x/y:2", "y", "y:2"]


def _pull(progress: PullProgress, skipped: bool = False) -> None:
    for event in [PullEvent(step=PullStep.TRYING, reference="127.0.0.1:5000/t/one:latest"),
                  PullEvent(step=PullStep.SOURCE),
                  PullEvent(step=PullStep.BLOB, digest=BLOB, total=2048, skipped=skipped),
                  *([] if skipped else [
                      PullEvent(step=PullStep.BLOB_PROGRESS, digest=BLOB, done=1024,
                                total=2048)]),
                  PullEvent(step=PullStep.BLOB_DONE, digest=BLOB),
                  PullEvent(step=PullStep.CONFIG, digest=CONFIG),
                  PullEvent(step=PullStep.MANIFEST), PullEvent(step=PullStep.DONE)]:
        progress(event)


def test_pull_progress_off_a_terminal_is_podmans_lines() -> None:
    """Full digests, no bars; podman says nothing more of a skipped blob here."""
    for skipped in (False, True):
        out = io.StringIO()
        _pull(PullProgress(out, tty=False), skipped)
        assert out.getvalue() == (
            "Trying to pull 127.0.0.1:5000/t/one:latest...\n"
            "Getting image source signatures\n"
            f"Copying blob {BLOB}\n"
            f"Copying config {CONFIG}\n"
            "Writing manifest to image destination\n"
            "Storing signatures\n")


def test_pull_progress_on_a_terminal_draws_bars_in_place() -> None:
    """A bar per blob redrawn in place (cursor up, line cleared), ending as podman's
    ``done`` or ``skipped: already exists``; short digests."""
    out = io.StringIO()
    _pull(PullProgress(out, tty=True, width=60))
    text = out.getvalue()
    assert text.startswith("Trying to pull 127.0.0.1:5000/t/one:latest...\n"
                           "Getting image source signatures\n")
    assert "\r\x1b[KCopying blob 9e412c8dfc6b [" in text and "0.0b / 2.0KiB" in text
    assert "\x1b[1A\r\x1b[KCopying blob 9e412c8dfc6b done\n" in text
    assert "\r\x1b[KCopying config 68ed31e489 done\n" in text
    assert text.endswith("Writing manifest to image destination\nStoring signatures\n")
    bar = next(line for line in text.split("\r\x1b[K") if "[" in line)
    assert len(bar.split("\x1b")[0].rstrip("\n")) <= 60
    out = io.StringIO()
    _pull(PullProgress(out, tty=True, width=60), skipped=True)
    assert "Copying blob 9e412c8dfc6b skipped: already exists\n" in out.getvalue()


def test_pull_bar_sizes_are_podmans_iec_counters() -> None:
    assert [iec_size(n) for n in (409, 1024, 1024 * 1024 + 1, 3 * 1024**3)] == [
        "409.0b", "1.0KiB", "1.0MiB", "3.0GiB"]


def test_the_default_table_prints_as_its_template_would() -> None:
    """``FieldTable`` (no template engine, for speed) and the template it stands for
    print the same lines."""
    from pypod_core.cli.report import FieldTable

    rows = [{"Repository": r, "Tag": t, "ID": i} for r, t, i in [
        ("localhost/busybox", "latest", "58db72d6a994"), ("<none>", "<none>", "x" * 12)]]
    fields = ["Repository", "Tag", "ID"]
    template = Report("table {{.Repository}}\t{{.Tag}}\t{{.ID}}", IMAGE_HEADERS)
    for heading in (True, False):
        lines: list[str] = []
        FieldTable(fields, IMAGE_HEADERS).print(rows, lines.append, heading)
        assert lines == template.lines(rows, heading)


def test_the_short_name_prompt_takes_a_number(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from pypod_core.cli.images import choose_image
    from pypod_core.errors import InvalidArgError

    candidates = ["127.0.0.1:5000/x:latest", "127.0.0.1:5001/x:latest"]
    monkeypatch.setattr("sys.stdin", io.StringIO("7\nno\n2\n"))
    assert choose_image(candidates) == candidates[1]
    shown = capsys.readouterr().err
    assert shown.startswith("? Please select an image:\n  1) 127.0.0.1:5000/x:latest\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(InvalidArgError, match="no image chosen"):
        choose_image(candidates)
