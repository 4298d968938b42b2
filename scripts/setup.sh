#!/bin/sh
# Set up pypod on a Debian machine, as root: system packages, a venv in .venv with the
# core and every bundled plugin installed editable, the host tweaks containers need,
# and a busybox root filesystem to run containers from.  Safe to run again.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PACKAGES="runc crun conmon containernetworking-plugins iptables iproute2 busybox-static"
# --network slirp4netns: user-mode networking attached to a container's namespace.
PACKAGES="$PACKAGES slirp4netns"
# Name resolution on created networks: the dnsname CNI plugin and the dnsmasq it runs.
PACKAGES="$PACKAGES golang-github-containernetworking-plugin-dnsname dnsmasq-base"
# The default seccomp profile (/usr/share/containers/seccomp.json), --init's catatonit,
# and a C compiler with a static libc for the tests' system-call probe.
PACKAGES="$PACKAGES golang-github-containers-common catatonit gcc libc6-dev"
# Images: a local registry (openssl makes its test certificate, apache2-utils' htpasswd
# its bcrypt password file), skopeo and zstd for the image transport's tests, and
# Debian's podman, whose pushed images the pull's interop test pulls (the benchmarks
# compare with it too).
PACKAGES="$PACKAGES docker-registry skopeo zstd openssl apache2-utils podman"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# crun refuses a hybrid cgroup host while any controller is left on the v2 hierarchy;
# on such hosts hugetlb is, because no v1 hierarchy claims it.  Mount it on v1.
if [ -f /sys/fs/cgroup/unified/cgroup.controllers ] && \
   grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
mkdir -p .cache
LOG=.cache/setup-pip.log
: > "$LOG"
pip_install() {
    # pip's chatter goes to the log; on failure the log is shown and setup stops.
    .venv/bin/pip install -q --disable-pip-version-check "$@" >>"$LOG" 2>&1 || {
        cat "$LOG" >&2
        echo "setup: pip install $* failed" >&2
        exit 1
    }
}
pip_install --upgrade pip
# Editable installs in "compat" mode are plain paths in a .pth file: the default mode
# installs an import hook that costs every pypod process ~11 ms at start-up.
pip_install --config-settings editable_mode=compat -e ".[test]"
for plugin in plugins/*/; do
    pip_install --no-deps --config-settings editable_mode=compat -e "$plugin"
done

# Byte-compile now: with PYTHONDONTWRITEBYTECODE set (as on CI), every pypod process
# would otherwise compile the whole core again at start-up.
.venv/bin/python -m compileall -q pypod_core plugins >/dev/null

# A busybox root filesystem, made from Debian's busybox-static, to run containers from.
.venv/bin/python -m pypod_core.host.rootfs "$ROOT/.cache/rootfs" >/dev/null
echo "setup: done; rootfs at $ROOT/.cache/rootfs"
