"""TLS for a registry: the system's CAs plus a certs.d directory, as containers-certs.d(5).

A registry's directory is ``--cert-dir`` when given, else the first of
``$HOME/.config/containers/certs.d/HOST`` (rootless), ``/etc/containers/certs.d/HOST``
and ``/etc/docker/certs.d/HOST`` that exists (``HOST`` with its port).  In it, each
``*.crt`` is a CA to trust besides the system's, and each ``NAME.cert`` with its
``NAME.key`` a client certificate; a certificate without its key (or a key without its
certificate) is an error, as it is for podman.
"""

from __future__ import annotations

import os
import ssl

from pypod_core.errors import RegistryError


def certs_dir(host: str, cert_dir: str = "") -> str:
    """The certs.d directory for ``host`` (``cert_dir`` when given), or "" if none."""
    if cert_dir:
        if not os.path.isdir(cert_dir):
            raise RegistryError(f"--cert-dir {cert_dir}: not a directory")
        return cert_dir
    candidates = ["/etc/containers/certs.d", "/etc/docker/certs.d"]
    home = os.environ.get("HOME")
    if os.geteuid() != 0 and home:
        candidates.insert(0, os.path.join(home, ".config", "containers", "certs.d"))
    for base in candidates:
        path = os.path.join(base, host)
        if os.path.isdir(path):
            return path
    return ""


def tls_context(host: str, *, verify: bool = True, cert_dir: str = "") -> ssl.SSLContext:
    """A client context for ``host``: verified against the system's CAs and the
    directory's ``*.crt`` (unless ``verify`` is False), presenting its client
    certificate if it has one.  RegistryError naming a file that cannot be loaded."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    directory = certs_dir(host, cert_dir)
    if not directory:
        return context
    names = sorted(os.listdir(directory))
    for name in names:
        path = os.path.join(directory, name)
        try:
            if name.endswith(".crt"):
                if verify:
                    context.load_verify_locations(cafile=path)
            elif name.endswith(".cert"):
                key = path[: -len(".cert")] + ".key"
                if not os.path.exists(key):
                    raise RegistryError(f"missing key {os.path.basename(key)} for client "
                                        f"certificate {path}")
                context.load_cert_chain(path, key)
            elif name.endswith(".key") and name[: -len(".key")] + ".cert" not in names:
                raise RegistryError(f"missing client certificate "
                                    f"{name[: -len('.key')]}.cert for key {path}")
        except (ssl.SSLError, OSError) as exc:
            raise RegistryError(f"{path}: cannot load: {getattr(exc, 'reason', '') or exc}") \
                from None
    return context
