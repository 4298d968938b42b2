"""Container operations of the Runtime (libpod's ``runtime_ctr.go``).

:class:`ContainerOps` is a mixin of :class:`pypod_core.engine.runtime.Runtime`: create, look up,
list and remove containers, stop them all at shutdown, and refresh them after a reboot.
The life of one container is :class:`pypod_core.engine.container.Container`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.engine.runtime_half import RuntimeHalf
from pypod_core.errors import (
    CtrInUseError,
    CtrRemovedError,
    CtrStateInvalidError,
    InvalidArgError,
    NameInUseError,
    NetworkError,
    NoSuchCtrError,
    PypodError,
)
from pypod_core.host.locks import FileLock
from pypod_core.model import (
    ContainerConfig,
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    NetworkOptions,
    PortMapping,
    new_id,
    validate_name,
)

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.model import Image
    from pypod_core.plugin.network import Network
    from pypod_core.plugin.oci import OCIRuntime
    from pypod_core.plugin.storage import Storage

#: How often a generated name may lose a race with another process before giving up.
NAME_ATTEMPTS = 16
#: The DNS and hosts fields of a container's config, checked at create.
#: The /etc-file fields (pypod_core.engine.etc_files checks them); spelt out here so that
#: a command that creates nothing does not import etc_files (socket, ~7 ms).
ETC_FIELDS = ("dns_servers", "dns_search", "dns_options", "extra_hosts", "no_resolv_conf",
              "no_hosts")
#: create_container's keywords that pypod_core.engine.volumes turns into config fields.
VOLUME_KEYWORDS = frozenset({"volumes", "mounts", "named_volumes", "image_volumes",
                             "volumes_from"})
#: States in which a container may only be removed with force.
_NEEDS_FORCE = frozenset({ContainerStatus.RUNNING, ContainerStatus.PAUSED,
                          ContainerStatus.STOPPING})


class ContainerOps(RuntimeHalf):
    """The container half of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    # Provided by Runtime, besides what RuntimeHalf says.
    storage: Storage
    oci_runtime: OCIRuntime
    network: Network | None
    rootless: bool
    oci_runtime_name: Callable[[], str]
    missing_backends: dict[str, str]

    # -- locks -------------------------------------------------------------------------

    def container_lock(self, ctr_id: str) -> FileLock:
        """The container's lock (``ctr-ID.lock`` in the lock dir), reentrant within this
        process, so that two processes never act on one container at once."""
        return self.locks.get(f"ctr-{ctr_id}")

    def forget_container_lock(self, ctr_id: str) -> None:
        """Drop a removed container's lock and its file (the caller holds it)."""
        self.locks.forget(f"ctr-{ctr_id}")

    # -- create and find ---------------------------------------------------------------

    def create_container(self, rootfs: str | os.PathLike[str] | None = None,
                         command: Sequence[str] = (), *, image: str | None = None,
                         entrypoint: Sequence[str] | None = None, publish_all: bool = False,
                         image_volume: str | None = None, name: str | None = None,
                         rootfs_overlay: bool = False, **config_fields: Any) -> Container:
        """Add a new container (state ``configured``) running ``command``, with its root
        file system from exactly one of ``rootfs`` (a directory, used in place; with
        ``rootfs_overlay``, podman's ``--rootfs DIR:O``, the lower of an overlay whose
        upper dir is the container's, so DIR is never written) or ``image`` (a name or
        id in the image store: its config gives the defaults, see
        :mod:`pypod_core.engine.image_config`); ``config_fields`` are
        :class:`~pypod_core.model.ContainerConfig` fields (env, workdir, user, mounts...).

        ``entrypoint`` replaces the image's Entrypoint and clears its Cmd (``[]``: none);
        ``publish_all`` publishes the image's ExposedPorts on random host ports (``-P``);
        ``image_volume`` is podman's ``--image-volume``: ``bind`` (None) an anonymous
        volume on each of the image's Volumes, ``tmpfs`` a tmpfs, ``ignore`` nothing.

        ``name`` is validated, or a free one is generated; a generated name that another
        process takes at the same moment is replaced by a new one.  With ``pod`` (a Pod,
        its id or name) the container joins the pod's shared namespaces.

        ``volumes`` (``-v`` strings: ``NAME:/path[:opts]``, ``/path`` for an anonymous
        volume, ``/host:/path``), ``mounts`` (``--mount`` strings, or Mount, NamedVolume
        and ImageVolume values) and ``volumes_from`` (``CTR[:ro]``) are podman's; a named
        volume that does not exist is created (:mod:`pypod_core.engine.volumes`)."""
        from pypod_core.engine import validate  # lazy: only create (~0.5 ms)

        self.check_valid()
        # Types first (TypeError), then values: nothing malformed reaches the store.
        command, entrypoint = validate.container_args(rootfs, command, name, image,
                                                      entrypoint)
        anonymous: set[str] = set()
        if VOLUME_KEYWORDS & config_fields.keys():
            from pypod_core.engine import volumes  # lazy: only with volumes (~8 ms)

            config_fields, anonymous = volumes.prepare(self._runtime, config_fields)
        if config_fields.get("secrets"):
            from pypod_core.engine import ctr_secrets  # lazy: only with --secret

            config_fields["secrets"] = ctr_secrets.prepare(self._runtime,
                                                           config_fields["secrets"])
        config_fields = validate.container_fields(config_fields)
        if name is not None:
            validate_name(name)
        # An Image, or a --rootfs path (a str: no image record class made, ~0.6 ms).
        source = self._rootfs_source(rootfs, image, image_volume)
        if rootfs_overlay and not isinstance(source, str):
            raise InvalidArgError("rootfs_overlay needs a rootfs directory, not an image")
        if not isinstance(source, str):
            from pypod_core.engine.image_config import image_volumes  # lazy: only create

            config_fields, anonymous = image_volumes(source, config_fields, anonymous,
                                                     image_volume)
        config_fields, command, source_fields = self._source_fields(
            source, image or "", command, entrypoint, config_fields, rootfs_overlay)
        # After the image's defaults: its Cmd may be an init, its StopSignal wins.
        from pypod_core.engine.systemd_mode import create_fields  # lazy: only create (~0.3 ms)

        config_fields = self._checked_fields(create_fields(config_fields, command))
        if publish_all and not isinstance(source, str):
            config_fields = _publish_all(source, config_fields)
        return self._add_container(name, command, source, {**config_fields, **source_fields},
                                   anonymous)

    def _rootfs_source(self, rootfs: str | os.PathLike[str] | None, image: str | None,
                       image_volume: str | None) -> str | Image:
        """The directory or the image the container's rootfs comes from (exactly one)."""
        # lazy: only create (image_config ~2 ms)
        from pypod_core.engine.image_config import check_image_volume

        if (rootfs is None) == (image is None):
            raise InvalidArgError("create_container takes a rootfs directory or an image"
                                  + (", not both" if image is not None else ""))
        check_image_volume(image_volume)
        if image is not None:
            return self._runtime.get_image(image)
        path = os.fspath(rootfs or "")
        if not os.path.isdir(path):
            raise InvalidArgError(f"rootfs {path}: not a directory")
        return os.path.abspath(path)

    def _source_fields(self, source: str | Image, ref: str, command: tuple[str, ...],
                       entrypoint: tuple[str, ...] | None, fields: dict[str, Any],
                       overlay: bool = False,
                       ) -> tuple[dict[str, Any], tuple[str, ...], dict[str, Any]]:
        """(the caller's fields with the image's defaults, the process, the fields saying
        where the rootfs comes from)."""
        from pypod_core.engine import image_config  # lazy: only create (~2 ms)
        from pypod_core.engine.rootfs import (  # lazy: containers only (~1 ms)
            DIR_DRIVER,
            DIR_OVERLAY_DRIVER,
        )

        if isinstance(source, str):
            if not command and not entrypoint:
                raise InvalidArgError("no command specified for the container")
            driver = DIR_OVERLAY_DRIVER if overlay else DIR_DRIVER
            return fields, (*(entrypoint or ()), *command), {
                "rootfs": source, "graph_driver": driver, "entrypoint": entrypoint or ()}
        process, ep = image_config.resolve_command(source.run_config, command, entrypoint)
        fields = image_config.apply_config(source, ref, fields)
        return fields, process, {
            "rootfs": "", "image_id": source.id,
            "image_name": image_config.image_name(source, ref),
            "graph_driver": self._runtime.graph_driver.name, "entrypoint": ep}

    def _checked_fields(self, config_fields: dict[str, Any]) -> dict[str, Any]:
        """The /etc, log, pod, network and security fields checked and resolved."""
        if any(key in config_fields for key in ETC_FIELDS):
            # lazy: only create (etc_files, with socket ~7 ms)
            from pypod_core.engine import etc_files

            config_fields = etc_files.check_fields(config_fields)
        from pypod_core.engine.logs import check_log_options  # lazy: only create (~1.2 ms)

        check_log_options(config_fields.get("log_path", ""),
                          config_fields.get("log_size_max", -1))
        if config_fields.get("pod"):
            config_fields = self._runtime.pod_member_fields(config_fields)
        elif "network_mode" not in config_fields:
            config_fields["network_mode"] = self.default_network_mode()
        if any(config_fields.get(key) for key in ETC_FIELDS):
            # lazy: only create (etc_files, with socket ~7 ms)
            from pypod_core.engine import etc_files

            etc_files.check_network(config_fields)
        from pypod_core.engine.security import resolve_fields  # lazy: only create (~2.8 ms)

        return resolve_fields(config_fields, self.config)

    def _add_container(self, name: str | None, command: tuple[str, ...],
                       source: str | Image, config_fields: dict[str, Any],
                       anonymous: set[str]) -> Container:
        """Store the new container's record (its volumes made first), make its rootfs,
        tell the plugins."""
        # lazy: containers only (rootfs ~1 ms)
        from pypod_core.engine import rootfs, validate
        from pypod_core.engine.container import Container

        created: list[str] = []
        for attempt in range(NAME_ATTEMPTS):
            config = ContainerConfig(
                id=new_id(), name=name if name is not None else self.generate_name(),
                command=command, namespace=self.config.namespace,
                oci_runtime=self.oci_runtime_name(), **config_fields)
            if attempt == 0:
                validate.check_container(self, config)
                created = self._ensure_volumes(config, anonymous)
            record = ContainerRecord(config, ContainerState())
            try:
                # Under the volumes' locks: none of them can be removed meanwhile.
                with self._runtime.volumes_locked(config.volume_names()):
                    if config.pod:
                        self.state.add_container_to_pod(config.pod, record)
                    else:
                        self.state.add_container(record)
            except NameInUseError as exc:
                if name is not None or attempt == NAME_ATTEMPTS - 1:
                    self._undo_volumes(created)
                    if name is None:
                        raise
                    # podman's words, which scripts match
                    raise NameInUseError(
                        f'creating container storage: the container name "{name}" is '
                        f"already in use by {self._name_owner(name, exc)}. You have to "
                        "remove that container to be able to reuse that name: that name "
                        "is already in use") from None
                continue
            except BaseException:
                self._undo_volumes(created)
                raise
            break
        ctr = Container(self._runtime, record)
        try:
            # After the record: a rootfs never exists without its container (one whose
            # creator dies here gets its rootfs at init).
            rootfs.create(self._runtime, config, None if isinstance(source, str) else source)
        except BaseException:
            with self.container_lock(config.id):
                self._forget_record(config)
            self._undo_volumes(created)
            raise
        if config.secrets:
            try:
                from pypod_core.engine import ctr_secrets  # lazy: only with --secret

                ctr_secrets.copy_in(ctr)
            except BaseException:
                self.remove_container(ctr, force=True)
                raise
        try:
            self.plugins.hook.pypod_container_created(runtime=self, container=ctr)
        except BaseException:
            # Only with PYPOD_STRICT_PLUGINS=1 does a listener fail the operation: then
            # nothing of it is left behind.
            self.remove_container(ctr, force=True)
            raise
        return ctr

    def _forget_record(self, config: ContainerConfig) -> None:
        """Remove a container's record and lock (the caller holds it)."""
        if config.pod:
            self.state.remove_container_from_pod(config.pod, config.id)
        else:
            self.state.remove_container(config.id)
        self.forget_container_lock(config.id)

    def _ensure_volumes(self, config: ContainerConfig, anonymous: set[str]) -> list[str]:
        """Create the new container's volumes that do not exist yet; their names."""
        if not config.named_volumes:
            return []
        from pypod_core.engine import volumes  # lazy: only with volumes (~8 ms)

        return volumes.ensure(self._runtime, config, anonymous)

    def _undo_volumes(self, created: list[str]) -> None:
        if created:
            from pypod_core.engine import volumes  # lazy: only with volumes (~8 ms)

            volumes.undo(self._runtime, created)

    def _name_owner(self, name: str, exc: NameInUseError) -> str:
        """The id of the container or pod that holds ``name`` (for the error)."""
        for lookup in (self.state.lookup_container, self.state.lookup_pod):
            try:
                record = lookup(name)
            except PypodError:
                continue
            if record.config.name == name:
                return record.config.id
        return str(exc).rsplit(" ", 1)[-1]

    def default_network_mode(self) -> str:
        """The network mode of a container that asks for none: config ``netns``, or
        "none" where there is no network backend (rootless)."""
        mode = self.config.netns
        if mode not in ("bridge", "none", "host"):
            raise InvalidArgError(f"config key netns: {mode!r} is not bridge, none or host")
        if mode == "bridge" and not self.network:
            if not self.rootless:  # the default backend is not installed: say so
                # lazy: only create (networking ~9 ms)
                from pypod_core.engine.networking import no_network_reason

                raise NetworkError(no_network_reason(self._runtime))
            return "none"  # rootless pypod has no network backend
        return mode

    def lookup_container(self, id_or_name: str) -> Container:
        """The container with this name, id or unique id prefix."""
        # lazy: not info, images or pod ps (~0.8 ms)
        from pypod_core.engine.container import Container

        self.check_valid()
        return Container(self._runtime, self.state.lookup_container(id_or_name))

    def get_container(self, ctr_id: str) -> Container:
        """The container with this full id."""
        # lazy: not info, images or pod ps (~0.8 ms)
        from pypod_core.engine.container import Container

        self.check_valid()
        return Container(self._runtime, self.state.container(ctr_id))

    def rename_container(self, ctr: Container, new_name: str) -> None:
        """Give ``ctr`` a new name (podman's ``rename``: running or not; not a pod's
        infra container, whose name is its pod's).  NameInUseError if a container or
        pod has it; the events log has a ``rename``."""
        # lazy: only rename (~1.8 ms)
        from pypod_core.engine.events import container_event, write_event

        self.check_valid()
        validate_name(new_name)
        if ctr.config.is_infra:
            raise InvalidArgError(f"container {ctr.name} is a pod's infra container: "
                                  "infra containers cannot be renamed")
        with ctr.locked():
            self.state.rename_container(ctr.id, new_name)
            ctr.config = self.state.container(ctr.id).config
        write_event(self.config, container_event(ctr.config, "rename"))

    def connect_network(self, ctr: Container, network: str,
                        options: NetworkOptions | None = None) -> None:
        """Make ``ctr`` join ``network`` (podman's ``network connect``): at once if its
        namespace is attached, else when it starts.  See :mod:`pypod_core.engine.netconnect`."""
        from pypod_core.engine import netconnect  # lazy: only network connect (~1 ms)

        self.check_valid()
        netconnect.connect(self._runtime, ctr, network, options)

    def disconnect_network(self, ctr: Container, network: str) -> None:
        """Make ``ctr`` leave ``network`` (podman's ``network disconnect``)."""
        from pypod_core.engine import netconnect  # lazy: only network disconnect (~1 ms)

        self.check_valid()
        netconnect.disconnect(self._runtime, ctr, network)

    def containers(self, all: bool = True) -> list[Container]:
        """Every container, oldest first, synced with the OCI runtime (except one that
        another process is acting on: its stored state); only running ones unless
        ``all``."""
        # lazy: not info, images or pod ps (~0.8 ms)
        from pypod_core.engine.container import LIVE, Container

        self.check_valid()
        result = []
        for record in self.state.all_containers():
            ctr = Container(self._runtime, record)
            if record.state.state in LIVE:
                try:
                    ctr.sync(wait=False)
                except NoSuchCtrError:
                    continue
            if all or ctr.state.state in (ContainerStatus.RUNNING, ContainerStatus.PAUSED):
                result.append(ctr)
        return result

    # -- remove ------------------------------------------------------------------------

    def remove_container(self, ctr: Container, force: bool = False,
                         timeout: int | None = None, *, removing_pod: bool = False,
                         volumes: bool = False) -> bool:
        """Remove a container and its files; False if another process (its own
        ``auto_remove`` clean-up, another ``rm``) removed it meanwhile.  A running
        container is stopped first with ``force`` (after ``timeout`` seconds, default
        its stop timeout) and refused without; a container others depend on is refused,
        and so is a pod's infra container (``removing_pod`` is for ``remove_pod``, which
        removes it last).  With ``volumes`` (``rm -v``, ``--rm``) its anonymous volumes
        go too, unless another container still uses one."""
        self.check_valid()
        if timeout is not None:
            from pypod_core.engine.validate import check_stop_timeout  # lazy: only rm (~0.5 ms)

            check_stop_timeout(timeout, "timeout")
        try:
            self._remove_locked(ctr, force, timeout, removing_pod)
        except CtrRemovedError:
            return False  # removed while it stopped, by its clean-up or another rm
        self.plugins.hook.pypod_container_removed(runtime=self, container=ctr)
        if volumes and ctr.config.named_volumes:
            self._runtime.remove_anonymous_volumes(ctr.config.volume_names())
        return True

    def _remove_locked(self, ctr: Container, force: bool, timeout: int | None,
                       removing_pod: bool) -> None:
        with ctr.locked():
            self._runtime.check_infra_removal(ctr, removing_pod)
            if ctr.state.state in _NEEDS_FORCE and not force:
                raise CtrStateInvalidError(
                    f"cannot remove container {ctr.id} as it is {ctr.state.state.value} - "
                    "running or paused containers cannot be removed without force: "
                    "container state improper")  # podman's words: scripts match them
            users = self.state.container_in_use(ctr.id)
            if users:
                # podman's words (scripts match them), naming it by id as podman does
                raise CtrInUseError(f"container {ctr.id} has dependent containers which "
                                    f"must be removed before it: {', '.join(users)}")
            ctr._stop(ctr.config.stop_timeout if timeout is None else timeout)
            # Not saved: we hold the lock until the record is gone, and a removal cut
            # short is simply done again (a commit costs milliseconds, x100 for rm -a).
            leftovers = ctr._has_leftovers()
            ctr._set(ContainerStatus.REMOVING)
            if leftovers:
                ctr._cleanup()
            else:  # never initialised, or cleaned up at its exit: no OCI backend needed
                _unlink(ctr.exit_file)
            attached = _attached(ctr)  # asked before _remove_files drops the marker
            self._remove_files(ctr)
            self._forget_record(ctr.config)
            if attached:
                _leave_exit_code(ctr)

    def _remove_files(self, ctr: Container) -> None:
        import shutil  # lazy: only rm, not ps or inspect (~1.5 ms, with bz2 and lzma)

        from pypod_core.engine import rootfs, shm  # lazy: containers only (~1 ms)

        rootfs.remove(ctr)
        self.storage.remove_container_dir(ctr.id)
        shm.release(ctr)  # a removal cut short may have left it mounted
        shutil.rmtree(ctr.run_dir, ignore_errors=True)
        _unlink(ctr.attached_marker)

    # -- whole runtime -----------------------------------------------------------------

    def stop_all_containers(self) -> None:
        """Stop every running container (``shutdown(force=True)``), newest first: a
        container is created after those it depends on (a pod's infra container), so
        dependents stop before what they share namespaces with."""
        from pypod_core.engine.container import LIVE  # lazy: not info, images or pod ps (~0.8 ms)

        for record in reversed(self.state.all_containers()):
            if record.state.state in LIVE:
                try:
                    self.get_container(record.config.id).stop()
                except NoSuchCtrError:
                    continue

    def refresh_containers(self) -> None:
        """After a reboot (the state already reset by ``state.refresh()``): tear down
        what is left of each container's network, of its container in the OCI runtime
        (nothing, when the runtime's state was on a tmpfs) and remove stale per-boot
        files."""
        import shutil  # lazy: only after a reboot (~1.5 ms, with bz2 and lzma)

        # lazy: containers only (rootfs ~1 ms)
        from pypod_core.engine import networking, rootfs, shm
        from pypod_core.engine.container import Container

        for record in self.state.all_containers():
            ctr = Container(self._runtime, record)
            networking.teardown_network(self._runtime, ctr)
            try:
                self.oci_runtime.delete_container(ctr)
            except PypodError as exc:
                import logging  # lazy: only a failure pays for it (~5 ms)

                logging.getLogger("pypod.runtime").warning(
                    "cannot delete container %s from the OCI runtime: %s", ctr.name, exc)
            rootfs.refresh(ctr)
            shm.release(ctr)
            shutil.rmtree(ctr.run_dir, ignore_errors=True)
            _unlink(ctr.exit_file)
            _unlink(ctr.attached_marker)
            self.state.save_container_state(ctr.id, ctr.state)


def _publish_all(image: Image, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with the image's ExposedPorts published on random host ports (``-P``);
    as podman, nothing is published for a container without a network of its own
    (``none``, ``host``, a pod's container)."""
    from pypod_core.engine import image_config  # lazy: only create (~2 ms)

    exposed = image_config.exposed_ports(image)
    if not exposed or fields.get("network_mode") != "bridge" or fields.get("pod") \
            or fields.get("shared_namespaces", {}).get("net"):
        return fields
    published: tuple[PortMapping, ...] = fields.get("port_mappings", ())
    return {**fields, "port_mappings": image_config.publish_all(exposed, published)}


def _attached(ctr: Container) -> bool:
    """Whether another pypod is attached to ``ctr`` (``run``) and will wait for it (not
    this process: ``run --rm`` removes its own container while its marker stands)."""
    from pypod_core.engine.container import _marker_alive  # lazy: containers only

    try:
        with open(ctr.attached_marker) as f:
            ours = f.read().strip() == str(os.getpid())
    except OSError:
        return False
    return not ours and _marker_alive(ctr.attached_marker)


def _leave_exit_code(ctr: Container) -> None:
    """A container removed (``rm -f``) while another pypod is attached to it (``run``):
    its exit code is left in its exit file, for that session to exit with, as podman's
    run does with the code of a container removed under it."""
    with open(ctr.exit_file, "w") as f:
        f.write(str(ctr.state.exit_code))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
