"""``pypod logs`` and ``ctr.logs()``: output without a final newline, long lines, tail
and since, follow, in constant memory; ``--log-opt path=`` and ``max-size=``.

Containers run under real runc and conmon (the log is conmon's); the reader's corner
cases (rotation, block boundaries, huge logs) use k8s-file logs written straight into
files, in conmon's format.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary, run_pypod
from pypod_core.engine import logs as k8s_log
from pypod_core.errors import InvalidArgError

STAMP = b"2024-01-01T00:00:00.000000000+00:00"
Raw = Callable[..., subprocess.CompletedProcess[bytes]]


def record(content: bytes, tag: bytes = b"F", stream: bytes = b"stdout",
           stamp: bytes = STAMP) -> bytes:
    """One k8s-file record as conmon writes it."""
    return b" ".join((stamp, stream, tag, content)) + b"\n"


@pytest.fixture
def raw(cli_flags: list[str]) -> Iterator[Raw]:
    """``raw(*args)``: run ``pypod`` on this test's store (runc), output as bytes."""
    need_binary("runc")
    need_binary("conmon")

    def call(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([PYPOD, *cli_flags, *args], capture_output=True, timeout=120)

    yield call
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


@pytest.fixture
def rt(make_runtime: Callable[..., Any]) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime(runtime="runc")


# -- what containers write ---------------------------------------------------------


def test_output_without_a_final_newline_is_shown(raw: Raw, rootfs: str) -> None:
    assert raw("run", "--name", "abc", "--rootfs", rootfs, "printf", "abc").returncode == 0
    shown = raw("logs", "abc")
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, b"abc", b"")
    assert raw("logs", "--tail", "1", "abc").stdout == b"abc"


def test_each_stream_gets_its_bytes_as_written(raw: Raw, rootfs: str) -> None:
    script = "echo one; printf two; sleep 0.2; echo three; printf err >&2; sleep 0.2; printf 4"
    raw("run", "--name", "mix", "--rootfs", rootfs, "sh", "-c", script)
    shown = raw("logs", "mix")
    assert (shown.stdout, shown.stderr) == (b"one\ntwothree\n4", b"err")


def test_a_line_longer_than_the_reader_holds_comes_in_pieces(rt: Any, rootfs: str) -> None:
    size = 3 * k8s_log.MAX_LINE + 5
    ctr = rt.create_container(rootfs, ["sh", "-c", f"head -c {size} /dev/zero | tr '\\0' a"])
    ctr.start()
    ctr.wait()
    lines = list(ctr.logs())
    assert b"".join(line.data for line in lines) == b"a" * size
    assert all(line.partial and len(line.data) <= k8s_log.MAX_LINE + 8192 for line in lines)
    assert len(lines) >= 3


def test_follow_shows_a_line_before_its_newline(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sh", "-c", "printf abc; sleep 0.5; echo def"])
    ctr.start()
    lines = list(ctr.logs(follow=True))
    assert b"".join(line.data for line in lines) == b"abcdef\n"
    assert lines[0].data == b"abc" and lines[0].partial


def test_logs_stream_rather_than_reading_the_whole_file(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["true"])
    os.makedirs(os.path.dirname(ctr.log_path), exist_ok=True)
    with open(ctr.log_path, "wb") as f:
        f.write(record(b"x" * 99) * 100_000)  # 13.5 MB
    lines = ctr.logs()
    assert next(lines).data == b"x" * 99 + b"\n"
    assert lines.gi_frame is not None  # a generator, not a list made in advance
    assert sum(1 for _ in lines) == 99_999


# -- the reader on k8s-file logs written directly --------------------------------


def test_tail_counts_lines_as_podman(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(record(b"one") + record(b"tw", b"P") + record(b"o") + record(b"thr", b"P")
                    + record(b"ee") + record(b"fo", b"P") + record(b"ur", b"P"))
    def tail(n: int) -> bytes:
        return b"".join(line.data for line in k8s_log.read_log(str(log), tail=n))

    assert tail(0) == b""
    assert tail(1) == b"four"  # the trailing partial line counts as one
    assert tail(2) == b"three\nfour"
    assert tail(4) == tail(100) == b"one\ntwo\nthree\nfour"
    assert b"".join(line.data for line in k8s_log.read_log(str(log))) == tail(4)


def test_tail_finds_lines_across_read_blocks(tmp_path: Path) -> None:
    log = tmp_path / "log"
    count = 3 * k8s_log.CHUNK // 40
    with open(log, "wb") as f:
        for i in range(count):
            f.write(record(b"%06d" % i))
        f.write(b"2024-01-01T00:00:00.000000000+00:00 stdout F torn-by-a-writer")
    for n in (1, 2, 37, 1000, count - 1, count, count + 1):
        got = [line.data for line in k8s_log.read_log(str(log), tail=n)]
        assert got == [b"%06d\n" % i for i in range(max(0, count - n), count)], n


def test_tail_and_since_together(tmp_path: Path) -> None:
    log = tmp_path / "log"
    stamps = [b"2024-01-01T00:00:0%d.000000000+00:00" % s for s in range(5)]
    log.write_bytes(b"".join(record(b"line%d" % i, stamp=s) for i, s in enumerate(stamps)))
    since = k8s_log.parse_time(stamps[3].decode())
    assert [line.data for line in k8s_log.read_log(str(log), since=since)] == [
        b"line3\n", b"line4\n"]
    assert [line.data for line in k8s_log.read_log(str(log), tail=1, since=since)] == [
        b"line4\n"]
    assert [line.data for line in k8s_log.read_log(str(log), tail=3, since=since)] == [
        b"line3\n", b"line4\n"]


def test_a_rotated_log_is_read_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(record(b"old1") + record(b"old2"))
    reader = k8s_log.LogReader(str(log))
    assert [line.data for line in reader.lines()] == [b"old1\n", b"old2\n"]
    # conmon, at --log-size-max, starts a new file in place of the old one.
    (tmp_path / "new").write_bytes(record(b"new1"))
    os.rename(tmp_path / "new", log)
    assert [line.data for line in reader.lines()] == [b"new1\n"]
    log.write_bytes(b"")  # truncated in place
    with open(log, "ab") as f:
        f.write(record(b"n"))
    assert [line.data for line in reader.lines()] == [b"n\n"]


def test_a_partial_line_of_one_stream_is_not_joined_to_the_other(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(record(b"ab", b"P") + record(b"err", stream=b"stderr") + record(b"c"))
    lines = list(k8s_log.read_log(str(log)))
    assert [(line.stream, line.data) for line in lines] == [
        ("stdout", b"ab"), ("stderr", b"err\n"), ("stdout", b"c\n")]


def _max_rss_mb(argv: list[str]) -> tuple[int, float]:
    """Run ``argv``; (bytes it printed, its peak resident memory in MB)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    printed = 0
    while chunk := proc.stdout.read(1 << 20):
        printed += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return printed, usage.ru_maxrss / 1024


def test_memory_stays_flat_on_a_big_log(rt: Any, rootfs: str, cli_flags: list[str]) -> None:
    small = rt.create_container(rootfs, ["true"], name="small")
    ctr = rt.create_container(rootfs, ["true"], name="big")
    for each in (small, ctr):
        os.makedirs(os.path.dirname(each.log_path), exist_ok=True)
    with open(small.log_path, "wb") as f:
        f.write(record(b"tiny"))
    lines = record(b"a" * 99) * 1000
    pieces = record(b"b" * 8192, b"P") * 100
    with open(ctr.log_path, "wb") as f:
        for _ in range(300):  # 40 MB of lines, then 25 MB of one line with no newline
            f.write(lines)
        for _ in range(30):
            f.write(pieces)
    whole = 300 * 1000 * 100 + 30 * 100 * 8192
    # The same command on a tiny log is the baseline (the interpreter, pypod's modules).
    _, baseline = _max_rss_mb([PYPOD, *cli_flags, "logs", "small"])
    printed, rss = _max_rss_mb([PYPOD, *cli_flags, "logs", "big"])
    assert printed == whole and rss < baseline + 16, (rss, baseline)
    printed, rss = _max_rss_mb([PYPOD, *cli_flags, "logs", "--tail", "1", "big"])
    assert printed == 30 * 100 * 8192 and rss < baseline + 16, (rss, baseline)


# -- --log-opt ---------------------------------------------------------------------


def test_log_opt_max_size_keeps_the_log_small(raw: Raw, rootfs: str) -> None:
    script = "i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done"
    assert raw("run", "--name", "small", "--log-opt", "max-size=2kb", "--rootfs", rootfs,
               "sh", "-c", script).returncode == 0
    path = raw("inspect", "--format", "{{.HostConfig.LogConfig.Path}}", "small").stdout
    assert os.path.getsize(path.decode().strip()) <= 2000
    assert raw("logs", "--tail", "1", "small").stdout == b"line499\n"
    size = raw("inspect", "--format", "{{.HostConfig.LogConfig.Size}}", "small").stdout
    assert size == b"2kB\n"


def test_max_log_size_of_the_config_applies_without_log_opt(
        make_runtime: Callable[..., Any], rootfs: str) -> None:
    need_binary("runc")
    # 8192 bytes is the smallest limit the config takes (as containers.conf's).
    rt = make_runtime(runtime="runc", max_log_size=8192)
    ctr = rt.create_container(rootfs, ["sh", "-c", "seq 1 4000"])
    ctr.start()
    ctr.wait()
    assert os.path.getsize(ctr.log_path) <= 8192
    assert [line.data for line in ctr.logs(tail=1)] == [b"4000\n"]


def test_log_opt_path_puts_the_log_there(raw: Raw, rootfs: str, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "mine.log"
    path.parent.mkdir()
    assert raw("run", "--name", "there", "--log-opt", f"path={path}", "--rootfs", rootfs,
               "echo", "hi").returncode == 0
    assert b"stdout F hi\n" in path.read_bytes()
    assert raw("logs", "there").stdout == b"hi\n"
    shown = raw("inspect", "--format", "{{.HostConfig.LogConfig.Path}}", "there").stdout
    assert shown.decode().strip() == str(path)


@pytest.mark.parametrize("opt, message", [
    ("tag=x", b"--log-opt tag: not supported"),
    ("label=a=b", b"--log-opt label: not supported"),
    ("compress=true", b"--log-opt compress: unknown log option"),
    ("max-size=lots", b"--log-opt max-size=lots: invalid size 'lots'"),
    ("max-size", b"--log-opt 'max-size': expected NAME=VALUE"),
    ("path=relative.log", b"log path 'relative.log': must be an absolute path"),
    ("path=/no/such/dir/x.log", b"directory /no/such/dir does not exist"),
])
def test_bad_log_opts_are_refused_by_name(raw: Raw, rootfs: str, opt: str,
                                          message: bytes) -> None:
    result = raw("create", "--log-opt", opt, "--rootfs", rootfs, "true")
    assert result.returncode == 125
    assert result.stderr.count(b"\n") == 1 and message in result.stderr, result.stderr
    assert raw("ps", "-a", "-q").stdout == b""


def test_sizes_read_as_podman() -> None:
    assert [k8s_log.parse_size(s, "x") for s in ("100", "10k", "10kb", "10MB", "1.5g",
                                                  "2 m", "7b")] == [
        100, 10_000, 10_000, 10_000_000, 1_500_000_000, 2_000_000, 7]
    assert [k8s_log.human_size(n) for n in (0, -1, 999, 2000, 10_000_000, 1_234_567)] == [
        "0B", "0B", "999B", "2kB", "10MB", "1.235MB"]


def test_the_python_api_checks_the_log_fields(rt: Any, rootfs: str) -> None:
    with pytest.raises(InvalidArgError, match="must be an absolute path"):
        rt.create_container(rootfs, ["true"], log_path="x.log")
    with pytest.raises(TypeError, match="log_size_max"):
        rt.create_container(rootfs, ["true"], log_size_max="10mb")
    assert rt.state.all_containers() == []
