"""``play kube`` / ``kube play`` and ``kube down``: pods, containers and volumes from
Kubernetes YAML, from Python (``runtime.play_kube``) and from the command line, with
real runc under conmon, each test on a store and a bridge network of its own.  podman
4.3.1 did what each docstring says with the same YAML.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from conftest import fetch, run_pypod
from pypod_core.engine.kube_spec import default_pull_policy, quantity
from pypod_core.errors import (
    InitContainerError,
    KubeYAMLError,
    NoSuchImageError,
    NoSuchPodError,
)

IMAGE = "kubeimg:1"
#: A process that ends at once on SIGTERM (busybox's sleep as PID 1 would not).
WAIT = "trap 'exit 0' TERM; sleep 60 & wait"
Pypod = Callable[..., subprocess.CompletedProcess[str]]


def pod_yaml(name: str = "web", containers: str = "", spec: str = "",
             metadata: str = "") -> str:
    """A kind Pod named ``name`` with ``containers`` (YAML list items, indented 2)."""
    containers = containers or (f"  - name: ctr\n    image: {IMAGE}\n"
                                f"    command: [sh, -c, \"{WAIT}\"]\n")
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{metadata}"
            f"spec:\n{spec}  containers:\n{containers}")


@pytest.fixture
def runtime(net_runtime: Any, busybox_tar: str) -> Iterator[Any]:
    """A runtime on this test's store and network, holding the image ``kubeimg:1``; every
    pod left is removed afterwards."""
    net_runtime.import_image([busybox_tar], {"config": {"Cmd": ["sh"]}}, names=[IMAGE])
    yield net_runtime
    for pod in net_runtime.pods():
        net_runtime.remove_pod(pod, force=True, timeout=0)


@pytest.fixture
def pypod(runtime: Any, net_config: str) -> Pypod:
    """``pypod(*args)`` on the same store as ``runtime``."""
    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_pypod("--config", net_config, *args, **kwargs)
    return call


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_pod_with_its_metadata_process_and_environment(runtime: Any) -> None:
    """The pod is named as the YAML, has its labels and exit policy ``stop``; each
    container is ``<pod>-<name>`` with command as entrypoint, args as arguments, env,
    workingDir, the pod's labels and annotations, and the restart policy."""
    containers = (f"  - name: ctr\n    image: {IMAGE}\n    command: [sh, -c]\n"
                  f"    args: [\"echo $GREETING from $PWD; {WAIT}\"]\n    workingDir: /tmp\n"
                  "    env:\n    - name: GREETING\n      value: hello\n")
    report = runtime.play_kube(pod_yaml(
        containers=containers, spec="  restartPolicy: OnFailure\n  hostname: shop\n",
        metadata="  labels:\n    app: web\n  annotations:\n    team: blue\n"))
    (played,) = report.pods
    pod = runtime.lookup_pod("web")
    assert (played.id, played.name) == (pod.id, "web")
    assert pod.config.exit_policy == "stop" and pod.config.labels == {"app": "web"}
    ctr = runtime.lookup_container("web-ctr")
    assert played.containers == (ctr.id,)
    c = ctr.config
    assert c.entrypoint == ("sh", "-c") and c.command[-1].startswith("echo $GREETING")
    assert c.env["GREETING"] == "hello" and c.workdir == "/tmp" and c.hostname == "shop"
    assert c.labels["app"] == "web" and c.annotations["team"] == "blue"
    assert (c.restart_policy, c.pod) == ("on-failure", pod.id)
    wait_for(lambda: any(b"hello from /tmp" in line.data for line in ctr.logs()))


def test_the_pod_exits_once_its_containers_have(pypod: Pypod, tmp_path: Path) -> None:
    """podman's system test: a container running ``true`` with restartPolicy OnFailure;
    the pod's exit policy is ``stop``, so the pod ends up Exited."""
    yaml = tmp_path / "exits.yaml"
    yaml.write_text(pod_yaml("exits", f"  - command: [\"true\"]\n    image: {IMAGE}\n"
                             "    name: ctr\n", spec="  restartPolicy: OnFailure\n"))
    ok(pypod("play", "kube", str(yaml)))
    assert ok(pypod("pod", "inspect", "exits", "--format", "{{.ExitPolicy}}")) == "stop\n"
    wait_for(lambda: ok(pypod("pod", "inspect", "exits", "--format", "{{.State}}"))
             == "Exited\n")
    ok(pypod("pod", "rm", "exits"))


def test_the_command_lines_report_replace_and_down(pypod: Pypod, tmp_path: Path) -> None:
    """``Pod:``, its id, ``Container:`` (``Containers:`` for several), their ids and an
    empty line; ``--replace`` and ``kube down`` print ``Pods stopped:``/``Pods
    removed:``; down of a pod that is not there is an error (125)."""
    yaml = tmp_path / "pod.yaml"
    yaml.write_text(pod_yaml())
    out = ok(pypod("play", "kube", str(yaml))).split("\n")
    pod_id = ok(pypod("pod", "inspect", "web", "--format", "{{.Id}}")).strip()
    ctr_id = ok(pypod("inspect", "web-ctr", "--format", "{{.Id}}")).strip()
    assert out == ["Pod:", pod_id, "Container:", ctr_id, "", ""]
    assert ok(pypod("ps", "--format", "{{.Names}} {{.State}}", "--filter", "name=web-ctr")) \
        == "web-ctr running\n"
    again = pypod("kube", "play", str(yaml))
    assert again.returncode == 125 and "web" in again.stderr and "in use" in again.stderr
    out = ok(pypod("play", "kube", "--replace", str(yaml))).split("\n")
    new_id = ok(pypod("pod", "inspect", "web", "--format", "{{.Id}}")).strip()
    assert out[:5] == ["Pods stopped:", pod_id, "Pods removed:", pod_id, "Pod:"]
    assert out[5] == new_id != pod_id
    assert ok(pypod("kube", "down", str(yaml))) == \
        f"Pods stopped:\n{new_id}\nPods removed:\n{new_id}\n"
    assert pypod("pod", "exists", "web").returncode == 1
    gone = pypod("kube", "down", str(yaml))
    assert gone.returncode == 125
    assert gone.stderr.strip() == "Error: no pod with name or ID web found: no such pod"


def test_yaml_from_stdin_several_documents_and_start_false(pypod: Pypod) -> None:
    """``-`` reads stdin; each document is played in order; a Deployment's replicas are
    pods ``<name>-pod-<i>``; ``--start=false`` creates them without starting."""
    deployment = (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dep\nspec:\n"
                  f"  replicas: 2\n  template:\n    metadata:\n      labels:\n        a: b\n"
                  f"    spec:\n      containers:\n      - name: c\n        image: {IMAGE}\n")
    out = ok(pypod("play", "kube", "--start=false", "-", input=pod_yaml("one") + "---\n"
                   + deployment))
    assert out.count("Pod:\n") == 3
    names = ok(pypod("ps", "-a", "--format", "{{.Names}} {{.State}}", "--filter",
                     "label=a=b")).split("\n")
    assert sorted(names) == ["", "dep-pod-0-c created", "dep-pod-1-c created"]
    assert ok(pypod("inspect", "one-ctr", "--format", "{{.State.Status}}")) == "created\n"


def test_the_flags_reach_every_container(pypod: Pypod, runtime: Any,
                                         tmp_path: Path) -> None:
    """--network, --no-hosts, --log-driver, --log-opt and --annotation set what their
    names say, for every container of every pod."""
    yaml = tmp_path / "pod.yaml"
    yaml.write_text(pod_yaml())
    log = tmp_path / "ctr.log"
    ok(pypod("kube", "play", "--network", "none", "--no-hosts", "--log-driver", "k8s-file",
             "--log-opt", f"path={log}", "--annotation", "owner=ops", "-q", str(yaml)))
    pod = runtime.lookup_pod("web")
    infra = runtime.get_container(pod.state.infra_container_id).config
    assert (infra.network_mode, infra.no_hosts) == ("none", True)
    c = runtime.lookup_container("web-ctr").config
    assert c.annotations["owner"] == "ops" and c.log_path == str(log)
    wait_for(log.exists)
    ok(pypod("kube", "down", str(yaml)))
    ok(pypod("play", "kube", "--log-driver", "none", "--start=false", str(yaml)))
    assert runtime.lookup_container("web-ctr").config.log_driver == "none"
    bad = pypod("play", "kube", "--log-driver", "journald", str(yaml))
    assert bad.returncode == 125 and "--log-driver journald: not supported" in bad.stderr


def test_yaml_from_a_url(runtime: Any) -> None:
    """An http URL's body is the YAML (here a server on loopback); one that cannot be
    fetched is an error naming it."""
    import http.server
    import threading

    body = pod_yaml("fromurl").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            found = self.path == "/pod.yaml"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(body if found else b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        runtime.play_kube(f"{base}/pod.yaml", start=False)
        assert runtime.lookup_pod("fromurl").name == "fromurl"
        with pytest.raises(KubeYAMLError, match=f"{base}/missing.yaml: Not Found"):
            runtime.play_kube(f"{base}/missing.yaml")
    finally:
        server.shutdown()
        server.server_close()


def test_volumes_host_path_empty_dir_and_claims(runtime: Any, tmp_path: Path) -> None:
    """hostPath (DirectoryOrCreate makes the directory) is a bind mount; an emptyDir is
    one volume the pod's containers share, removed by ``kube down``; a claim is a named
    volume that stays; readOnly mounts are read-only."""
    host = tmp_path / "made" / "here"
    containers = "".join(
        f"  - name: {n}\n    image: {IMAGE}\n    command: [sh, -c, \"{cmd}; {WAIT}\"]\n"
        "    volumeMounts:\n    - {name: host, mountPath: /host}\n"
        "    - {name: shared, mountPath: /shared}\n"
        "    - {name: data, mountPath: /data, readOnly: true}\n"
        for n, cmd in (("a", "echo a > /shared/a; echo h > /host/h"), ("b", "true")))
    volumes = ("  volumes:\n"
               f"  - name: host\n    hostPath: {{path: {host}, type: DirectoryOrCreate}}\n"
               "  - name: shared\n    emptyDir: {}\n"
               "  - name: data\n    persistentVolumeClaim: {claimName: keep}\n")
    yaml = pod_yaml("vols", containers, spec=volumes)
    runtime.play_kube(yaml)
    wait_for(lambda: (host / "h").exists())
    b = runtime.lookup_container("vols-b")
    assert b.exec(["test", "-f", "/shared/a"]) == 0  # a's file, in b's emptyDir
    assert b.exec(["touch", "/data/x"]) != 0  # the claim, mounted read-only
    assert runtime.has_volume("vols-shared") and runtime.has_volume("keep")
    shared = runtime.get_volume("vols-shared")
    wait_for(lambda: os.path.exists(os.path.join(shared.mount_point, "a")))
    named = {v.name: v for v in b.config.named_volumes}
    assert named["keep"].read_only and not named["vols-shared"].read_only
    assert [m.source for m in b.config.mounts] == [str(host)]
    report = runtime.kube_down(yaml)
    assert len(report.removed) == 1
    assert not runtime.has_volume("vols-shared") and runtime.has_volume("keep")


def test_init_containers_run_to_their_end_first_and_go(runtime: Any) -> None:
    """Each init container runs, in order, to a successful exit before the pod's
    containers start, and is removed (podman's type ``once``); the pod goes on (exit
    policy stop counts no init container); one that fails stops the play, and the pod
    is removed."""
    inits = ("  initContainers:\n" + "".join(
        f"  - name: {n}\n    image: {IMAGE}\n    command: [sh, -c, \"{cmd}\"]\n"
        "    volumeMounts:\n    - {name: work, mountPath: /work}\n"
        for n, cmd in (("first", "echo 1 > /work/f"), ("second", "cat /work/f > /work/s"))))
    containers = (f"  - name: main\n    image: {IMAGE}\n"
                  f"    command: [sh, -c, \"cat /work/s; {WAIT}\"]\n"
                  "    volumeMounts:\n    - {name: work, mountPath: /work}\n")
    volumes = "  volumes:\n  - name: work\n    emptyDir: {}\n"
    (played,) = runtime.play_kube(pod_yaml("init", containers, spec=inits + volumes)).pods
    main = runtime.lookup_container("init-main")
    assert played.containers == (main.id,)
    assert [c.name for c in runtime.lookup_pod("init").containers()
            if not c.config.is_infra] == ["init-main"]
    wait_for(lambda: any(line.data == b"1\n" for line in main.logs()))
    time.sleep(0.5)  # an init container's exit must not have stopped the pod
    assert runtime.lookup_pod("init").status() == "Running"
    failing = inits.replace("cat /work/f > /work/s", "exit 3")
    with pytest.raises(InitContainerError, match="init container bad-second exited with "
                                                 "code 3"):
        runtime.play_kube(pod_yaml("bad", containers, spec=failing + volumes))
    assert [p.name for p in runtime.pods()] == ["init"]
    assert not runtime.has_volume("bad-work")


def test_what_podmans_generate_kube_writes_plays(runtime: Any) -> None:
    """Fields of features pypod lacks, written false (their off value), and the fields
    a cluster reports (``status``, ``creationTimestamp``) are taken; true is refused."""
    spec = "  automountServiceAccountToken: false\n  enableServiceLinks: false\n"
    yaml = pod_yaml(spec=spec, metadata="  creationTimestamp: \"2026-01-01T00:00:00Z\"\n")
    runtime.play_kube(yaml + "status: {}\n", start=False)
    assert runtime.lookup_pod("web").name == "web"
    with pytest.raises(KubeYAMLError, match="spec.enableServiceLinks: true: not supported"):
        runtime.play_kube(pod_yaml("other", spec="  enableServiceLinks: true\n"))


def test_resources_and_security_context(runtime: Any) -> None:
    """limits memory and cpu, requests memory, runAsUser/runAsGroup, capabilities,
    privileged and readOnlyRootFilesystem become the container's settings."""
    containers = (f"  - name: ctr\n    image: {IMAGE}\n    command: [sh, -c, \"{WAIT}\"]\n"
                  "    resources:\n      limits: {memory: 64Mi, cpu: 500m}\n"
                  "      requests: {memory: 32Mi}\n"
                  "    securityContext:\n      runAsUser: 1000\n      runAsGroup: 100\n"
                  "      readOnlyRootFilesystem: true\n"
                  "      capabilities: {add: [NET_ADMIN], drop: [CHOWN]}\n")
    runtime.play_kube(pod_yaml(containers=containers), start=False)
    c = runtime.lookup_container("web-ctr").config
    assert (c.memory, c.memory_reservation) == (64 << 20, 32 << 20)
    assert (c.cpu_quota, c.cpu_period) == (50_000, 100_000)
    assert c.user == "1000:100" and c.read_only and not c.privileged
    assert "CAP_NET_ADMIN" in c.cap_add and "CAP_CHOWN" in c.cap_drop


def test_a_host_port_is_the_pods_published_port(pypod: Pypod, tmp_path: Path,
                                                www: Path) -> None:
    """ports: containerPort 80, hostPort H: the pod's published port, reached on the host."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    containers = (f"  - name: srv\n    image: {IMAGE}\n"
                  "    command: [httpd, -f, -p, \"80\", -h, /www]\n"
                  f"    ports:\n    - {{containerPort: 80, hostPort: {port}}}\n"
                  "    volumeMounts:\n    - {name: www, mountPath: /www}\n")
    yaml = tmp_path / "srv.yaml"
    yaml.write_text(pod_yaml("srv", containers, spec=f"  volumes:\n  - name: www\n"
                             f"    hostPath: {{path: {www}, type: Directory}}\n"))
    ok(pypod("play", "kube", str(yaml)))
    assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
    assert str(port) in ok(pypod("pod", "inspect", "srv", "--format",
                                 "{{.InfraConfig.PortBindings}}"))


@pytest.mark.parametrize("change, field", [
    ("    livenessProbe: {exec: {command: [true]}}\n", "spec.containers[0].livenessProbe"),
    ("    env:\n    - name: A\n      valueFrom: {fieldRef: {fieldPath: x}}\n",
     "spec.containers[0].env[0].valueFrom"),
    ("    volumeMounts:\n    - {name: nowhere, mountPath: /x}\n",
     "spec.containers[0].volumeMounts: no volume named 'nowhere'"),
    ("    securityContext: {seLinuxOptions: {level: s0}}\n",
     "spec.containers[0].securityContext.seLinuxOptions"),
    ("    imagePullPolicy: Sometimes\n", "spec.containers[0].imagePullPolicy"),
])
def test_a_field_pypod_does_not_play_is_refused_by_name(runtime: Any, change: str,
                                                        field: str) -> None:
    containers = f"  - name: ctr\n    image: {IMAGE}\n{change}"
    with pytest.raises(KubeYAMLError, match=field.replace("[", r"\[").replace("]", r"\]")):
        runtime.play_kube(pod_yaml(containers=containers))
    assert runtime.pods() == [] and runtime.containers() == []


def test_the_command_line_refuses_kinds_flags_and_bad_yaml(pypod: Pypod,
                                                           tmp_path: Path) -> None:
    """One line, exit 125, nothing made."""
    yaml = tmp_path / "pod.yaml"
    yaml.write_text(pod_yaml())
    for argv, text, says in (
            (["-"], "kind: Service\nmetadata: {name: s}\n", "kind 'Service': not supported"),
            (["-"], "a: [\n", "invalid YAML"),
            (["--start=false", "-"], pod_yaml(spec=f"  initContainers:\n  - {{name: i, "
                                                  f"image: {IMAGE}}}\n"),
             "--start=false cannot be used with them"),
            (["--configmap", "cm.yaml", str(yaml)], None, "--configmap: ConfigMaps"),
            (["--mac-address", "92:d0:c6:0a:29:33", str(yaml)], None, "--mac-address"),
            ([str(tmp_path / "missing.yaml")], None, "No such file or directory")):
        result = pypod("play", "kube", *argv, input=text)
        assert result.returncode == 125, result.stderr
        assert says in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert ok(pypod("pod", "ps", "-q")) == ""


def test_an_image_that_cannot_be_had_leaves_nothing(runtime: Any) -> None:
    """imagePullPolicy Never and no such image: the image's error; no pod is made."""
    containers = "  - name: ctr\n    image: not-here:1\n    imagePullPolicy: Never\n"
    with pytest.raises(NoSuchImageError):
        runtime.play_kube(pod_yaml(containers=containers))
    assert runtime.pods() == []
    with pytest.raises(NoSuchPodError):
        runtime.kube_down(pod_yaml())


def test_quantities_and_default_pull_policies() -> None:
    assert quantity("128Mi", "m") == 128 << 20 and quantity("1G", "m") == 10 ** 9
    assert quantity("500m", "c") == Fraction(1, 2) and quantity(2, "c") == 2
    with pytest.raises(KubeYAMLError, match="limits.memory: invalid quantity '1 GB'"):
        quantity("1 GB", "limits.memory")
    assert default_pull_policy("quay.io/x/y:20221018") == "missing"
    assert default_pull_policy("docker.io/library/busybox") == "newer"
    assert default_pull_policy("registry:5000/busybox:latest") == "newer"
    assert default_pull_policy("localhost/mine:latest") == "missing"
