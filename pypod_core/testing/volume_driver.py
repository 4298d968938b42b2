"""The volume driver conformance kit: subclass :class:`VolumeDriverTests` and give the
``driver`` fixture (a fresh driver whose home is under ``tmp_path``)::

    class TestLocal(VolumeDriverTests):
        mount_options = {"type": "tmpfs", "device": "tmpfs", "o": "size=4m"}

        @pytest.fixture
        def driver(self, tmp_path):
            return LocalDriver(str(tmp_path / "volumes"))

``mount_options``, if the driver has options that make it really mount something
(tmpfs, a device), are used to check that such a volume is mounted by ``mount`` and
gone after ``unmount`` and ``remove``; ``options`` are options it must accept.  Every
check reads and writes through the path ``mount`` returns, never the driver's own
layout.  After each test every volume is removed and no mount may be left under the
driver's home, whether the test passed or not.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import ClassVar

import pytest

from pypod_core.errors import InvalidArgError, NoSuchVolumeError, VolumeDriverError
from pypod_core.host.mounts import is_mount_point, mounts_under
from pypod_core.plugin.volume import VolumeDriver, VolumeInfo


def _write(path: str, name: str, data: bytes) -> None:
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def _read(path: str, name: str) -> bytes:
    with open(os.path.join(path, name), "rb") as f:
        return f.read()


class VolumeDriverTests:
    """The conformance kit for volume drivers."""

    #: Options that make the driver mount something (None: it has none).
    mount_options: ClassVar[dict[str, str] | None] = None
    #: Options the driver must accept (and give back from validate_options).
    options: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def driver(self) -> VolumeDriver:  # pragma: no cover - the subclass gives it
        raise NotImplementedError("give a `driver` fixture returning a VolumeDriver")

    @pytest.fixture(autouse=True)
    def _no_mount_left(self, driver: VolumeDriver) -> Iterator[None]:
        yield
        failures = []
        for name in list(driver.volumes()):
            try:
                driver.remove(name, {})
            except Exception as exc:  # noqa: BLE001 - clean up all, then fail
                failures.append(f"{name}: {exc}")
        left = mounts_under(driver.home) if driver.home else []
        for point in reversed(left):  # never leave a mount behind, even when failing
            os.system(f"umount -l '{point}'")  # noqa: S605 - test cleanup of our own
        assert not failures and not left, (failures, left)

    def make(self, driver: VolumeDriver, name: str = "",
             options: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
        """Create a volume (a fresh name unless given) as the engine does; its name and
        the options the driver accepted."""
        name = name or f"v{uuid.uuid4().hex[:10]}"
        accepted = driver.validate_options(dict(options or {}))
        info = driver.create(name, accepted)
        assert isinstance(info, VolumeInfo) and os.path.isabs(info.path)
        return name, accepted

    # -- create, mount, files ---------------------------------------------------------

    def test_a_new_volume_mounts_as_an_empty_writable_directory(self, driver):
        name, opts = self.make(driver)
        path = driver.mount(name, opts)
        assert os.path.isdir(path) and os.listdir(path) == []
        _write(path, "hello", b"hi")
        assert _read(path, "hello") == b"hi"
        assert name in driver.volumes()

    def test_files_survive_unmount_and_mount(self, driver):
        name, opts = self.make(driver)
        path = driver.mount(name, opts)
        os.makedirs(os.path.join(path, "sub/dir"))
        _write(path, "sub/dir/f", b"kept")
        driver.unmount(name, opts)
        driver.unmount(name, opts)  # not mounted: fine
        again = driver.mount(name, opts)
        assert _read(again, "sub/dir/f") == b"kept"

    def test_mounting_a_mounted_volume_returns_the_same_path(self, driver):
        name, opts = self.make(driver)
        first = driver.mount(name, opts)
        assert driver.mount(name, opts) == first
        driver.unmount(name, opts)
        if driver.home:
            assert mounts_under(driver.home) == []

    def test_volumes_are_apart(self, driver):
        one, one_opts = self.make(driver)
        two, two_opts = self.make(driver)
        _write(driver.mount(one, one_opts), "mine", b"1")
        assert os.listdir(driver.mount(two, two_opts)) == []
        assert driver.volumes() == sorted([one, two])

    def test_create_accepts_its_options(self, driver):
        name, opts = self.make(driver, options=self.options)
        assert set(opts) >= set(self.options)
        _write(driver.mount(name, opts), "x", b"y")

    # -- remove -------------------------------------------------------------------------

    def test_remove_deletes_the_files_and_frees_the_name(self, driver):
        name, opts = self.make(driver)
        _write(driver.mount(name, opts), "old", b"gone")
        driver.remove(name, opts)
        assert name not in driver.volumes()
        with pytest.raises(NoSuchVolumeError):
            driver.remove(name, opts)
        with pytest.raises(NoSuchVolumeError):
            driver.mount(name, opts)
        self.make(driver, name)
        assert os.listdir(driver.mount(name, opts)) == []

    def test_missing_volumes(self, driver):
        for call in (driver.mount, driver.unmount, driver.remove):
            with pytest.raises(NoSuchVolumeError):
                call("never-made", {})

    # -- names and options ---------------------------------------------------------------

    @pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "-dash", "sp ace",
                                     "x\0y"])
    def test_bad_names_are_refused_and_make_nothing(self, driver, bad):
        with pytest.raises(InvalidArgError):
            driver.create(bad, {})
        assert driver.volumes() == []
        if driver.home:
            assert not os.path.lexists(os.path.join(os.path.dirname(driver.home), "escape"))

    def test_an_unknown_option_is_refused(self, driver):
        with pytest.raises(InvalidArgError) as info:
            driver.validate_options({"no-such-option-pypod": "1"})
        assert "no-such-option-pypod" in str(info.value)

    def test_status_is_json_data(self, driver):
        name, _ = self.make(driver)
        json.dumps(driver.status(name))

    # -- volumes that mount something ----------------------------------------------------

    def need_mount_options(self) -> dict[str, str]:
        """Skip a test of real mounts for a driver that makes none."""
        if self.mount_options is None:
            pytest.skip("this driver has no options that mount (mount_options = None)")
        return self.mount_options

    def test_a_mounting_volume_is_mounted_only_while_mounted(self, driver):
        name, opts = self.make(driver, options=self.need_mount_options())
        path = driver.mount(name, opts)
        assert is_mount_point(path)
        _write(path, "f", b"1")
        assert driver.mount(name, opts) == path  # once, not stacked
        assert [p for p in mounts_under(path)] == [os.path.realpath(path)]
        driver.unmount(name, opts)
        assert not is_mount_point(path)
        driver.mount(name, opts)
        driver.remove(name, opts)  # unmounts first
        assert not os.path.lexists(path) or not is_mount_point(path)
        if driver.home:
            assert mounts_under(driver.home) == []

    def test_remove_never_deletes_through_a_mount(self, driver, tmp_path):
        """A mount the driver did not make (another tool's bind mount) inside a volume:
        ``remove`` either fails (VolumeDriverError) or takes the mount away first; what
        the mount showed survives either way."""
        name, opts = self.make(driver)
        path = driver.mount(name, opts)
        precious = tmp_path / f"precious-{uuid.uuid4().hex[:6]}"
        precious.mkdir()
        (precious / "keep").write_text("me")
        inner = os.path.join(path, "inner")
        os.mkdir(inner)
        assert os.system(f"mount --bind '{precious}' '{inner}'") == 0  # noqa: S605
        try:
            driver.remove(name, opts)
        except VolumeDriverError:
            pass
        finally:
            os.system(f"umount -l '{inner}' 2>/dev/null")  # noqa: S605
        assert (precious / "keep").read_text() == "me"
