"""A live container: its record, its files, its lock and its lifecycle (libpod's
``container_api.go`` and ``container_internal.go``).

Every public operation takes the container's lock (a lock file in the runtime's
lock dir, so that two processes never act on one container at once), re-reads the state
from the store and from the OCI runtime (:meth:`Container.sync`), checks that the state
allows the operation (:class:`~pypod_core.errors.CtrStateInvalidError` otherwise), acts,
and saves the new state.  Long waits (a container's output, its exit) happen outside the
lock, so that another process can stop a container this one is attached to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pypod_core.engine.detach_keys import DEFAULT_DETACH_KEYS
from pypod_core.errors import (
    CtrRemovedError,
    CtrStateInvalidError,
    CtrWaitTimeoutError,
    InvalidArgError,
    NoSuchCtrError,
    NoSuchPodError,
    PodRemovedError,
    StateUnwritableError,
)
from pypod_core.host.locks import LockTimeout
from pypod_core.host.private import private_dir
from pypod_core.host.processes import pid_alive
from pypod_core.model import (
    ContainerConfig,
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    PortMapping,
)

if TYPE_CHECKING:
    from pypod_core.engine.attach import Resize
    from pypod_core.engine.logs import LogLine
    from pypod_core.engine.runtime import Runtime
    from pypod_core.plugin.oci import OCIRuntime

S = ContainerStatus
#: How long ``kill`` with SIGKILL waits for the container to exit.
KILL_WAIT = 30.0
#: The annotation of a pod's init container (podman's name; its value ``once`` or
#: ``always``): its exit does not stop the pod (exit policy ``stop``).
INIT_TYPE_ANNOTATION = "io.podman.annotations.init.container.type"

#: The legal state transitions (libpod's, with stop ending in ``exited``).
TRANSITIONS: dict[ContainerStatus, frozenset[ContainerStatus]] = {
    S.CONFIGURED: frozenset({S.CREATED, S.REMOVING}),
    S.CREATED: frozenset({S.RUNNING, S.STOPPING, S.EXITED, S.CONFIGURED, S.REMOVING}),
    S.RUNNING: frozenset({S.PAUSED, S.STOPPING, S.EXITED, S.REMOVING}),
    S.PAUSED: frozenset({S.RUNNING, S.STOPPING, S.EXITED, S.REMOVING}),
    S.STOPPING: frozenset({S.EXITED, S.STOPPED, S.REMOVING}),
    S.STOPPED: frozenset({S.CREATED, S.EXITED, S.CONFIGURED, S.REMOVING}),
    S.EXITED: frozenset({S.CREATED, S.CONFIGURED, S.REMOVING}),
    S.REMOVING: frozenset({S.REMOVING}),
}
#: States in which the OCI runtime has a container that may change by itself.
LIVE = frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.STOPPING})
#: States from which ``init`` (re)creates the container in the OCI runtime.
INITIALIZABLE = frozenset({S.CONFIGURED, S.EXITED, S.STOPPED})


def check_transition(ctr_id: str, current: ContainerStatus, new: ContainerStatus) -> None:
    """Raise CtrStateInvalidError unless ``current -> new`` is a legal transition."""
    if new not in TRANSITIONS[current]:
        raise CtrStateInvalidError(
            f"container {ctr_id[:12]} is {current.value}: cannot become {new.value}")


class Container:
    """A container of a runtime: ``.id .name .config .state`` and its lifecycle."""

    def __init__(self, runtime: Runtime, record: ContainerRecord):
        self.runtime = runtime
        self.config: ContainerConfig = record.config
        self.state: ContainerState = record.state
        self._bundle_dir = ""
        #: A ``terminal`` container's terminal size (rows, columns) for its next init:
        #: that of the user's window when a session starts it attached.
        self.console_size: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"<Container {self.id[:12]} {self.name} {self.state.state.value}>"

    # -- identity and files ------------------------------------------------------------

    @property
    def id(self) -> str:
        """The container's 64-hex-character id."""
        return self.config.id

    @property
    def name(self) -> str:
        """The container's name."""
        return self.config.name

    @property
    def bundle_dir(self) -> str:
        """The OCI bundle directory (config.json, the log, conmon's sockets)."""
        if not self._bundle_dir:
            self._bundle_dir = self.runtime.storage.container_dir(self.id)
        return self._bundle_dir

    @property
    def run_dir(self) -> str:
        """Per-boot files: pid files, ``/etc/hosts``, ``/etc/resolv.conf`` and
        ``/etc/hostname``, conmon's."""
        return os.path.join(self.runtime.config.tmp_dir, "containers", self.id)

    @property
    def exit_dir(self) -> str:
        """Where conmon writes exit files (one per container, named by id)."""
        return os.path.join(self.runtime.config.tmp_dir, "exits")

    @property
    def exit_file(self) -> str:
        """conmon's exit file for this container: its exit code, once it exited."""
        return os.path.join(self.exit_dir, self.id)

    @property
    def log_path(self) -> str:
        """The k8s-file log of the container's output (``--log-opt path=``, or in the
        bundle directory)."""
        return self.config.log_path or os.path.join(self.bundle_dir, "ctr.log")

    @property
    def pidfile(self) -> str:
        """The container's init pid, written by the OCI runtime."""
        return os.path.join(self.run_dir, "pidfile")

    @property
    def conmon_pidfile(self) -> str:
        """conmon's pid, written by conmon (where ``--conmon-pidfile`` says, else in
        the run dir)."""
        return self.config.conmon_pidfile or os.path.join(self.run_dir, "conmon.pid")

    @property
    def attached_marker(self) -> str:
        """Exists, holding a pid, while a pypod process is attached to the container and
        will clean up after it (see :meth:`start_attached`)."""
        return os.path.join(self.exit_dir, f"{self.id}.attached")

    @property
    def oci(self) -> OCIRuntime:
        """The runtime's OCI runtime backend."""
        return self.runtime.oci_runtime

    # -- lock and state ----------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[Container]:
        """Hold the container's lock (reentrant within this process) and sync first."""
        with self.runtime.container_lock(self.id):
            with self._forget_lock_if_removed():
                self._sync()
                yield self

    @contextmanager
    def _forget_lock_if_removed(self) -> Iterator[None]:
        """If the container turns out to be gone (another process removed it while this
        one waited for the lock), delete the lock file that waiting re-created."""
        try:
            yield
        except (NoSuchCtrError, CtrRemovedError):
            self.runtime.forget_container_lock(self.id)
            raise

    def _save(self) -> None:
        self.runtime.state.save_container_state(self.id, self.state)

    def _set(self, new: ContainerStatus) -> None:
        check_transition(self.id, self.state.state, new)
        self.state.state = new

    def sync(self, wait: bool = True) -> Container:
        """Refresh the state from the store and the OCI runtime (libpod's
        ``syncContainer``); notice an exit and clean up after it.

        With ``wait=False``, a container another process is acting on (``stop`` holds
        the lock through its timeout) is not waited for: its stored state is read."""
        lock = self.runtime.container_lock(self.id)
        if not wait:
            try:
                lock.acquire(timeout=0)
            except LockTimeout:
                self.state = self.runtime.state.container_state(self.id)
                return self
            try:
                with self._forget_lock_if_removed():
                    self._sync()
            finally:
                lock.release()
            return self
        with self.locked():
            return self

    def _sync(self) -> None:
        self.state = self.runtime.state.container_state(self.id)
        before = self.state.state
        if before not in LIVE:
            return
        self.oci.update_container_status(self)
        if self.state.state is S.EXITED:
            try:
                self._cleanup(keep_exit_file=True)
            finally:
                self._save_exit()
            self.runtime.plugins.hook.pypod_container_exited(runtime=self.runtime,
                                                             container=self)
        elif self.state.state is not before:
            self._save()

    def _save_exit(self) -> None:
        """Save an exit just noticed, then drop the exit file.  A store that cannot be
        written (its file system full or read-only) is warned about, not raised: the
        exit is known here all the same (``run`` returns its code), and the exit file
        stays, so that the next process to look notices the exit again."""
        try:
            self._save()
        except StateUnwritableError as exc:
            import logging  # lazy: only for this rare warning (~3 ms)

            logging.getLogger("pypod.container").warning(
                "container %s exited with code %d, not recorded yet: %s", self.name,
                self.state.exit_code, exc)
            return
        _unlink(self.exit_file)

    def _require(self, *states: ContainerStatus, action: str) -> None:
        if self.state.state not in states:
            raise CtrStateInvalidError(
                f"cannot {action} container {self.name}: it is {self.state.state.value}")

    # -- lifecycle ---------------------------------------------------------------------

    def init(self) -> None:
        """Create the container in the OCI runtime: its network, bundle and monitor."""
        with self.locked():
            self._require(*INITIALIZABLE, action="initialize")
            self._init()

    def _init(self) -> None:
        # lazy: only init (bundle ~3 ms, etc_files ~4 ms, networking ~7 ms, volumes ~8 ms,
        # rootfs ~1 ms, image_volumes ~1 ms)
        from pypod_core.engine import (
            bundle,
            etc_files,
            image_volumes,
            networking,
            rootfs,
            shm,
            volumes,
        )

        check_transition(self.id, self.state.state, S.CREATED)
        # A configured container has no run dir, unless an init was cut short (its
        # process killed before it saved the state): what that one made goes first.
        if self.state.state is not S.CONFIGURED or os.path.isdir(self.run_dir):
            self._cleanup()
        private_dir(self.run_dir)
        private_dir(self.exit_dir)
        _unlink(self.exit_file)
        shared = self._shared_namespace_paths()
        shm_dir = shm.prepare(self)
        try:
            root = rootfs.mount(self)
        except BaseException:
            shm.release(self)
            raise
        # The namespace is made now and attached to its networks meanwhile: the OCI
        # runtime's create needs the namespace, not its interfaces.
        try:
            attaching = networking.setup_network(self.runtime, self)
        except BaseException:
            rootfs.umount(self)
            shm.release(self)
            raise
        created = False
        try:
            volume_mounts = [*volumes.mount_all(self), *image_volumes.mount_all(self)]
            bundle.write_bundle(self, self.state.netns_path, shared, volume_mounts, root=root,
                                shm_dir=shm_dir)
            self.oci.create_container(self)
            created = True
            if attaching is not None:
                attaching.result()
                # The bind-mounted files, rewritten in place: now with the addresses.
                etc_files.complete_network_files(self)
        except BaseException:
            if attaching is not None:
                attaching.wait()
            if created:  # its conmon goes once the runtime has no container
                self.oci.delete_container(self)
                self.state.pid = self.state.conmon_pid = 0
            networking.teardown_network(self.runtime, self)
            etc_files.leave_shared_hosts(self)
            volumes.unmount_all(self)
            image_volumes.unmount_all(self)
            rootfs.umount(self)
            shm.release(self)
            self._save()
            raise
        self.state.state = S.CREATED
        self.state.exit_code = 0
        self.state.oom_killed = False
        self.state.finished_at = 0.0
        self._save()

    def _shared_namespace_paths(self) -> dict[str, str]:
        """``/proc/PID/ns/KIND`` of each container this one shares a namespace with;
        one that does not run (a pod's infra container) is started first."""
        paths = {}
        for kind, other_id in self.config.shared_namespaces.items():
            other = self.runtime.get_container(other_id).sync()
            if other.state.state in INITIALIZABLE:
                other.start()  # libpod starts a container's dependencies first
            if other.state.state not in (S.RUNNING, S.PAUSED, S.CREATED) or not other.state.pid:
                raise CtrStateInvalidError(
                    f"cannot join the {kind} namespace of container {other.name}: "
                    f"it is {other.state.state.value}")
            paths[kind] = f"/proc/{other.state.pid}/ns/{kind}"
        return paths

    def start(self) -> None:
        """Start the container (initializing it first if needed); starting a running
        container does nothing, as podman."""
        with self.locked():
            if self.state.state in (S.RUNNING, S.PAUSED):
                return
            self._prepare_start()
            self._start()

    def _prepare_start(self) -> None:
        if self.state.state in INITIALIZABLE:
            self._init()
        self._require(S.CREATED, action="start")

    def _start(self) -> None:
        # Taken before: a short command may be done before ``start`` returns.
        started_at = time.time()
        try:
            self.oci.start_container(self)
        except BaseException:
            self._sync()
            raise
        self.state.state = S.RUNNING
        self.state.started_at = started_at
        self.state.stopped_by_user = False
        self._save()
        self.runtime.plugins.hook.pypod_container_started(runtime=self.runtime,
                                                          container=self)

    def start_attached(self, stdout: Any, stderr: Any, *, stdin: Any = None,
                       detach_keys: str = DEFAULT_DETACH_KEYS, resize: Resize = None) -> int:
        """Start the container with its output streamed to ``stdout``/``stderr`` (binary
        files or descriptors) from the first byte, wait for it to exit and return its
        exit code (``podman start -a``, the heart of ``podman run``).  An
        ``auto_remove`` container is removed at the end, whatever happened, unless the
        user detached.

        With ``stdin`` (a descriptor, or a file) what it holds goes to the container's
        stdin (a container made with ``stdin`` or ``terminal``), its end closes that
        stdin, and the ``detach_keys`` (podman's, "" for none) leave the container
        running: :class:`~pypod_core.errors.DetachedError`.  ``resize`` gives a
        ``terminal`` container its size: (rows, columns), or a source that follows a
        window (:class:`pypod_core.host.tty.WindowWatcher`).

        Meanwhile :attr:`attached_marker` holds this process's pid: the backend's exit
        handling may leave the clean-up to us while it names a live process."""
        from pypod_core.engine import attach  # lazy: only attached sessions (~1 ms)

        return attach.start_attached(self, stdout, stderr, stdin, detach_keys, resize)

    def _remove_quietly(self) -> None:
        try:  # as podman's --rm: its anonymous volumes go too
            self.runtime.remove_container(self, force=True, timeout=0, volumes=True)
        except NoSuchCtrError:
            pass  # removed already (by the backend's exit handling)

    def attach(self, stdout: Any, stderr: Any, *, stdin: Any = None,
               detach_keys: str = DEFAULT_DETACH_KEYS, resize: Resize = None) -> None:
        """Stream a created or running container's output until it ends; with
        ``stdin``, ``detach_keys`` and ``resize`` as :meth:`start_attached` (detaching
        raises :class:`~pypod_core.errors.DetachedError`)."""
        from pypod_core.engine import attach  # lazy: only attached sessions (~1 ms)

        attach.attach(self, stdout, stderr, stdin, detach_keys, resize)

    def resize(self, height: int, width: int) -> None:
        """Set the size of a running ``terminal`` container's terminal (rows, columns)."""
        with self.locked():
            self._require(S.CREATED, S.RUNNING, S.PAUSED, action="resize")
        if not self.config.terminal:
            raise CtrStateInvalidError(f"container {self.name} has no terminal to resize")
        if not all(isinstance(n, int) and 0 < n <= 1000 for n in (height, width)):
            raise InvalidArgError(f"terminal size {height}x{width}: each 1 to 1000")
        self.oci.resize_container(self, height, width)

    def wait(self, timeout: float | None = None) -> int:
        """Block until the container is no longer running; return its exit code.

        A container that never ran returns its (zero) exit code at once.  With
        ``timeout``, CtrWaitTimeoutError (a TimeoutError) if it still runs after that
        many seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self.locked():
                if self.state.state not in LIVE:
                    return self.state.exit_code
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise CtrWaitTimeoutError(f"container {self.name} still runs after {timeout}s")
            self.oci.wait_container(self, left)

    def wait_for(self, conditions: Iterable[str] = ("stopped",),
                 interval: float = 0.25) -> int:
        """Block until the container meets one of ``conditions`` (podman's ``wait
        --condition``: see :func:`pypod_core.engine.wait.wait_for`)."""
        from pypod_core.engine.wait import wait_for  # lazy: only wait --condition

        return wait_for(self, conditions, interval)

    def top(self, descriptors: Iterable[str] = ()) -> list[list[str]]:
        """The running container's processes: a header, then a row each (podman's
        ``top``: see :mod:`pypod_core.engine.top`)."""
        from pypod_core.engine.top import container_top  # lazy: only top

        return container_top(self, descriptors)

    def published_ports(self) -> tuple[PortMapping, ...]:
        """The ports published for the container: its own, or those of the container
        whose network it shares (a pod's infra)."""
        shared = self.config.shared_namespaces.get("net")
        if shared and not self.config.port_mappings:
            return self.runtime.get_container(shared).config.port_mappings
        return self.config.port_mappings

    def stop(self, timeout: int | None = None) -> None:
        """Stop the container: the stop signal, then SIGKILL after ``timeout`` seconds
        (default: its stop timeout).  Stopping a container that is not running does
        nothing; nor does one removed meanwhile (the clean-up of an ``auto_remove``
        container)."""
        if timeout is not None:
            # lazy: only a stop timeout (~0.5 ms)
            from pypod_core.engine.validate import check_stop_timeout

            check_stop_timeout(timeout, "timeout")
        try:
            with self.locked():
                if self.config.restart_policy and self.state.state not in LIVE \
                        and not self.state.stopped_by_user:
                    # Caught between two runs: its restart policy must not start it.
                    self.state.stopped_by_user = True
                    self._save()
                self._stop(self.config.stop_timeout if timeout is None else timeout)
        except CtrRemovedError:
            pass

    def _stop(self, timeout: int) -> None:
        """Stop a live container; the caller holds the lock.  The lock is let go while
        the OCI runtime waits for the exit (as libpod's stop does), so that ``kill``,
        ``ps`` and the exit command's clean-up are not held up by the stop timeout;
        CtrRemovedError if another process removed the container meanwhile."""
        if self.state.state not in LIVE:
            return
        if self.state.state is S.PAUSED:
            # A frozen process does not die, even of SIGKILL, until it is thawed.
            self.oci.unpause_container(self)
        if self.state.state is not S.STOPPING:  # else: a stop cut short (^C), tried again
            self._set(S.STOPPING)
            self.state.stopped_by_user = True  # no restart policy starts it again
            self._save()
        with self.runtime.container_lock(self.id).released():
            self.oci.stop_container(self, max(0, timeout))
        try:
            self._sync()
        except NoSuchCtrError:
            raise CtrRemovedError(f"container {self.name} was removed while it stopped") \
                from None

    def kill(self, signal: int = 9) -> None:
        """Send ``signal`` to the container's process; for SIGKILL, wait for its exit (as
        podman).  A container being stopped may be killed: that cuts the stop short."""
        with self.locked():
            self._require(S.RUNNING, S.PAUSED, S.CREATED, S.STOPPING, action="kill")
            if not self.state.stopped_by_user:  # as podman: no restart policy applies
                self.state.stopped_by_user = True
                self._save()
            self.oci.kill_container(self, signal)
            if signal == 9 and self.state.state is not S.PAUSED:
                self.oci.wait_container(self, KILL_WAIT)
                self._sync()

    def pause(self) -> None:
        """Freeze the container's processes."""
        with self.locked():
            self._require(S.RUNNING, action="pause")
            self.oci.pause_container(self)
            self._set(S.PAUSED)
            self._save()

    def unpause(self) -> None:
        """Thaw a paused container."""
        with self.locked():
            self._require(S.PAUSED, action="unpause")
            self.oci.unpause_container(self)
            self._set(S.RUNNING)
            self._save()

    def restart(self, timeout: int | None = None) -> None:
        """Stop the container if it runs, then start it again."""
        if timeout is not None:
            # lazy: only a stop timeout (~0.5 ms)
            from pypod_core.engine.validate import check_stop_timeout

            check_stop_timeout(timeout, "timeout")
        with self.locked():
            self._stop(self.config.stop_timeout if timeout is None else timeout)
            self.state.restart_count += 1
            self._prepare_start()
            self._start()

    def restart_if_due(self) -> bool:
        """Start an exited container again if its restart policy says so (``--restart``;
        what podman's exit command does after the clean-up, without systemd); whether
        it did.  Each such start counts in ``restart_count``."""
        if not self.config.restart_policy:
            return False
        from pypod_core.engine.run_options import should_restart  # lazy: policies only

        with self.locked():
            if self.state.state is not S.EXITED or not should_restart(self.config,
                                                                      self.state):
                return False
            self.state.restart_count += 1
            self._prepare_start()
            self._start()
        return True

    def cleanup(self) -> None:
        """After an exit: tear the network down, delete the container from the OCI
        runtime, drop per-boot files (what ``pypod container cleanup`` does)."""
        with self.locked():
            if self.state.state not in LIVE:
                try:
                    self._cleanup(keep_exit_file=True)
                finally:
                    self._save_exit()
        if (self.config.pod and not self.config.is_infra
                and INIT_TYPE_ANNOTATION not in self.config.annotations):
            self._apply_exit_policy()

    def _apply_exit_policy(self) -> None:
        """A pod with exit policy "stop" (podman's): once its last container but the
        infra one has exited, the infra container is stopped too (an init container's
        exit never does: the pod's other containers start after it).  Outside this
        container's lock: stopping the infra container takes its own."""
        try:
            pod = self.runtime.get_pod(self.config.pod)
        except (NoSuchPodError, PodRemovedError):
            return
        if pod.config.exit_policy != "stop":
            return
        members = pod.containers()
        if any(c.state.state in LIVE for c in members if not c.config.is_infra):
            return
        for infra in members:
            if infra.config.is_infra:
                infra.stop()

    def _has_leftovers(self) -> bool:
        """Whether the container may still have something of its run to undo (in the
        OCI runtime, the network, mounts): a live one, or one with a run dir (made by
        ``_init``, removed last-but-one by :meth:`_cleanup`).  One never initialised, or
        cleaned up after its exit, has nothing: removing it needs no OCI backend."""
        return self.state.state in LIVE or os.path.isdir(self.run_dir)

    def _cleanup(self, keep_exit_file: bool = False) -> None:
        """Undo ``_init`` for a container that no longer runs; the caller saves (and,
        with ``keep_exit_file``, drops the exit file once saved).  The OCI runtime's
        delete and the network's teardown do not depend on each other: they run side by
        side (the backend's ``delete_container`` on a thread of its own)."""
        import shutil  # lazy: only a clean-up, not ps or inspect (~1.5 ms, bz2 and lzma)

        # lazy: only a clean-up (etc_files ~7 ms, networking ~9 ms, rootfs, shm)
        from pypod_core.engine import etc_files, networking, rootfs, shm
        from pypod_core.host.background import Background

        deleting = Background(self.oci.delete_container, self)
        try:
            networking.teardown_network(self.runtime, self)
        finally:
            deleting.result()
        etc_files.leave_shared_hosts(self)
        if self.config.named_volumes:  # once the runtime's container is gone
            from pypod_core.engine import volumes  # lazy: only with volumes (~8 ms)

            volumes.unmount_all(self)
        if self.config.image_volumes:
            from pypod_core.engine import image_volumes  # lazy: only with them (~1 ms)

            image_volumes.unmount_all(self)
        if not keep_exit_file:
            _unlink(self.exit_file)
        shm.release(self)  # before its run dir goes: the files are the tmpfs's
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if not _marker_alive(self.attached_marker):
            _unlink(self.attached_marker)  # left by an attached pypod that was killed
        # After the delete: no process of the container holds the rootfs any more.
        rootfs.umount(self)

    # -- mounting the rootfs on the host (``pypod mount``) -----------------------------

    def mount(self) -> str:
        """Mount the container's rootfs on the host, once more (libpod's ``Mount``), and
        return its path; it stays mounted after the container stops, until as many
        :meth:`unmount` calls (or ``rm``)."""
        from pypod_core.engine import rootfs  # lazy: containers only (~1 ms)

        with self.locked():
            if self.state.state is S.REMOVING:
                raise CtrStateInvalidError(f"cannot mount container {self.id} as it is "
                                           f"being removed")
            path = rootfs.user_mount(self)
            self._save()
        return os.path.realpath(path)

    def unmount(self, force: bool = False) -> None:
        """Count one :meth:`mount` off (``force``: every one); after the last, the
        rootfs is unmounted, unless the container's run still holds it (its clean-up
        unmounts it then).  Not mounted is fine."""
        from pypod_core.engine import rootfs  # lazy: containers only (~1 ms)

        with self.locked():
            rootfs.user_umount(self, force, running=self._has_leftovers())
            self._save()

    # -- inside the container ----------------------------------------------------------

    def exec(self, command: list[str], env: dict[str, str] | None = None, user: str = "",
             workdir: str = "", stdout: Any = None, stderr: Any = None, *,
             stdin: Any = None, terminal: bool = False,
             detach_keys: str = DEFAULT_DETACH_KEYS, resize: Resize = None) -> int:
        """Run ``command`` in the running container; return its exit code (127 not
        found, 126 not executable).  Its stdin is /dev/null, unless ``stdin`` (as
        :meth:`start_attached`'s); ``terminal`` runs it on a terminal of its own, sized
        by ``resize``.  An exec with ``stdin`` or ``terminal`` runs as a session of the
        OCI runtime's: ``detach_keys`` leave it running (DetachedError), and a command
        that cannot run raises CommandNotFoundError or CommandNotExecutableError."""
        if stdin is not None or terminal:
            from pypod_core.engine import attach  # lazy: only attached sessions (~1 ms)

            return attach.exec_attached(self, command, env, user, workdir, stdin, stdout,
                                        stderr, terminal, detach_keys, resize)
        from pypod_core.engine.bundle import exec_spec  # lazy: only exec (bundle ~3 ms)

        with self.locked():
            self._require(S.RUNNING, action="exec in")
            spec = exec_spec(self.config, command, env=self.exec_env(env), user=user,
                             workdir=workdir, rootfs=self.state.mount_point)
        return self.oci.exec_container(self, spec, stdout=stdout, stderr=stderr)

    def exec_env(self, env: dict[str, str] | None) -> dict[str, str] | None:
        """An exec's variables: the container's env secrets (podman gives them to exec
        sessions too), then ``env``."""
        if not any(s.type == "env" for s in self.config.secrets):
            return env
        from pypod_core.engine import ctr_secrets  # lazy: only with --secret

        return {**ctr_secrets.env(self), **(env or {})}

    def exec_detached(self, command: list[str], env: dict[str, str] | None = None,
                      user: str = "", workdir: str = "", terminal: bool = False) -> str:
        """Start ``command`` in the running container and leave it running (``exec
        -d``): a session of the OCI runtime's whose output is dropped; its id."""
        from pypod_core.engine import attach  # lazy: only exec sessions (~1 ms)

        return attach.exec_detached(self, command, env, user, workdir, terminal)

    def logs(self, follow: bool = False, tail: int | None = None,
             since: float | None = None) -> Iterator[LogLine]:
        """The container's output from its k8s-file log, oldest first: the last
        ``tail`` lines, those written at or after ``since`` (a Unix time); with
        ``follow``, keep reading until the container stops."""
        from pypod_core.engine import logs as k8s_log  # lazy: only logs (~1.2 ms)

        if self.config.log_driver == "none":
            raise InvalidArgError(f"this container is using the 'none' log driver, "
                                  f"cannot read logs: container {self.name} has no log")
        if follow:
            return k8s_log.follow_log(self.log_path, self._still_running, tail=tail,
                                      since=since)
        return k8s_log.read_log(self.log_path, tail=tail, since=since)

    def copy_in(self, source: Any, dest: str, *, archive: bool = True,
                overwrite: bool = False) -> None:
        """Copy a host path, or a tar stream (a binary file object), to ``dest`` in the
        container, running or not, by podman's rules (``pypod cp SRC CTR:DEST``; see
        :mod:`pypod_core.engine.copy`)."""
        from pypod_core.engine.copy import copy_in  # lazy: only cp (copy, with tarfile ~5 ms)

        copy_in(self, source, dest, archive=archive, overwrite=overwrite)

    def copy_out(self, source: str, dest: Any, *, overwrite: bool = False) -> None:
        """Copy ``source`` of the container to a host path, or as a tar stream to a binary
        file object (``pypod cp CTR:SRC DEST``; see :mod:`pypod_core.engine.copy`)."""
        from pypod_core.engine.copy import copy_out  # lazy: only cp (copy, with tarfile ~5 ms)

        copy_out(self, source, dest, overwrite=overwrite)

    def still_running(self) -> bool:
        """Whether the container (still) exists and has not exited (synced)."""
        return self._still_running()

    def _still_running(self) -> bool:
        try:
            self.sync()
        except NoSuchCtrError:
            return False
        return self.state.state in LIVE

    # -- inspection --------------------------------------------------------------------

    def inspect(self) -> dict[str, Any]:
        """``pypod inspect``: podman's keys and layout."""
        from pypod_core.engine.inspect import inspect_container  # lazy: only inspect and ps (~2 ms)

        return inspect_container(self)


def _marker_alive(path: str) -> bool:
    """Whether the attached marker at ``path`` names a live process."""
    try:
        with open(path) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid_alive(pid)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
