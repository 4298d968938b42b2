"""pypod's errors: one exception class per libpod sentinel error, under one base.

Callers test for a sentinel with ``except`` or ``isinstance``, as libpod's callers use
``errors.Is``.  Every error pypod raises on purpose derives from :class:`PypodError`;
the command line prints such an error as one line and exits 125.
"""

from __future__ import annotations


class PypodError(Exception):
    """Base class of every error pypod raises on purpose."""


class NoSuchCtrError(PypodError):
    """No container with that id or name (libpod ``ErrNoSuchCtr``)."""


class NoSuchPodError(PypodError):
    """No pod with that id or name (libpod ``ErrNoSuchPod``)."""


class NoSuchNetworkError(PypodError):
    """No network with that name (libpod ``ErrNoSuchNetwork``)."""


class CtrExistsError(PypodError):
    """A container with that id or name exists already (libpod ``ErrCtrExists``)."""


class PodExistsError(PypodError):
    """A pod with that id or name exists already (libpod ``ErrPodExists``)."""


class NameInUseError(CtrExistsError):
    """The name is taken by another container or pod (names share one space)."""


class AmbiguousIDError(PypodError):
    """An id prefix matches more than one container or pod."""


class CtrRemovedError(PypodError):
    """The container was removed from the state (libpod ``ErrCtrRemoved``)."""


class PodRemovedError(PypodError):
    """The pod was removed from the state (libpod ``ErrPodRemoved``)."""


class CtrStateInvalidError(PypodError):
    """The container is in a state that does not allow the operation
    (libpod ``ErrCtrStateInvalid``)."""


class DetachedError(PypodError):
    """The user detached (the detach keys): the container, or the exec session, runs on
    (libpod ``ErrDetach``).  Not a failure: ``pypod`` exits 0."""


class CtrWaitTimeoutError(PypodError, TimeoutError):
    """The container still runs when a wait with a timeout gives up."""


class CtrInUseError(PypodError):
    """Other containers depend on this one (libpod ``ErrDepExists``)."""


class PodNotEmptyError(PypodError):
    """The pod still has containers (libpod ``ErrCtrExists`` on pod removal)."""


class PodPartialFailError(PypodError):
    """A pod operation failed for some of the pod's containers (libpod
    ``ErrPodPartialFail``); ``errors`` maps each failed container's id to its error."""

    def __init__(self, message: str, errors: dict[str, PypodError] | None = None):
        super().__init__(message)
        self.errors: dict[str, PypodError] = dict(errors or {})


class NSMismatchError(PypodError):
    """The object belongs to another libpod namespace (libpod ``ErrNSMismatch``)."""


class InvalidArgError(PypodError):
    """A malformed argument: a bad name, flag or value (libpod ``ErrInvalidArg``)."""


class NotImplementedByBackendError(PypodError):
    """The selected backend does not implement this (libpod ``ErrNotImplemented``)."""


class RuntimeStoppedError(PypodError):
    """The runtime was shut down and cannot be used (libpod ``ErrRuntimeStopped``)."""


class DBClosedError(PypodError):
    """The state database was closed (libpod ``ErrDBClosed``)."""


class DBBadConfigError(PypodError):
    """The state database was made with another configuration (libpod ``ErrDBBadConfig``)."""


class StateCorruptError(PypodError):
    """The state database cannot be read: corrupt, truncated, or of a newer schema."""


class StateSchemaError(StateCorruptError):
    """The state database has a schema newer than this pypod understands."""


class StateBusyError(PypodError):
    """The state database stayed locked by other processes for the whole busy timeout."""


class StateUnwritableError(PypodError):
    """The state store cannot record a change: its file system is full or read-only.
    What is stored can still be read."""


class ConfigError(PypodError):
    """A configuration file or option is malformed: names the file and the key."""


class PluginError(PypodError):
    """A plugin failed to load, declared a duplicate, or misspelt a hook."""


class HookError(PypodError):
    """An exception raised inside a plugin's hook; names the plugin and the hook."""


class BackendNotFoundError(PluginError):
    """The configuration names a backend that no installed plugin declares."""


class OCIRuntimeError(PypodError):
    """The OCI runtime (runc, crun) or conmon failed (libpod ``ErrOCIRuntime``)."""


class CgroupError(PypodError):
    """A running container's cgroup cannot be read (libpod ``ErrNoCgroups`` and the
    failures of loading a cgroup)."""


class CommandNotFoundError(OCIRuntimeError):
    """The container's command does not exist (exit 127 from the command line)."""


class CommandNotExecutableError(OCIRuntimeError):
    """The container's command cannot be invoked (exit 126 from the command line)."""


class NetworkError(PypodError):
    """Setting up or tearing down a container's network failed."""


class FirewallError(NetworkError):
    """Writing or deleting firewall rules failed."""


class NetworkExistsError(NetworkError):
    """A network with that name exists already (libpod ``ErrNetworkExists``)."""


class PortInUseError(NetworkError):
    """A host port to publish is taken by another process or container."""


class GraphDriverError(PypodError):
    """A graph driver (overlay, vfs, dir) failed: a mount, a copy, a layer's files."""


class GraphDriverNotSupportedError(GraphDriverError):
    """The graph driver cannot work here (overlayfs does not mount on this file system)."""


class DiffUnsupportedError(GraphDriverError, NotImplementedByBackendError):
    """The graph driver cannot write a container's changes as a layer (``diff``)."""


class NoSuchLayerError(GraphDriverError):
    """No layer with that id in the graph driver (containers/storage ``ErrLayerUnknown``)."""


class LayerInUseError(GraphDriverError):
    """The layer is the parent of another layer or under a container's rootfs
    (containers/storage ``ErrLayerHasChildren``)."""


class InvalidLayerError(GraphDriverError):
    """A layer's tar stream is broken or hostile (a member would leave the layer)."""


class NoSuchRootfsError(GraphDriverError):
    """The container has no rootfs in the graph driver (create_rootfs was not called)."""


class RootfsExistsError(GraphDriverError):
    """The container has a rootfs in the graph driver already."""


class VolumeError(PypodError):
    """Base class of the errors of named volumes."""


class NoSuchVolumeError(VolumeError):
    """No volume with that name (libpod ``ErrNoSuchVolume``; podman's text:
    ``no volume with name "X" found: no such volume``)."""


class VolumeExistsError(VolumeError):
    """A volume with that name exists already (libpod ``ErrVolumeExists``)."""


class VolumeInUseError(VolumeError):
    """Containers use the volume, so it cannot be removed without ``force`` (libpod
    ``ErrVolumeBeingUsed``; exit 2 from ``volume rm``, as podman's)."""


class VolumeDriverError(VolumeError):
    """A volume driver failed: a mount, an unmount, the volume's files."""


class SecretError(PypodError):
    """Base of the secrets' errors (containers/common's ``pkg/secrets``)."""


class NoSuchSecretError(SecretError):
    """No secret with that name or id (``ErrNoSuchSecret``; podman's text: ``no secret
    with name or id "X": no such secret``)."""


class SecretExistsError(SecretError):
    """A secret with that name exists already (podman's ``secret name in use``)."""


class SecretDriverError(SecretError):
    """A secret driver could not store, read or delete a secret's data."""


class CopyError(PypodError):
    """Copying files into or out of a container failed (``pypod cp``): a directory onto a
    file, a file that cannot be read or written; names the path and where it is."""


class NoSuchFileError(CopyError, FileNotFoundError):
    """A path to copy from or to does not exist in the container or on the host
    (podman's text: ``"PATH" could not be found on container NAME``)."""


class CopyConflictError(CopyError):
    """A copy would replace a directory with a non-directory or the other way round,
    which takes ``overwrite`` (``--overwrite``)."""


class PathEscapeError(CopyError, InvalidArgError):
    """A container path (or a member of a tar stream) climbs out of the root with ``..``."""


class InternalError(PypodError):
    """An internal inconsistency (libpod ``ErrInternal``)."""


class ImageError(PypodError):
    """Base class of the errors of images: names, registries, manifests and blobs."""


class NoSuchImageError(ImageError):
    """No image with that name or id, locally or in the registry (libpod
    ``ErrNoSuchImage``; podman's text: ``NAME: image not known``)."""


class ImageFormatError(ImageError):
    """A manifest, index or config that pypod cannot use: malformed, of an unsupported
    media type, or with no image for the wanted platform."""


class RegistryError(ImageError):
    """Talking to a registry failed: unreachable, TLS, or an HTTP error it answered."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or wants some and none were given."""


class RegistryUnauthorizedError(RegistryAuthError):
    """The registry or its token server answered 401: it wants credentials and none
    were given, or those given are wrong (``login``'s "invalid username/password")."""


class BlobDigestError(ImageError):
    """A blob's content does not match its digest (or its size); nothing was stored."""


class ShortNameError(ImageError):
    """A short image name cannot be resolved as registries.conf says (no alias, no
    search registries, or several candidates in enforcing mode without a TTY)."""


class ImageInUseError(ImageError):
    """Containers use the image, so it cannot be removed without ``force`` (libpod
    ``ErrImageInUse``; exit 2 from the command line, as podman's)."""


class ImageHasTagsError(ImageError):
    """An image asked for by id has several names: removing it takes ``force``."""


class ImageStoreError(ImageError):
    """The image store cannot be read or written: a corrupt record file, a full or
    read-only file system."""


class PolicyError(ImageError):
    """The signature policy (policy.json) rejects the image, or asks for a check pypod
    cannot do (podman's text: ``Source image rejected: ...``)."""


class UnsupportedTransportError(ImageError, InvalidArgError):
    """The transport cannot do what was asked: writing to one that only reads, or an
    unknown transport prefix."""


class KubeYAMLError(InvalidArgError):
    """Kubernetes YAML that ``play kube`` cannot play: malformed, of a kind or with a
    field pypod does not support (the message names the field), or a value it refuses."""


class InitContainerError(PypodError):
    """A pod's init container (``play kube``'s ``initContainers``) did not exit 0: the
    pod's other containers are not started."""
