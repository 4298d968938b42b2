"""Declares the ``oci``, ``oci-archive``, ``docker-archive`` and ``dir`` image
transports; imports nothing heavy (each is built only when a reference names it)."""

from __future__ import annotations

from pypod_core.plugin import ImageTransportBackend, hookimpl


def _oci(runtime):
    from pypod_image_archive.oci import OCILayoutTransport  # lazy: only when used

    return OCILayoutTransport()


def _oci_archive(runtime):
    from pypod_image_archive.oci import OCIArchiveTransport  # lazy: only when used

    return OCIArchiveTransport()


def _docker_archive(runtime):
    # lazy: only when the backend is built (~35 ms)
    from pypod_image_archive.docker_archive import DockerArchiveTransport

    return DockerArchiveTransport()


def _dir(runtime):
    from pypod_image_archive.dirformat import DirTransport  # lazy: only when used

    return DirTransport()


@hookimpl
def pypod_image_transports():
    """The layout and archive transports."""
    yield ImageTransportBackend(name="oci", factory=_oci,
                                description="OCI image layout directories (oci:DIR[:REF])")
    yield ImageTransportBackend(name="oci-archive", factory=_oci_archive,
                                description="tar archives of OCI layouts "
                                            "(oci-archive:FILE[:REF])")
    yield ImageTransportBackend(name="docker-archive", factory=_docker_archive,
                                description="docker save archives "
                                            "(docker-archive:FILE[:REF])")
    yield ImageTransportBackend(name="dir", factory=_dir,
                                description="one image's manifest and blobs as files "
                                            "(dir:DIR)")
