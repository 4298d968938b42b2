"""The secret driver conformance kit: subclass :class:`SecretDriverTests` and give the
``make_driver`` fixture (each call a new driver object over the same storage, under
``tmp_path``, as another process would make)::

    class TestFile(SecretDriverTests):
        @pytest.fixture
        def make_driver(self, tmp_path):
            return lambda: FileDriver(str(tmp_path / "secrets"))

``options`` (or a ``driver_options`` fixture, for options that name ``tmp_path``) are
options the driver must accept (and give back from validate_options, defaults filled
in); every call passes what validate_options gave back, as the engine does.  After
each test every secret the test stored is deleted.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest

from pypod_core.errors import InvalidArgError, NoSuchSecretError, PypodError, SecretExistsError
from pypod_core.plugin.secret import MAX_SECRET_SIZE, SECRET_ID_LENGTH, SecretDriver

#: Bytes no text codec would keep: every byte value, a NUL and a lone newline.
AWKWARD = bytes(range(256)) + b"\x00\n"


def _new_id() -> str:
    return uuid.uuid4().hex[:SECRET_ID_LENGTH]


def _files_under(root: str) -> Iterator[str]:
    for directory, _, files in os.walk(root):
        for name in files:
            yield os.path.join(directory, name)


class SecretDriverTests:
    """The conformance kit for secret drivers."""

    #: Options the driver must accept.
    options: ClassVar[dict[str, str]] = {}
    #: Where the driver keeps data on this host ("" if elsewhere): no file below it may
    #: be readable by others.
    home: ClassVar[str] = ""

    @pytest.fixture
    def make_driver(self) -> Callable[[], SecretDriver]:  # pragma: no cover - subclass
        raise NotImplementedError("give a `make_driver` fixture returning a factory")

    @pytest.fixture
    def driver_options(self) -> dict[str, str]:
        """The options the tests create secrets with (default: ``options``)."""
        return dict(self.options)

    @pytest.fixture
    def driver(self, make_driver: Callable[[], SecretDriver],
               driver_options: dict[str, str]) -> Iterator[SecretDriver]:
        """A driver; what the test stored is deleted after it."""
        made = make_driver()
        before = set(made.list(made.validate_options(driver_options)))
        yield made
        opts = made.validate_options(driver_options)
        for secret_id in set(made.list(opts)) - before:
            made.delete(secret_id, opts)

    @pytest.fixture
    def opts(self, driver: SecretDriver, driver_options: dict[str, str]) -> dict[str, str]:
        """The options as the driver gave them back."""
        return driver.validate_options(driver_options)

    def test_name_is_a_string(self, driver: SecretDriver) -> None:
        assert isinstance(driver.name, str) and driver.name

    def test_store_then_lookup_gives_the_same_bytes(self, driver, opts) -> None:
        secret_id = _new_id()
        driver.store(secret_id, AWKWARD, opts)
        assert driver.lookup(secret_id, opts) == AWKWARD
        assert secret_id in driver.list(opts)

    def test_largest_secret_is_kept(self, driver, opts) -> None:
        secret_id, data = _new_id(), os.urandom(MAX_SECRET_SIZE - 1)
        driver.store(secret_id, data, opts)
        assert driver.lookup(secret_id, opts) == data

    def test_secrets_are_kept_apart(self, driver, opts) -> None:
        first, second = _new_id(), _new_id()
        driver.store(first, b"one", opts)
        driver.store(second, b"two", opts)
        driver.delete(first, opts)
        assert driver.lookup(second, opts) == b"two"
        assert first not in driver.list(opts)

    def test_data_outlives_the_driver_object(self, driver, opts, make_driver,
                                             driver_options) -> None:
        secret_id = _new_id()
        driver.store(secret_id, b"kept", opts)
        again = make_driver()
        assert again.lookup(secret_id, again.validate_options(driver_options)) == b"kept"

    def test_second_store_of_an_id_is_refused(self, driver, opts) -> None:
        secret_id = _new_id()
        driver.store(secret_id, b"first", opts)
        with pytest.raises(SecretExistsError):
            driver.store(secret_id, b"second", opts)
        assert driver.lookup(secret_id, opts) == b"first"

    def test_missing_id_is_no_such_secret(self, driver, opts) -> None:
        with pytest.raises(NoSuchSecretError):
            driver.lookup(_new_id(), opts)
        with pytest.raises(NoSuchSecretError):
            driver.delete(_new_id(), opts)

    def test_unknown_option_is_refused(self, driver, driver_options) -> None:
        with pytest.raises(InvalidArgError, match="no-such-option"):
            driver.validate_options({**driver_options, "no-such-option": "1"})

    def test_list_is_sorted(self, driver, opts) -> None:
        for _ in range(3):
            driver.store(_new_id(), b"x", opts)
        ids = driver.list(opts)
        assert ids == sorted(ids)

    def test_errors_never_hold_the_data(self, driver, opts) -> None:
        secret_id, data = _new_id(), b"do-not-print-me"
        driver.store(secret_id, data, opts)
        with pytest.raises(PypodError) as caught:
            driver.store(secret_id, data, opts)
        assert "do-not-print-me" not in str(caught.value)

    def test_files_are_the_owners_alone(self, driver, opts) -> None:
        driver.store(_new_id(), b"private", opts)
        home = self.home or opts.get("path", "")
        if not home:
            return  # the data is not on this host
        assert stat.S_IMODE(os.stat(home).st_mode) & 0o077 == 0
        for path in _files_under(home):
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
