"""Image references of the ``docker`` transport: ``[registry/]repository[:tag][@digest]``.

The grammar is the distribution spec's (and containers/image's ``docker/reference``): the
first path component is a registry when it holds a ``.`` or a ``:`` or is ``localhost``;
a name without one is a *short name*, resolved through registries.conf
(:mod:`pypod_core.host.registries`).  ``docker.io`` names of one component live under
``library/``, as Docker Hub keeps them.
"""

from __future__ import annotations

import functools
import re

import attrs

from pypod_core.errors import InvalidArgError

DOCKER_HUB = "docker.io"
#: Where Docker Hub's registry API answers (``docker.io`` is only the name).
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The grammar's repository, tag, digest and registry patterns, compiled on first
    use (compiling them costs every command that imports this module, such as
    ``images``, which parses no reference)."""
    return (re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$"),
            re.compile(r"^[\w][\w.-]{0,127}$"),
            re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$"),
            re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)"
                       r"(?::[0-9]+)?$"))


@attrs.frozen
class ImageReference:
    """One parsed reference.  ``registry`` is empty for a short name; ``tag`` and
    ``digest`` are empty when the reference has none (see :meth:`with_default_tag`)."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def qualified(self) -> bool:
        """Whether the reference names its registry (is not a short name)."""
        return bool(self.registry)

    @property
    def name(self) -> str:
        """``registry/repository`` (just the repository for a short name)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def with_default_tag(self) -> ImageReference:
        """The reference with ``latest`` when it has neither a tag nor a digest."""
        if self.tag or self.digest:
            return self
        return attrs.evolve(self, tag=DEFAULT_TAG)

    def on_registry(self, registry: str) -> ImageReference:
        """This short name on ``registry`` (``library/`` added for Docker Hub)."""
        repository = self.repository
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"
        return attrs.evolve(self, registry=registry, repository=repository)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse ``text`` (no transport prefix); InvalidArgError naming it if malformed.

    ``docker.io/busybox`` becomes ``docker.io/library/busybox``; ``index.docker.io``
    is ``docker.io``."""
    repository_re, tag_re, digest_re, registry_re = _patterns()
    rest, _, digest = text.partition("@")
    if digest and not digest_re.match(digest):
        raise InvalidArgError(f"invalid image reference {text!r}: bad digest {digest!r}")
    registry = ""
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not registry_re.match(first):
            raise InvalidArgError(f"invalid image reference {text!r}: bad registry {first!r}")
        registry, rest = first, remainder
    repository, colon, tag = rest.rpartition(":")
    if not colon:
        repository, tag = rest, ""
    elif "/" in tag or not tag_re.match(tag):
        raise InvalidArgError(f"invalid image reference {text!r}: bad tag {tag!r}")
    if not repository_re.match(repository):
        raise InvalidArgError(
            f"invalid image reference {text!r}: repository name must be lowercase "
            "letters, digits and separators")
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageReference(registry, repository, tag, digest)
