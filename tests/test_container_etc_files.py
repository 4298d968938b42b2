"""A container's /etc/hosts and /etc/resolv.conf are its own (or its pod's), never the
host's: what root in a container writes there changes no host file.  Their content
follows podman 4.3's: ``--dns``, ``--dns-search``, ``--dns-option``, ``--add-host``,
``--no-hosts``, loopback nameservers dropped in a namespace of the container's own.

Real runc under conmon; bridged tests on a default network of their own (``net_config``).
The loopback nameserver tests give the host a resolv.conf of their choosing in a mount
namespace of their own (``unshare -m``), so that the host's real file is never touched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary, run_pypod
from pypod_core.engine import etc_files
from pypod_core.errors import InvalidArgError
from pypod_core.host.rootfs import make_busybox_rootfs
from pypod_core.model import ContainerConfig
from pypod_core.serialize import from_dict, to_dict

HOST_FILES = ("/etc/hosts", "/etc/resolv.conf")
#: Prints the container's mount table, then the (device, inode) of its /etc files.
SHOW = ("cat /proc/self/mountinfo; echo ==stat; "
        "for f in /etc/hosts /etc/resolv.conf; do [ -e $f ] && stat -c \"$f %d %i\" $f; done; "
        "echo ==hosts; cat /etc/hosts 2>/dev/null; echo ==resolv; "
        "cat /etc/resolv.conf 2>/dev/null; echo ==end")
#: Then root in the container overwrites both files (and reads them back).
WRITE = ("echo '6.6.6.6 evil' >> /etc/hosts && echo 'nameserver 6.6.6.6' > /etc/resolv.conf"
         " && grep -q evil /etc/hosts && grep -q 6.6.6.6 /etc/resolv.conf && echo wrote")


def host_snapshot() -> dict[str, tuple[str, int, int]]:
    """Content, device and inode of the host's files."""
    result = {}
    for path in HOST_FILES:
        st = os.stat(path)
        result[path] = (Path(path).read_text(), st.st_dev, st.st_ino)
    return result


def section(output: str, name: str) -> str:
    """A ``==name`` section of SHOW's output."""
    return output.split(f"=={name}\n", 1)[1].split("\n==", 1)[0] + "\n"


def mounts_of(output: str) -> dict[str, tuple[str, str]]:
    """Mount point -> (major:minor, root in its file system) of /etc files, from the
    container's /proc/self/mountinfo."""
    result = {}
    for line in output.split("==stat\n")[0].splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4].startswith("/etc/"):
            result[fields[4]] = (fields[2], fields[3])
    return result


def stats_of(output: str) -> dict[str, tuple[int, int]]:
    """Path -> (st_dev, st_ino) as seen inside the container."""
    result = {}
    for line in section(output, "stat").splitlines():
        path, dev, ino = line.split()
        result[path] = (int(dev), int(ino))
    return result


def assert_not_host_file(output: str, path: str, ctr_id: str) -> None:
    """The container's ``path`` is a bind mount of a file of pypod's run dir (named by
    its id), not the host's file: another inode, another mount root."""
    host = os.stat(path)
    dev, root = mounts_of(output)[path]
    assert root.endswith(f"/containers/{ctr_id}/{os.path.basename(path)}"), root
    assert root != path
    assert stats_of(output)[path] != (host.st_dev, host.st_ino)
    major, minor = (int(n) for n in dev.split(":"))
    assert os.makedev(major, minor) == stats_of(output)[path][0]


@pytest.fixture
def own_rootfs(tmp_path: Path) -> str:
    """A busybox rootfs of this test's own (a container may write files into it), with
    /etc/hosts and /etc/resolv.conf of its own."""
    need_binary("busybox")
    path = make_busybox_rootfs(str(tmp_path / "rootfs"))
    Path(path, "etc", "hosts").write_text("10.0.0.99\timage-hosts\n")
    Path(path, "etc", "resolv.conf").write_text("nameserver 10.0.0.98\n")
    return path


def run_attached(ctr: Any, tmp_path: Path) -> tuple[int, str]:
    """Start ``ctr`` attached; its exit code and output."""
    out = tmp_path / f"out-{ctr.id[:12]}"
    with open(out, "wb") as f:
        code = ctr.start_attached(f, f)
    return code, out.read_text()


# -- the host's files stay untouched -----------------------------------------------------


@pytest.mark.parametrize("mode", ["none", "host", "bridge"])
def test_writing_the_files_inside_changes_no_host_file(
        mode: str, make_runtime: Callable[..., Any], net_config: str, own_rootfs: str,
        tmp_path: Path) -> None:
    need_binary("runc")
    need_binary("conmon")
    if mode == "bridge":
        need_binary("iptables")
    rt = make_runtime(config_path=net_config)
    before = host_snapshot()
    ctr = rt.create_container(own_rootfs, ["sh", "-c", f"{SHOW}; {WRITE}; {SHOW}"],
                              network_mode=mode)
    try:
        code, output = run_attached(ctr, tmp_path)
    finally:
        rt.remove_container(ctr, force=True, timeout=0)
    assert code == 0, output
    assert "wrote" in output
    assert host_snapshot() == before
    assert_not_host_file(output, "/etc/hosts", ctr.id)
    if mode == "none":
        # No network, no resolv.conf of pypod's: the rootfs's own (written there).
        assert "/etc/resolv.conf" not in mounts_of(output)
        assert Path(own_rootfs, "etc", "resolv.conf").read_text() == "nameserver 6.6.6.6\n"
    else:
        assert_not_host_file(output, "/etc/resolv.conf", ctr.id)
        assert Path(own_rootfs, "etc", "resolv.conf").read_text() == "nameserver 10.0.0.98\n"
    assert Path(own_rootfs, "etc", "hosts").read_text() == "10.0.0.99\timage-hosts\n"


def test_the_pod_members_share_the_pods_files_and_not_the_hosts(
        net_config: str, own_rootfs: str) -> None:
    need_binary("iptables")
    need_binary("conmon")
    flags = ["--config", net_config]
    before = host_snapshot()
    pod = run_pypod(*flags, "pod", "create", "--name", "etcpod", "--network", "bridge",
                    "--dns", "9.9.9.9", "--dns-search", "p.example", "--add-host",
                    "ph:10.4.4.4")
    assert pod.returncode == 0, pod.stderr
    try:
        first = run_pypod(*flags, "run", "-d", "--pod", "etcpod", "--name", "first",
                          "--rootfs", own_rootfs, "sleep", "600")
        assert first.returncode == 0, first.stderr
        wrote = run_pypod(*flags, "exec", "first", "sh", "-c", WRITE)
        assert wrote.stdout == "wrote\n", wrote.stderr
        second = run_pypod(*flags, "run", "--rm", "--pod", "etcpod", "--name", "second",
                           "--rootfs", own_rootfs, "sh", "-c", SHOW)
        assert second.returncode == 0, second.stderr
        inspect = run_pypod(*flags, "pod", "inspect", "etcpod", "--format",
                            "{{.Id}} {{.InfraContainerID}}")
        pod_id, infra_id = inspect.stdout.split()
        infra_ip = run_pypod(*flags, "inspect", infra_id, "--format",
                             "{{.NetworkSettings.IPAddress}}").stdout.strip()
        after_second = run_pypod(*flags, "exec", "first", "cat", "/etc/hosts").stdout
    finally:
        run_pypod(*flags, "pod", "rm", "-f", "-t", "0", "etcpod")
    assert host_snapshot() == before
    out = second.stdout
    # One file per pod: what the first member wrote, the second one reads.
    assert_not_host_file(out, "/etc/hosts", infra_id)
    assert_not_host_file(out, "/etc/resolv.conf", infra_id)
    assert section(out, "resolv") == "nameserver 6.6.6.6\n"
    hosts = section(out, "hosts")
    assert hosts.startswith("10.4.4.4\tph\n")
    assert f"{infra_ip}\tetcpod {pod_id[:12]}-infra\n" in hosts
    assert "127.0.0.1\tfirst\n" in hosts and "127.0.0.1\tsecond\n" in hosts
    assert "6.6.6.6 evil\n" in hosts
    # The second member's name went with it; the first one's stays while it runs.
    assert "second" not in after_second and "127.0.0.1\tfirst\n" in after_second


def test_a_pod_members_resolv_conf_is_the_pods(net_runtime: Any, rootfs: str,
                                                tmp_path: Path) -> None:
    rt = net_runtime
    pod = rt.create_pod(name="dnspod", dns_servers=["9.9.9.9", "fd00::53"],
                        dns_search=["p.example"], dns_options=["ndots:3"],
                        network_mode="bridge")
    try:
        ctr = rt.create_container(rootfs, ["cat", "/etc/resolv.conf"], pod=pod)
        code, output = run_attached(ctr, tmp_path)
        infra = pod.infra()
        assert ctr.inspect()["ResolvConfPath"] == os.path.join(infra.run_dir, "resolv.conf")
        doc = pod.inspect()["InfraConfig"]
    finally:
        rt.remove_pod(pod, force=True, timeout=0)
    assert code == 0
    assert output == "search p.example\nnameserver 9.9.9.9\nnameserver fd00::53\n" \
                     "options ndots:3\n"
    assert (doc["DNSServer"], doc["DNSSearch"], doc["DNSOption"]) == (
        ["9.9.9.9", "fd00::53"], ["p.example"], ["ndots:3"])


# -- content --------------------------------------------------------------------------


def test_dns_flags_and_add_host_with_host_network(cli_flags: list[str], rootfs: str) -> None:
    need_binary("conmon")
    result = run_pypod(*cli_flags, "run", "--rm", "--network", "host", "--name", "hostnet",
                       "--dns", "1.1.1.1,2606:4700:4700::1111", "--dns-search", "example.com",
                       "--dns-search", "corp.example", "--dns-option", "ndots:2",
                       "--add-host", "foo:10.1.2.3", "--add-host", "v6:fd00::9",
                       "--rootfs", rootfs, "sh", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    assert section(result.stdout, "resolv") == (
        "search example.com corp.example\nnameserver 1.1.1.1\n"
        "nameserver 2606:4700:4700::1111\noptions ndots:2\n")
    hosts = section(result.stdout, "hosts")
    assert hosts.startswith("10.1.2.3\tfoo\nfd00::9\tv6\n")
    # A copy of the host's entries follows; then what the host lacks, and no line for
    # the container (it has the host's network), as podman.
    for ip, names in etc_files.parse_hosts(Path("/etc/hosts").read_text()):
        assert f"{ip}\t{' '.join(names)}\n" in hosts
    assert "\thost.containers.internal\n" in hosts
    assert "hostnet" not in hosts


def test_host_network_resolv_conf_is_a_copy_of_the_hosts(cli_flags: list[str],
                                                         rootfs: str) -> None:
    need_binary("conmon")
    result = run_pypod(*cli_flags, "run", "--rm", "--network", "host", "--rootfs", rootfs,
                       "cat", "/etc/resolv.conf")
    host = Path("/etc/resolv.conf").read_text()
    assert result.stdout == etc_files.resolv_conf(host, own_netns=False)
    for server in etc_files._nameservers(host):  # loopback ones too: the host's network
        assert f"nameserver {server}\n" in result.stdout


def test_no_network_hosts_names_the_container_on_loopback(cli_flags: list[str],
                                                          rootfs: str) -> None:
    need_binary("conmon")
    result = run_pypod(*cli_flags, "run", "--rm", "--network", "none", "--name", "lonely",
                       "--hostname", "alone", "--rootfs", rootfs, "sh", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    assert section(result.stdout, "hosts").endswith("127.0.0.1\talone lonely\n")
    assert "/etc/resolv.conf" not in mounts_of(result.stdout)


def test_bridged_hosts_has_the_containers_address_and_the_gateway(
        net_runtime: Any, rootfs: str, tmp_path: Path) -> None:
    rt = net_runtime
    ctr = rt.create_container(rootfs, ["sleep", "600"], name="bridged", hostname="br",
                              network_mode="bridge")
    try:
        ctr.start()
        settings = ctr.inspect()["NetworkSettings"]
        with open(tmp_path / "out", "wb") as f:
            code = ctr.exec(["sh", "-c", SHOW], stdout=f)
        output = (tmp_path / "out").read_text()
    finally:
        rt.remove_container(ctr, force=True, timeout=0)
    assert code == 0, output
    hosts = section(output, "hosts")
    assert hosts.endswith(f"{settings['Gateway']}\thost.containers.internal\n"
                          f"{settings['IPAddress']}\tbr bridged\n")
    host = Path("/etc/resolv.conf").read_text()
    assert section(output, "resolv") == etc_files.resolv_conf(host, own_netns=True)


def test_no_hosts_and_dns_none_keep_the_rootfs_files(cli_flags: list[str],
                                                     own_rootfs: str) -> None:
    need_binary("conmon")
    result = run_pypod(*cli_flags, "run", "--rm", "--network", "host", "--no-hosts",
                       "--dns", "none", "--rootfs", own_rootfs, "sh", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    assert section(result.stdout, "hosts") == "10.0.0.99\timage-hosts\n"
    assert section(result.stdout, "resolv") == "nameserver 10.0.0.98\n"
    assert not mounts_of(result.stdout).keys() & {"/etc/hosts", "/etc/resolv.conf"}


def _run_with_host_resolv(flags: list[str], text: str, tmp_path: Path, rootfs: str,
                          *args: str) -> subprocess.CompletedProcess[str]:
    """``pypod run`` in a mount namespace of its own where the host's /etc/resolv.conf
    reads ``text`` (the real file is never touched)."""
    need_binary("unshare")
    fake = tmp_path / "host-resolv.conf"
    fake.write_text(text)
    script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(fake),
         PYPOD, *flags, "run", "--rm", *args, "--rootfs", rootfs, "cat", "/etc/resolv.conf"],
        capture_output=True, text=True, timeout=120)


def test_loopback_nameservers_are_dropped_for_bridged_containers(
        net_config: str, rootfs: str, tmp_path: Path) -> None:
    need_binary("iptables")
    need_binary("conmon")
    flags = ["--config", net_config]
    text = ("# the host's\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.9.9.9\n"
            "nameserver fd00::53\nsearch corp.example lan\noptions edns0 rotate\n")
    bridged = _run_with_host_resolv(flags, text, tmp_path, rootfs, "--network", "bridge")
    assert bridged.returncode == 0, bridged.stderr
    # No loopback server, and no IPv6 one: the test network has no IPv6.
    assert bridged.stdout == ("search corp.example lan\nnameserver 10.9.9.9\n"
                              "options edns0 rotate\n")
    host = _run_with_host_resolv(flags, text, tmp_path, rootfs, "--network", "host")
    assert host.stdout == ("search corp.example lan\nnameserver 127.0.0.53\n"
                           "nameserver ::1\nnameserver 10.9.9.9\nnameserver fd00::53\n"
                           "options edns0 rotate\n")
    # Only loopback servers: podman's stand-ins (Google's public servers).
    only = _run_with_host_resolv(flags, "nameserver 127.0.0.11\n", tmp_path, rootfs,
                                 "--network", "bridge", "--dns-opt", "ndots:1")  # podman's alias
    assert only.stdout == "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions ndots:1\n"
    # --dns replaces them; the host's search domains and options stay.
    dns = _run_with_host_resolv(flags, text, tmp_path, rootfs, "--network", "bridge",
                                "--dns", "10.1.1.1", "--dns-search", ".")
    assert dns.stdout == "nameserver 10.1.1.1\noptions edns0 rotate\n"


def test_resolv_conf_follows_podman() -> None:
    host = ("nameserver 127.0.0.53\nnameserver 10.9.9.9\nnameserver fd00::53\n"
            "search a.example\noptions edns0\n")
    own = etc_files.resolv_conf
    # As podman 4.3: without --dns the host's search domains and options follow ours.
    assert own(host, own_netns=True, search=["b.example"], options=["ndots:3"]) == (
        "search b.example a.example\nnameserver 10.9.9.9\noptions ndots:3 edns0\n")
    assert own(host, own_netns=True, ipv6=True, servers=["1.1.1.1"],
               search=["b.example"]) == (
        "search b.example\nnameserver 1.1.1.1\noptions edns0\n")
    assert own(host, own_netns=True, ipv6=True, network_servers=["10.88.0.1"],
               network_search=["dns.podman"]) == (
        "search dns.podman a.example\nnameserver 10.88.0.1\nnameserver 10.9.9.9\n"
        "nameserver fd00::53\noptions edns0\n")
    assert own("nameserver ::1\n", own_netns=True, ipv6=True) == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\n"
        "nameserver 2001:4860:4860::8844\n")
    assert own("", own_netns=False) == ""


def test_hosts_file_follows_podman() -> None:
    base = "# comment\n127.0.0.1 localhost\n10.0.0.5   db db.local # the db\n"
    assert etc_files.hosts_file(base, extra_hosts=["db:10.9.9.9", "v6:fd00::1"],
                                own=[("10.88.0.2", ["box", "db"])], host_ip="10.88.0.1") == (
        "10.9.9.9\tdb\nfd00::1\tv6\n127.0.0.1\tlocalhost\n10.0.0.5\tdb db.local\n"
        "10.88.0.1\thost.containers.internal\n10.88.0.2\tbox\n")
    assert etc_files.hosts_file("") == "127.0.0.1\tlocalhost\n::1\tlocalhost\n"


# -- bad values ------------------------------------------------------------------------


@pytest.mark.parametrize("flags, message", [
    (["--dns", "1.1.1.x"], "invalid DNS server '1.1.1.x': not an IP address"),
    (["--dns", "none", "--dns", "1.1.1.1"], "none cannot be combined"),
    (["--dns", "none", "--dns-search", "a.example"], "--dns none cannot be combined"),
    (["--dns-search", "bad domain"], "invalid --dns-search 'bad domain'"),
    (["--dns-search", ".", "--dns-search", "a.example"], "'.' (no search domains)"),
    (["--dns-option", ""], "invalid --dns-option ''"),
    (["--add-host", "foo"], "invalid --add-host 'foo': expected HOST:IP"),
    (["--add-host", ":1.2.3.4"], "invalid --add-host ':1.2.3.4'"),
    (["--add-host", "foo:10.0.0.300"], "'10.0.0.300' is not an IP address"),
    (["--no-hosts", "--add-host", "a:1.1.1.1"], "--no-hosts and --add-host"),
    (["--network", "none", "--dns", "1.1.1.1"], "need a network"),
])
def test_bad_values_are_refused_at_create(flags: list[str], message: str,
                                          cli_flags: list[str], rootfs: str) -> None:
    result = run_pypod(*cli_flags, "create", *flags, "--rootfs", rootfs, "true")
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert run_pypod(*cli_flags, "ps", "-a", "-q").stdout == ""


def test_bad_pod_values_are_refused_at_create(cli_flags: list[str], rootfs: str) -> None:
    cases = [
        (["pod", "create", "--network", "host", "--dns", "nope"], "not an IP address"),
        (["pod", "create", "--no-infra", "--add-host", "a:1.1.1.1"], "infra container"),
        (["pod", "create", "--network", "none", "--dns", "1.1.1.1"], "need a network"),
    ]
    for args, message in cases:
        result = run_pypod(*cli_flags, *args)
        assert result.returncode == 125 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    assert run_pypod(*cli_flags, "pod", "ps", "-q").stdout == ""
    assert run_pypod(*cli_flags, "ps", "-a", "-q").stdout == ""
    pod = run_pypod(*cli_flags, "pod", "create", "--network", "host", "--name", "p")
    assert pod.returncode == 0, pod.stderr
    for flag in (["--dns", "1.1.1.1"], ["--add-host", "a:1.1.1.1"], ["--dns-option", "x"]):
        result = run_pypod(*cli_flags, "create", "--pod", "p", *flag, "--rootfs", rootfs,
                           "true")
        assert result.returncode == 125 and "set them when the pod is created" in \
            result.stderr, result.stderr
    ids = run_pypod(*cli_flags, "ps", "-a", "-q", "--no-trunc").stdout.split()
    assert len(ids) == 1  # the infra container only
    run_pypod(*cli_flags, "pod", "rm", "-f", "p")


def test_the_python_api_checks_the_values(make_runtime: Callable[..., Any],
                                          rootfs: str) -> None:
    rt = make_runtime()
    with pytest.raises(TypeError, match="dns_servers"):
        rt.create_container(rootfs, ["true"], network_mode="host", dns_servers="1.1.1.1")
    with pytest.raises(TypeError, match="no_hosts"):
        rt.create_container(rootfs, ["true"], no_hosts="yes")
    with pytest.raises(InvalidArgError, match="not an IP address"):
        rt.create_container(rootfs, ["true"], network_mode="host", dns_servers=["x"])
    with pytest.raises(InvalidArgError, match="expected HOST:IP"):
        rt.create_container(rootfs, ["true"], extra_hosts=["a\nb:1.1.1.1"])
    with pytest.raises(InvalidArgError, match="invalid --dns-option"):
        rt.create_container(rootfs, ["true"], network_mode="host",
                            dns_options=["ndots:1\nnameserver 6.6.6.6"])
    with pytest.raises(InvalidArgError, match="shares the network namespace"):
        base = rt.create_container(rootfs, ["true"], network_mode="host")
        rt.create_container(rootfs, ["true"], shared_namespaces={"net": base.id},
                            extra_hosts=["a:1.1.1.1"])
    assert [c.id for c in rt.containers(all=True)] == [base.id]
    with pytest.raises(InvalidArgError):
        rt.create_pod(network_mode="host", extra_hosts=["bad"])
    assert rt.pods() == []
    ctr = rt.create_container(rootfs, ["true"], network_mode="host",
                              dns_servers=["2001:DB8::1", "1.1.1.1"], dns_search=["."])
    assert ctr.config.dns_servers == ("2001:db8::1", "1.1.1.1")
    assert rt.get_container(ctr.id).config.dns_search == (".",)


def test_records_without_the_fields_still_load() -> None:
    config = ContainerConfig(id="a" * 64, name="old", rootfs="/r", extra_hosts=("a:1.1.1.1",))
    data = to_dict(config)
    assert from_dict(data, ContainerConfig) == config
    for key in (*etc_files.LIST_FIELDS, *etc_files.BOOL_FIELDS):
        del data[key]
    old = from_dict(data, ContainerConfig)
    assert (old.dns_servers, old.extra_hosts, old.no_hosts, old.no_resolv_conf) == (
        (), (), False, False)



@pytest.mark.parametrize("fields, mounted", [
    ({"network_mode": "host"}, ["/etc/hosts", "/etc/resolv.conf"]),
    ({"network_mode": "none"}, ["/etc/hosts"]),  # no network: no resolver either
    ({"network_mode": "host", "no_hosts": True}, ["/etc/resolv.conf"]),
    ({"network_mode": "host", "no_resolv_conf": True}, ["/etc/hosts"]),
])
def test_the_files_written_are_those_inspect_names(tmp_path: Path, fields: dict[str, Any],
                                                   mounted: list[str]) -> None:
    config = ContainerConfig(id="b" * 64, name="c", rootfs="/r", **fields)
    run_dir = tmp_path / "containers" / config.id
    run_dir.mkdir(parents=True)
    pairs = etc_files.write_files(config, str(run_dir))
    assert [ctr_path for _, ctr_path in pairs] == mounted
    assert {c: h for h, c in pairs} == etc_files.managed_files(config, str(run_dir))
    assert all(os.path.exists(host) for host, _ in pairs)


def test_a_pod_member_mounts_its_infra_containers_files(tmp_path: Path) -> None:
    owner = ContainerConfig(id="o" * 64, name="infra", rootfs="/r", network_mode="host")
    owner_dir = tmp_path / owner.id
    owner_dir.mkdir()
    etc_files.write_files(owner, str(owner_dir))
    member = ContainerConfig(id="m" * 64, name="member", rootfs="/r",
                             shared_namespaces={"net": owner.id})
    pairs = etc_files.write_files(member, str(tmp_path / member.id))
    assert pairs == [(str(owner_dir / "hosts"), "/etc/hosts"),
                     (str(owner_dir / "resolv.conf"), "/etc/resolv.conf")]
    assert {c: h for h, c in pairs} == etc_files.managed_files(member, str(tmp_path / member.id))
    assert "member" in (owner_dir / "hosts").read_text()


def test_wrong_types_are_refused_as_every_field_is(make_runtime: Callable[..., Any],
                                                   rootfs: str) -> None:
    rt = make_runtime(state_type="memory")
    for create in (lambda **f: rt.create_container(rootfs, ["true"], **f), rt.create_pod):
        with pytest.raises(TypeError, match=r"^dns_servers: expected a list of strings, "
                                            r"not str '1.1.1.1'$"):
            create(network_mode="host", dns_servers="1.1.1.1")
        with pytest.raises(TypeError, match=r"^no_hosts: expected a boolean, not str"):
            create(no_hosts="yes")
    assert rt.containers(all=True) == [] and rt.pods() == []
