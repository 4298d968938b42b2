"""Kubernetes YAML as ``play kube`` reads it: the documents of a file turned into typed,
checked values (:class:`KubePod`, :class:`KubeClaim`), before anything is made.

The reading is strict: a kind or a field pypod does not play is refused by name
(``KubeYAMLError: spec.containers[0].livenessProbe: not supported by pypod``), never
skipped.  Two fields are read and left alone by design, since Kubernetes itself never
takes them as input: ``status`` (what a cluster reports) and
``metadata.creationTimestamp``.  PyYAML is imported only here, only when a file is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import attrs

from pypod_core.errors import KubeYAMLError

#: The Kubernetes restart policies, as the container restart policies they set.
RESTART_POLICIES: dict[str, str] = {"Always": "always", "OnFailure": "on-failure",
                                    "Never": "no"}
#: imagePullPolicy, as pypod's pull policies.
PULL_POLICIES: dict[str, str] = {"Always": "always", "IfNotPresent": "missing",
                                 "Never": "never"}
#: hostPath's ``type`` values (podman's set); "" checks nothing.
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice")
#: The CFS period a CPU limit is a quota of, in microseconds (podman's).
CPU_PERIOD = 100_000
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"": 0, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_QUANTITY = re.compile(r"^([+]?[0-9]*\.?[0-9]+)([a-zA-Z]*)$")


@attrs.frozen
class KubeVolume:
    """A pod's volume: ``kind`` is ``hostPath`` (``source`` a host path, or a named
    volume's name when it has no ``/``, as podman's), ``emptyDir`` or
    ``persistentVolumeClaim`` (``source`` the claim's name: a pypod named volume)."""

    name: str
    kind: str
    source: str = ""
    host_path_type: str = ""
    read_only: bool = False


@attrs.frozen
class KubeMount:
    """A container's volumeMount: the pod volume's name, where it goes, read-only."""

    name: str
    mount_path: str
    read_only: bool = False


@attrs.frozen
class KubePort:
    """A container port the pod publishes (a missing hostPort is the containerPort,
    as podman's)."""

    container_port: int
    host_port: int
    protocol: str = "tcp"
    host_ip: str = ""


@attrs.frozen(kw_only=True)
class KubeContainer:
    """One entry of ``spec.containers``, checked; ``fields`` are the
    ``create_container`` keywords it sets beyond the process and the mounts."""

    name: str
    image: str
    pull_policy: str
    #: ``command`` (the entrypoint) and ``args`` (its arguments); None where not given.
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    mounts: tuple[KubeMount, ...] = ()
    ports: tuple[KubePort, ...] = ()
    fields: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class KubePod:
    """A pod to play: from a kind Pod, or one replica of a Deployment."""

    name: str
    labels: dict[str, str] = attrs.field(factory=dict)
    annotations: dict[str, str] = attrs.field(factory=dict)
    hostname: str = ""
    host_network: bool = False
    restart_policy: str = "always"
    containers: tuple[KubeContainer, ...] = ()
    #: Run one after the other, each to a successful exit, before ``containers`` start.
    init_containers: tuple[KubeContainer, ...] = ()
    volumes: tuple[KubeVolume, ...] = ()


@attrs.frozen
class KubeClaim:
    """A PersistentVolumeClaim: a pypod named volume of that name."""

    name: str
    labels: dict[str, str] = attrs.field(factory=dict)


# -- the generic checks -------------------------------------------------------------------


def _refuse(path: str, why: str = "not supported by pypod") -> KubeYAMLError:
    return KubeYAMLError(f"{path}: {why}")


def _mapping(value: Any, path: str, allowed: Iterable[str]) -> dict[str, Any]:
    """``value`` as a mapping whose keys are all ``allowed`` (None is an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _refuse(path, f"expected a mapping, not {type(value).__name__}")
    known = set(allowed)
    for key in value:
        if key not in known:
            raise _refuse(f"{path}.{key}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _refuse(path, f"expected a list, not {type(value).__name__}")
    return value


def _str(value: Any, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _refuse(path, f"expected a string, not {type(value).__name__}")
    return str(value)


def _strings(value: Any, path: str) -> tuple[str, ...]:
    return tuple(_str(v, f"{path}[{i}]") for i, v in enumerate(_list(value, path)))


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(path, f"expected an integer, not {value!r}")
    return value


def _bool(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _refuse(path, f"expected true or false, not {value!r}")
    return value


def _str_map(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _refuse(path, f"expected a mapping, not {type(value).__name__}")
    return {str(k): _str(v, f"{path}.{k}") for k, v in value.items()}


def quantity(value: Any, path: str) -> Fraction:
    """A Kubernetes quantity (``128Mi``, ``1G``, ``500m``, ``0.5``) as a number."""
    match = _QUANTITY.match(str(value).strip()) if not isinstance(value, bool) else None
    if match is None:
        raise _refuse(path, f"invalid quantity {value!r}")
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * 1024 ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * 1000 ** _DECIMAL[suffix]
    if suffix == "m":
        return number / 1000
    raise _refuse(path, f"invalid quantity {value!r}")


# -- documents ------------------------------------------------------------------------------


def parse_documents(text: str) -> list[KubePod | KubeClaim]:
    """Every document of ``text`` (``---`` separated), in order; empty documents are
    none.  KubeYAMLError for malformed YAML, a kind pypod does not play, or a field it
    does not support."""
    import yaml  # lazy: only play kube reads YAML (~35 ms)

    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise KubeYAMLError(f"invalid YAML: {' '.join(str(exc).split())}") from None
    result: list[KubePod | KubeClaim] = []
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise KubeYAMLError("a YAML document is not a mapping of a kind")
        kind = doc.get("kind")
        if kind == "Pod":
            result.append(_pod(doc))
        elif kind == "Deployment":
            result.extend(_deployment(doc))
        elif kind == "PersistentVolumeClaim":
            result.append(_claim(doc))
        else:
            raise KubeYAMLError(f"kind {kind!r}: not supported by pypod (Pod, Deployment "
                                "and PersistentVolumeClaim are)")
    return result


def _metadata(doc: dict[str, Any], path: str = "metadata") -> tuple[str, dict[str, str],
                                                                    dict[str, str]]:
    meta = _mapping(doc.get("metadata"), path,
                    ("name", "labels", "annotations", "creationTimestamp"))
    return (_str(meta.get("name"), f"{path}.name"),
            _str_map(meta.get("labels"), f"{path}.labels"),
            _str_map(meta.get("annotations"), f"{path}.annotations"))


def _pod(doc: dict[str, Any]) -> KubePod:
    _mapping(doc, "Pod", ("apiVersion", "kind", "metadata", "spec", "status"))
    name, labels, annotations = _metadata(doc)
    if not name:
        raise KubeYAMLError("metadata.name: a Pod needs a name")
    return pod_spec(doc.get("spec"), "spec", name, labels, annotations)


def _deployment(doc: dict[str, Any]) -> list[KubePod]:
    """One pod per replica, named ``<deployment>-pod-<i>`` as podman's."""
    _mapping(doc, "Deployment", ("apiVersion", "kind", "metadata", "spec", "status"))
    name, _, annotations = _metadata(doc)
    if not name:
        raise KubeYAMLError("metadata.name: a Deployment needs a name")
    spec = _mapping(doc.get("spec"), "spec", ("replicas", "selector", "template"))
    replicas = 1 if spec.get("replicas") is None else _int(spec["replicas"], "spec.replicas")
    if replicas < 0:
        raise _refuse("spec.replicas", f"must not be negative, not {replicas}")
    template = _mapping(spec.get("template"), "spec.template", ("metadata", "spec"))
    _, labels, own = _metadata(template, "spec.template.metadata")
    return [pod_spec(template.get("spec"), "spec.template.spec", f"{name}-pod-{i}", labels,
                     {**annotations, **own}) for i in range(replicas)]


def _claim(doc: dict[str, Any]) -> KubeClaim:
    _mapping(doc, "PersistentVolumeClaim", ("apiVersion", "kind", "metadata", "spec",
                                            "status"))
    name, labels, annotations = _metadata(doc)
    if not name:
        raise KubeYAMLError("metadata.name: a PersistentVolumeClaim needs a name")
    if annotations:
        raise _refuse(f"metadata.annotations.{next(iter(annotations))}",
                      "volume options from annotations are not supported by pypod")
    # A claim's access modes and size request say nothing to a local volume.
    _mapping(doc.get("spec"), "spec", ("accessModes", "resources"))
    return KubeClaim(name, labels)


#: Pod fields of Kubernetes features pypod does not have (a service account token,
#: services' environment variables): false, their off value, is what pypod does.
_OFF_ONLY = ("automountServiceAccountToken", "enableServiceLinks")


def pod_spec(value: Any, path: str, name: str, labels: dict[str, str],
             annotations: dict[str, str]) -> KubePod:
    """A pod's ``spec`` (of a Pod, or a Deployment's template) as a KubePod."""
    spec = _mapping(value, path, ("containers", "volumes", "hostname", "hostNetwork",
                                  "restartPolicy", "initContainers", *_OFF_ONLY))
    for key in _OFF_ONLY:  # podman's generate kube writes them false
        if _bool(spec.get(key), f"{path}.{key}"):
            raise _refuse(f"{path}.{key}", "true: not supported by pypod (false is)")
    policy = _str(spec.get("restartPolicy"), f"{path}.restartPolicy") or "Always"
    if policy not in RESTART_POLICIES:
        raise _refuse(f"{path}.restartPolicy", f"invalid restart policy {policy!r} "
                      "(Always, OnFailure or Never)")
    volumes = tuple(_volume(v, f"{path}.volumes[{i}]")
                    for i, v in enumerate(_list(spec.get("volumes"), f"{path}.volumes")))
    containers = tuple(_container(c, f"{path}.containers[{i}]") for i, c in
                       enumerate(_list(spec.get("containers"), f"{path}.containers")))
    if not containers:
        raise _refuse(f"{path}.containers", "a pod needs at least one container")
    inits = tuple(_container(c, f"{path}.initContainers[{i}]") for i, c in
                  enumerate(_list(spec.get("initContainers"), f"{path}.initContainers")))
    _check_references({"initContainers": inits, "containers": containers}, volumes, path)
    return KubePod(name=name, labels=labels, annotations=annotations,
                   hostname=_str(spec.get("hostname"), f"{path}.hostname"),
                   host_network=_bool(spec.get("hostNetwork"), f"{path}.hostNetwork"),
                   restart_policy=RESTART_POLICIES[policy], containers=containers,
                   init_containers=inits, volumes=volumes)


def _check_references(lists: dict[str, tuple[KubeContainer, ...]],
                      volumes: tuple[KubeVolume, ...], path: str) -> None:
    """Container names unique across ``lists`` (key -> containers); each volumeMount
    naming one of ``volumes``."""
    names = [c.name for ctrs in lists.values() for c in ctrs]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise _refuse(f"{path}.containers", f"two containers named {sorted(twice)[0]!r}")
    known = {v.name for v in volumes}
    for key, ctrs in lists.items():
        for i, ctr in enumerate(ctrs):
            for mount in ctr.mounts:
                if mount.name not in known:
                    raise _refuse(f"{path}.{key}[{i}].volumeMounts",
                                  f"no volume named {mount.name!r} in {path}.volumes")


def _volume(value: Any, path: str) -> KubeVolume:
    vol = _mapping(value, path, ("name", "hostPath", "emptyDir", "persistentVolumeClaim"))
    name = _str(vol.get("name"), f"{path}.name")
    if not name:
        raise _refuse(f"{path}.name", "a volume needs a name")
    kinds = [k for k in ("hostPath", "emptyDir", "persistentVolumeClaim") if k in vol]
    if len(kinds) != 1:
        raise _refuse(path, "a volume needs exactly one of hostPath, emptyDir and "
                      "persistentVolumeClaim (the types pypod supports)")
    kind = kinds[0]
    if kind == "hostPath":
        host = _mapping(vol[kind], f"{path}.hostPath", ("path", "type"))
        kind_type = _str(host.get("type"), f"{path}.hostPath.type")
        if kind_type not in HOST_PATH_TYPES:
            raise _refuse(f"{path}.hostPath.type", f"invalid hostPath type {kind_type!r}")
        source = _str(host.get("path"), f"{path}.hostPath.path")
        if not source:
            raise _refuse(f"{path}.hostPath.path", "a hostPath needs a path")
        return KubeVolume(name, kind, source, kind_type)
    if kind == "emptyDir":
        _mapping(vol[kind], f"{path}.emptyDir", ())  # medium, sizeLimit: refused
        return KubeVolume(name, kind)
    claim = _mapping(vol[kind], f"{path}.persistentVolumeClaim", ("claimName", "readOnly"))
    claim_name = _str(claim.get("claimName"), f"{path}.persistentVolumeClaim.claimName")
    if not claim_name:
        raise _refuse(f"{path}.persistentVolumeClaim.claimName", "a claim needs a name")
    return KubeVolume(name, kind, claim_name, "",
                      _bool(claim.get("readOnly"), f"{path}.persistentVolumeClaim.readOnly"))


_CONTAINER_KEYS = ("name", "image", "imagePullPolicy", "command", "args", "env",
                   "workingDir", "ports", "volumeMounts", "resources", "securityContext",
                   "stdin", "tty")


def _container(value: Any, path: str) -> KubeContainer:
    ctr = _mapping(value, path, _CONTAINER_KEYS)
    name = _str(ctr.get("name"), f"{path}.name")
    image = _str(ctr.get("image"), f"{path}.image")
    if not name or not image:
        raise _refuse(path, "a container needs a name and an image")
    policy = _str(ctr.get("imagePullPolicy"), f"{path}.imagePullPolicy")
    if policy and policy not in PULL_POLICIES:
        raise _refuse(f"{path}.imagePullPolicy", f"invalid pull policy {policy!r} (Always, "
                      "IfNotPresent or Never)")
    fields: dict[str, Any] = {"env": _env(ctr.get("env"), f"{path}.env"),
                              "terminal": _bool(ctr.get("tty"), f"{path}.tty"),
                              "stdin": _bool(ctr.get("stdin"), f"{path}.stdin")}
    workdir = _str(ctr.get("workingDir"), f"{path}.workingDir")
    if workdir:
        fields.update(workdir=workdir, create_workdir=False)
    fields.update(_resources(ctr.get("resources"), f"{path}.resources"))
    fields.update(_security(ctr.get("securityContext"), f"{path}.securityContext"))
    return KubeContainer(
        name=name, image=image, pull_policy=PULL_POLICIES[policy] if policy
        else default_pull_policy(image),
        command=_strings(ctr["command"], f"{path}.command") if "command" in ctr else None,
        args=_strings(ctr["args"], f"{path}.args") if "args" in ctr else None,
        mounts=tuple(_mount(m, f"{path}.volumeMounts[{i}]") for i, m in
                     enumerate(_list(ctr.get("volumeMounts"), f"{path}.volumeMounts"))),
        ports=tuple(_port(p, f"{path}.ports[{i}]") for i, p in
                    enumerate(_list(ctr.get("ports"), f"{path}.ports"))),
        fields=fields)


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: ``Always`` for a ``:latest`` or untagged image (as pypod's
    ``newer``: the local one when the registry has the same, or cannot be asked), else
    ``IfNotPresent``.  An image of ``localhost/`` is one built here: never pulled."""
    if "@" in image or image.startswith("localhost/"):
        return "missing"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "newer" if tag in ("", "latest") else "missing"


def _env(value: Any, path: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for i, item in enumerate(_list(value, path)):
        entry = _mapping(item, f"{path}[{i}]", ("name", "value", "valueFrom"))
        if "valueFrom" in entry:
            raise _refuse(f"{path}[{i}].valueFrom")
        key = _str(entry.get("name"), f"{path}[{i}].name")
        if not key:
            raise _refuse(f"{path}[{i}].name", "an environment variable needs a name")
        env[key] = _str(entry.get("value"), f"{path}[{i}].value")
    return env


def _mount(value: Any, path: str) -> KubeMount:
    mount = _mapping(value, path, ("name", "mountPath", "readOnly"))
    name, where = _str(mount.get("name"), f"{path}.name"), _str(mount.get("mountPath"),
                                                                  f"{path}.mountPath")
    if not name or not where.startswith("/"):
        raise _refuse(path, "a volumeMount needs a name and an absolute mountPath")
    return KubeMount(name, where, _bool(mount.get("readOnly"), f"{path}.readOnly"))


def _port(value: Any, path: str) -> KubePort:
    port = _mapping(value, path, ("containerPort", "hostPort", "hostIP", "protocol", "name"))
    inner = _int(port.get("containerPort", 0), f"{path}.containerPort")
    outer = _int(port.get("hostPort", 0), f"{path}.hostPort")
    if not 0 <= inner <= 65535 or not 0 <= outer <= 65535 or not (inner or outer):
        raise _refuse(path, "a port needs a containerPort or hostPort from 1 to 65535")
    protocol = (_str(port.get("protocol"), f"{path}.protocol") or "TCP").lower()
    if protocol not in ("tcp", "udp"):
        raise _refuse(f"{path}.protocol", f"protocol {protocol.upper()}: not supported by "
                      "pypod (TCP and UDP are)")
    return KubePort(inner or outer, outer or inner, protocol,
                    _str(port.get("hostIP"), f"{path}.hostIP"))


def _resources(value: Any, path: str) -> dict[str, Any]:
    """``limits`` memory and cpu, ``requests`` memory and cpu: podman's memory,
    CPU quota, memory reservation and CPU shares."""
    res = _mapping(value, path, ("limits", "requests"))
    limits = _mapping(res.get("limits"), f"{path}.limits", ("memory", "cpu"))
    requests = _mapping(res.get("requests"), f"{path}.requests", ("memory", "cpu"))
    fields: dict[str, Any] = {}
    if "memory" in limits:
        fields["memory"] = int(quantity(limits["memory"], f"{path}.limits.memory"))
    if "cpu" in limits:
        cores = quantity(limits["cpu"], f"{path}.limits.cpu")
        fields.update(cpu_period=CPU_PERIOD, cpu_quota=max(1000, int(cores * CPU_PERIOD)))
    if "memory" in requests:
        fields["memory_reservation"] = int(quantity(requests["memory"],
                                                    f"{path}.requests.memory"))
    if "cpu" in requests:
        # Kubernetes' own conversion: 1024 shares a core, 2 at least.
        cores = quantity(requests["cpu"], f"{path}.requests.cpu")
        fields["cpu_shares"] = max(2, int(cores * 1024))
    return fields


def _security(value: Any, path: str) -> dict[str, Any]:
    sec = _mapping(value, path, ("privileged", "runAsUser", "runAsGroup", "capabilities",
                                 "readOnlyRootFilesystem", "allowPrivilegeEscalation"))
    fields: dict[str, Any] = {}
    if "privileged" in sec:
        fields["privileged"] = _bool(sec["privileged"], f"{path}.privileged")
    if "readOnlyRootFilesystem" in sec:
        fields["read_only"] = _bool(sec["readOnlyRootFilesystem"],
                                    f"{path}.readOnlyRootFilesystem")
    if sec.get("allowPrivilegeEscalation") is False:
        fields["no_new_privileges"] = True
    elif "allowPrivilegeEscalation" in sec:
        _bool(sec["allowPrivilegeEscalation"], f"{path}.allowPrivilegeEscalation")
    if "runAsUser" in sec or "runAsGroup" in sec:
        user = str(_int(sec.get("runAsUser", 0), f"{path}.runAsUser"))
        if "runAsGroup" in sec:
            user += f":{_int(sec['runAsGroup'], f'{path}.runAsGroup')}"
        fields["user"] = user
    caps = _mapping(sec.get("capabilities"), f"{path}.capabilities", ("add", "drop"))
    for key, field in (("add", "cap_add"), ("drop", "cap_drop")):
        if key in caps:
            fields[field] = _strings(caps[key], f"{path}.capabilities.{key}")
    return fields


def pod_names(documents: Iterable[KubePod | KubeClaim]) -> list[str]:
    """The names of the pods the documents describe, in order."""
    return [d.name for d in documents if isinstance(d, KubePod)]

