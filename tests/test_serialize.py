"""pypod_core.serialize without cattrs: the JSON text and plain data are exactly what
cattrs' Converter gave (the state databases hold it), loading gives back equal objects
of the right types, older records (missing keys) and newer ones (unknown keys) load,
and importing the module does not import cattrs."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import attrs
import cattrs
import pytest

from conftest import REPO
from pypod_core.model import (
    ContainerConfig,
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    Mount,
    PodConfig,
    PodRecord,
    PodState,
    PortMapping,
    Rlimit,
)
from pypod_core.plugin.state import DBConfig
from pypod_core.serialize import from_dict, from_json, to_dict, to_json


def full_container() -> ContainerRecord:
    """A container record with every kind of field filled in."""
    config = ContainerConfig(
        id="a" * 64, name="web", rootfs="/srv/rootfs", command=("sh", "-c", "sleep 1"),
        env={"PATH": "/usr/bin", "EMPTY": ""}, workdir="/app", user="1000:1000",
        hostname="web", labels={"app": "web", "tier": "front"}, stop_signal=2,
        stop_timeout=3, mounts=(Mount("/h", "/c"), Mount("/h2", "/c2", read_only=True)),
        rlimits=(Rlimit("RLIMIT_NOFILE", 1024, 2048), Rlimit("RLIMIT_NPROC", 10, 20)),
        read_only=True, privileged=True, auto_remove=True, network_mode="bridge",
        networks=("pypod", "other"), static_ip="10.88.0.9",
        port_mappings=(PortMapping(8080, 80), PortMapping(53, 53, "udp", "127.0.0.1")),
        shared_namespaces={"ipc": "b" * 64, "uts": "b" * 64}, pod="c" * 64,
        namespace="prod", oci_runtime="crun", created=1700000000.125)
    state = ContainerState(
        state=ContainerStatus.RUNNING, pid=42, conmon_pid=41, exit_code=0,
        oom_killed=True, started_at=1700000001.5, finished_at=0.0,
        netns_path="/run/netns/x",
        network_status={"pypod": {"ips": [{"address": "10.88.0.9/16", "gateway": None}],
                                   "dns": {}, "cniVersion": "1.0.0"}},
        reserved_ports=(8080, 53), restart_count=2)
    return ContainerRecord(config, state)


def full_pod() -> PodRecord:
    """A pod record with every field set away from its default."""
    config = PodConfig(id="d" * 64, name="web-pod", labels={"app": "web"},
                       share=("net", "pid"), infra=False,
                       port_mappings=(PortMapping(80, 8080, "tcp", "0.0.0.0"),),
                       namespace="prod", created=1700000002.0)
    return PodRecord(config, PodState(infra_container_id="e" * 64))


def samples() -> list[Any]:
    """Representative objects: records, their halves (stored apart) and defaults."""
    ctr, pod = full_container(), full_pod()
    return [ctr, ctr.config, ctr.state, pod, pod.config, pod.state,
            ContainerRecord(ContainerConfig(id="f" * 64, name="min", rootfs="/r",
                                            created=5.0), ContainerState()),
            DBConfig(static_dir="/var/lib/pypod/static", tmp_dir="/run/pypod/tmp",
                     graph_root="/var/lib/pypod", run_root="/run/pypod",
                     graph_driver="overlay", volume_dir="/var/lib/pypod/volumes"),
            DBConfig()]


def same_types(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``[1] == (1,)`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_types, a, b))
    return bool(a == b)


@pytest.mark.parametrize("obj", samples(), ids=lambda o: type(o).__name__)
def test_output_is_what_cattrs_gave(obj: Any) -> None:
    unstructured = cattrs.Converter().unstructure(obj)
    assert same_types(to_dict(obj), unstructured)
    assert to_json(obj) == json.dumps(unstructured, sort_keys=True, separators=(",", ":"))


def test_enum_and_tuples_in_the_text() -> None:
    text = to_json(full_container())
    assert '"state":"running"' in text and '"command":["sh","-c","sleep 1"]' in text


def test_to_dict_shares_nothing() -> None:
    record = full_container()
    data = to_dict(record)
    data["state"]["network_status"]["pypod"]["ips"][0]["address"] = "changed"
    data["config"]["labels"]["app"] = "changed"
    assert record == full_container()


@pytest.mark.parametrize("obj", samples(), ids=lambda o: type(o).__name__)
def test_round_trip(obj: Any) -> None:
    loaded = from_json(to_json(obj), type(obj))
    assert loaded == obj
    # Equality does not see an enum's value for the member: check the types too.
    assert same_types(to_dict(loaded), to_dict(obj))
    assert loaded == cattrs.Converter().structure(json.loads(to_json(obj)), type(obj))


def test_loaded_fields_have_their_declared_types() -> None:
    record = from_json(to_json(full_container()), ContainerRecord)
    assert type(record.state.state) is ContainerStatus
    assert type(record.config.mounts) is tuple and type(record.config.mounts[1]) is Mount
    assert type(record.config.rlimits[0]) is Rlimit
    assert type(record.config.port_mappings[0]) is PortMapping
    assert type(record.config.command) is tuple and type(record.state.reserved_ports) is tuple
    assert from_json(to_json(full_pod()), PodRecord).config.share == ("net", "pid")


def test_bytes_text_loads() -> None:
    assert from_json(to_json(full_pod()).encode(), PodRecord) == full_pod()


def test_missing_keys_take_the_defaults() -> None:
    """A record written before a field existed loads with the field's default."""
    config = from_json('{"id":"x","name":"old","rootfs":"/r","created":7.0}',
                       ContainerConfig)
    assert config == ContainerConfig(id="x", name="old", rootfs="/r", created=7.0)
    assert config.env == {} and config.env is not ContainerConfig(
        id="y", name="y", rootfs="/").env  # a factory default, not a shared dict
    state = from_json('{"state":"exited","exit_code":3}', ContainerState)
    assert state == ContainerState(state=ContainerStatus.EXITED, exit_code=3)
    assert from_json('{"id":"p","name":"p","created":1.0}', PodConfig).share == (
        "net", "ipc", "uts")
    assert from_json("{}", DBConfig) == DBConfig()
    assert from_json("{}", PodState) == PodState()


def test_unknown_keys_are_ignored() -> None:
    """A record written by a newer pypod (with a field this one lacks) still loads."""
    data = to_dict(full_container())
    data["future"] = 1
    data["state"]["cgroup_path"] = "/sys/fs/cgroup/x"
    data["config"]["mounts"][0]["propagation"] = "rshared"
    assert from_dict(data, ContainerRecord) == full_container()


def test_scalars_are_coerced_as_cattrs_did() -> None:
    state = from_json('{"started_at":5,"pid":"7"}', ContainerState)
    assert type(state.started_at) is float and state.started_at == 5.0
    assert state.pid == 7


@pytest.mark.parametrize("text, cls, error, words", [
    ('{"state":"bogus"}', ContainerState, ValueError, "ContainerState.state:"),
    ('{"pid":"x"}', ContainerState, ValueError, "ContainerState.pid:"),
    ("[]", ContainerState, TypeError, "expected an object"),
    ('{"name":"n","rootfs":"/"}', ContainerConfig, TypeError, "'id'"),
    ('{"id":"i","name":"n","rootfs":"/","mounts":[["/h","/c"]]}', ContainerConfig,
     TypeError, "ContainerConfig.mounts: Mount: expected an object"),
    ('{"config":{},"state":{}}', PodRecord, TypeError, "PodRecord.config:"),
    ("not json", ContainerState, ValueError, ""),
])
def test_bad_data_raises_what_the_sqlite_backend_reports(
        text: str, cls: type, error: type[Exception], words: str) -> None:
    # The SQLite backend turns ValueError, TypeError and KeyError into StateCorruptError.
    with pytest.raises(error) as info:
        from_json(text, cls)
    assert words in str(info.value)


@attrs.define
class _Private:
    _secret: int = 0
    hidden: str = attrs.field(default="h", init=False)


@attrs.define
class _Unsupported:
    values: list[int] | None = None


def test_fields_are_found_by_name_and_set_by_init_argument() -> None:
    assert to_dict(_Private(secret=3)) == {"_secret": 3, "hidden": "h"}
    assert from_dict({"_secret": 3, "hidden": "other"}, _Private) == _Private(secret=3)


def test_a_field_type_it_cannot_structure_fails_loudly() -> None:
    with pytest.raises(TypeError, match="_Unsupported has a field of type"):
        from_dict({}, _Unsupported)


_SCRIPT = """
import sys
from pypod_core.serialize import from_json, to_json
from pypod_core.model import ContainerState
from_json(to_json(ContainerState()), ContainerState)
print("cattrs" in sys.modules)
import pypod_core.config, pypod_core.engine.runtime
print("cattrs" in sys.modules)
import cattrs
print("cattrs" in sys.modules)
"""


def test_serialising_does_not_import_cattrs() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         cwd=REPO, check=True)
    # The last line shows the check can fail.
    assert out.stdout.split() == ["False", "False", "True"]
