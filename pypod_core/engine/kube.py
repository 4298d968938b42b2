"""``play kube`` and ``kube down``: the pods, containers and volumes of Kubernetes YAML
(:mod:`pypod_core.engine.kube_spec` reads it), made with the runtime's own calls.

Each pod of the YAML becomes a pypod pod of that name (a Deployment's replicas
``<name>-pod-<i>``) with exit policy ``stop``, as podman's: its infra container stops
once its other containers have exited.  Its containers are ``<pod>-<container>``, with
the pod's labels and annotations; its ports are the pod's published ports.  A volume
is a bind mount (hostPath with a ``/``), a named volume (hostPath without one, and a
persistentVolumeClaim's claim), or for an emptyDir a named volume
``<pod>-<volume>`` that ``kube down`` removes with the pod.  A pod that cannot be
made whole is removed again: the store keeps nothing half made.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pypod_core.engine.container import INIT_TYPE_ANNOTATION
from pypod_core.engine.kube_spec import (
    KubeClaim,
    KubeContainer,
    KubePod,
    KubeVolume,
    parse_documents,
)
from pypod_core.errors import (
    InitContainerError,
    InvalidArgError,
    KubeYAMLError,
    NoSuchPodError,
    PypodError,
)
from pypod_core.model import Mount, NamedVolume, PortMapping

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.pod import Pod
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import PullEvent

#: The label of the named volumes made for a pod's emptyDir volumes: the pod's name.
EMPTY_DIR_LABEL = "io.pypod.kube.emptydir"


@attrs.frozen
class PlayedPod:
    """A pod ``play kube`` made: its id, name, and its containers' ids (not the infra
    container's), in the YAML's order."""

    id: str
    name: str
    containers: tuple[str, ...] = ()


@attrs.frozen
class KubeDownReport:
    """What ``kube down`` (or ``play kube --replace``) took away: the pods' ids."""

    stopped: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@attrs.frozen
class PlayKubeReport:
    """What ``play kube`` made: the volumes of PersistentVolumeClaims (their names),
    the pods; with ``replace``, what it removed first."""

    pods: tuple[PlayedPod, ...] = ()
    volumes: tuple[str, ...] = ()
    replaced: KubeDownReport | None = None


@attrs.frozen(kw_only=True)
class PlayOptions:
    """``play kube``'s options: the flags of ``podman kube play`` pypod supports.

    ``network_mode``/``networks``: the pods' network (None: the runtime's default; a
    pod with ``hostNetwork`` has the host's); ``log_driver`` and ``log_fields``
    (``log_path``, ``log_size_max``) for every container; ``annotations`` added to
    every container's; ``authfile``, ``creds``, ``tls_verify`` and ``progress`` for the
    pulls."""

    start: bool = True
    replace: bool = False
    network_mode: str | None = None
    networks: tuple[str, ...] = ()
    no_hosts: bool = False
    log_driver: str = ""
    log_fields: Mapping[str, Any] = attrs.field(factory=dict)
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    authfile: str = ""
    creds: str = ""
    tls_verify: bool | None = None
    progress: Callable[[PullEvent], None] | None = None


def read_source(source: str | os.PathLike[str]) -> str:
    """The YAML text: a path's contents, an ``http(s)://`` URL's body (as podman's), or
    ``source`` itself where it is text (a str with a newline).  KubeYAMLError for a
    file or URL that cannot be read."""
    if isinstance(source, str) and "\n" in source:
        return source
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return _download(source)
    path = os.fspath(source)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeYAMLError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None


def _download(url: str) -> str:
    import urllib.error  # lazy: only play kube of a URL (~20 ms: http.client, ssl)
    import urllib.request  # lazy: as above

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, UnicodeDecodeError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise KubeYAMLError(f"{url}: {why}") from None


def play_kube(runtime: Runtime, source: str | os.PathLike[str],
              options: PlayOptions) -> PlayKubeReport:
    """Make (and, with ``options.start``, start) what the YAML describes."""
    documents = parse_documents(read_source(source))
    _check_options(options, documents)
    replaced = None
    if options.replace:
        replaced = _down(runtime, documents, missing_ok=True)
    volumes = tuple(_claim(runtime, d) for d in documents if isinstance(d, KubeClaim))
    pods = tuple(_play_pod(runtime, d, options) for d in documents
                 if isinstance(d, KubePod))
    return PlayKubeReport(pods=pods, volumes=volumes, replaced=replaced)


def kube_down(runtime: Runtime, source: str | os.PathLike[str]) -> KubeDownReport:
    """Stop and remove the pods the YAML describes (and their emptyDir volumes).
    NoSuchPodError, before anything is removed, if one of them does not exist."""
    return _down(runtime, parse_documents(read_source(source)), missing_ok=False)


def _check_options(options: PlayOptions, documents: Sequence[KubePod | KubeClaim]) -> None:
    for doc in documents:
        if not isinstance(doc, KubePod):
            continue
        if doc.init_containers and not options.start:
            raise InvalidArgError(f"pod {doc.name}: its initContainers run when play kube "
                                  "starts it: --start=false cannot be used with them")
        if doc.annotations.get(INIT_TYPE_ANNOTATION, "once") != "once":
            raise KubeYAMLError(f"metadata.annotations.{INIT_TYPE_ANNOTATION}: "
                                f"{doc.annotations[INIT_TYPE_ANNOTATION]!r}: not supported "
                                "by pypod (init containers run once)")
    if options.log_driver not in ("", "k8s-file", "json-file", "none"):
        raise InvalidArgError(f"--log-driver {options.log_driver}: not supported by pypod "
                              "(k8s-file, json-file, none)")


def _down(runtime: Runtime, documents: Sequence[KubePod | KubeClaim],
          missing_ok: bool) -> KubeDownReport:
    pods: list[Pod] = []
    for doc in documents:
        if not isinstance(doc, KubePod):
            continue
        try:
            pod = runtime.lookup_pod(doc.name)
        except NoSuchPodError:
            if missing_ok:
                continue
            raise NoSuchPodError(f"no pod with name or ID {doc.name} found: no such pod"
                                 ) from None
        if pod.name == doc.name:
            pods.append(pod)
        elif not missing_ok:
            raise NoSuchPodError(f"no pod with name or ID {doc.name} found: no such pod")
    stopped = []
    for pod in pods:
        pod.stop()
        stopped.append(pod.id)
    for pod in pods:
        runtime.remove_pod(pod, force=True)
        _remove_empty_dirs(runtime, pod.name)
    return KubeDownReport(stopped=tuple(stopped), removed=tuple(stopped))


def _remove_empty_dirs(runtime: Runtime, pod_name: str) -> None:
    for volume in runtime.volumes():
        if volume.config.labels.get(EMPTY_DIR_LABEL) == pod_name:
            runtime.remove_volume(volume, force=True)


def _claim(runtime: Runtime, claim: KubeClaim) -> str:
    """A claim's named volume, made unless it exists (as podman's)."""
    if not runtime.has_volume(claim.name):
        runtime.create_volume(claim.name, labels=claim.labels)
    return claim.name


def _play_pod(runtime: Runtime, spec: KubePod, options: PlayOptions) -> PlayedPod:
    inits = len(spec.init_containers)
    images = [_image(runtime, c, options)  # all pulled before the pod is made
              for c in (*spec.init_containers, *spec.containers)]
    host = spec.host_network
    pod = runtime.create_pod(
        spec.name, labels=spec.labels, ports=() if host else _ports(spec),
        network_mode="host" if host else options.network_mode,
        networks=() if host else options.networks, hostname=spec.hostname,
        no_hosts=options.no_hosts, exit_policy="stop")
    try:
        mounts = _volumes(runtime, spec)
        made = [_container(runtime, pod, spec, c, image, mounts, options, init=i < inits)
                for i, (c, image) in enumerate(zip((*spec.init_containers, *spec.containers),
                                                   images, strict=True))]
        for ctr in made[:inits]:
            _run_once(runtime, ctr)
        if options.start:
            pod.start()
    except BaseException:
        with contextlib.suppress(PypodError):  # the first error is the one to tell
            runtime.remove_pod(runtime.get_pod(pod.id), force=True)
            _remove_empty_dirs(runtime, spec.name)
        raise
    return PlayedPod(pod.id, pod.name, tuple(c.id for c in made[inits:]))


def _run_once(runtime: Runtime, ctr: Container) -> None:
    """Run an init container to its exit, then remove it (podman's type ``once``);
    InitContainerError if it did not exit 0."""
    ctr.start()
    code = ctr.wait()
    runtime.remove_container(ctr, force=True)
    if code != 0:
        raise InitContainerError(f"init container {ctr.name} exited with code {code}")


def _ports(spec: KubePod) -> tuple[PortMapping, ...]:
    return tuple(PortMapping(host_port=p.host_port, container_port=p.container_port,
                             protocol=p.protocol, host_ip=p.host_ip)
                 for c in spec.containers for p in c.ports)


def _image(runtime: Runtime, ctr: KubeContainer, options: PlayOptions) -> str:
    """The container's image (its name, or its id), pulled as its imagePullPolicy
    says."""
    if ctr.pull_policy == "missing" and runtime.image_exists(ctr.image):
        return ctr.image  # no registry code for a local image
    image = runtime.pull_image(ctr.image, policy=ctr.pull_policy, authfile=options.authfile,
                               creds=options.creds, tls_verify=options.tls_verify,
                               progress=options.progress)
    # The name as given where it now names the image (inspect's ImageName), else the id.
    return ctr.image if runtime.image_exists(ctr.image) else image.id


def _volumes(runtime: Runtime, spec: KubePod) -> dict[str, KubeVolume]:
    """The pod's volumes by name, each host path checked (or made) as its type says,
    each emptyDir's named volume made."""
    for vol in spec.volumes:
        if vol.kind == "hostPath" and "/" in vol.source:
            _check_host_path(vol)
        elif vol.kind == "emptyDir":
            name = f"{spec.name}-{vol.name}"
            if not runtime.has_volume(name):
                runtime.create_volume(name, labels={EMPTY_DIR_LABEL: spec.name})
    return {v.name: v for v in spec.volumes}


#: hostPath types that must already be there, and the file type each must have.
_MUST_BE = {"Directory": stat.S_ISDIR, "File": stat.S_ISREG, "Socket": stat.S_ISSOCK,
            "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK}


def _check_host_path(vol: KubeVolume) -> None:
    path, kind = vol.source, vol.host_path_type
    try:
        if kind == "DirectoryOrCreate":
            os.makedirs(path, mode=0o755, exist_ok=True)
        elif kind == "FileOrCreate" and not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
            with open(path, "a"):
                pass
        elif kind in _MUST_BE and not _MUST_BE[kind](os.stat(path).st_mode):
            raise KubeYAMLError(f"hostPath {path}: not a {kind}")
    except OSError as exc:
        raise KubeYAMLError(f"hostPath {path}: {exc.strerror}") from None


def _mounts(pod_name: str, ctr: KubeContainer,
            volumes: Mapping[str, KubeVolume]) -> list[Mount | NamedVolume]:
    result: list[Mount | NamedVolume] = []
    for m in ctr.mounts:
        vol = volumes[m.name]
        read_only = m.read_only or vol.read_only
        if vol.kind == "hostPath" and "/" in vol.source:
            result.append(Mount(vol.source, m.mount_path, read_only=read_only))
            continue
        name = f"{pod_name}-{vol.name}" if vol.kind == "emptyDir" else vol.source
        result.append(NamedVolume(name, m.mount_path, ("ro",) if read_only else ()))
    return result


def _container(runtime: Runtime, pod: Pod, spec: KubePod, ctr: KubeContainer, image: str,
               volumes: Mapping[str, KubeVolume], options: PlayOptions,
               init: bool = False) -> Container:
    """The pod's container ``ctr`` (created, not started); an ``init`` one is marked
    so (its exit does not stop the pod) and is never restarted."""
    annotations = {**spec.annotations, **options.annotations}
    annotations.pop(INIT_TYPE_ANNOTATION, None)
    if init:
        annotations[INIT_TYPE_ANNOTATION] = "once"
    fields: dict[str, Any] = {
        **ctr.fields, "labels": dict(spec.labels), "annotations": annotations,
        "restart_policy": "no" if init else spec.restart_policy, **options.log_fields}
    if options.log_driver:
        fields["log_driver"] = options.log_driver
    return runtime.create_container(
        image=image, name=f"{spec.name}-{ctr.name}", pod=pod.id,
        entrypoint=ctr.command, command=ctr.args or (),
        mounts=_mounts(spec.name, ctr, volumes), **fields)
