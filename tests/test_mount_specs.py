"""podman's mount syntaxes (-v, --mount, --tmpfs, --volumes-from) and the option lists
podman makes of them (ProcessOptions), checked against what podman 4.3 prints."""

from __future__ import annotations

import pytest

from pypod_core.engine.mount_specs import (
    parse_mount,
    parse_tmpfs,
    parse_volume,
    parse_volumes_from,
    process_options,
)
from pypod_core.errors import InvalidArgError
from pypod_core.model import ImageVolume, Mount, NamedVolume


def test_volume_flag_kinds():
    assert parse_volume("data:/var/lib/db") == NamedVolume("data", "/var/lib/db")
    assert parse_volume("data:/db/:ro,nocopy") == NamedVolume("data", "/db", ("ro", "nocopy"))
    assert parse_volume("/srv") == NamedVolume("", "/srv")
    assert parse_volume("/etc:/h:ro,Z,rshared") == Mount("/etc", "/h", True,
                                                         options=("Z", "rshared"))
    assert parse_volume("./x:/x").source.startswith("/")


@pytest.mark.parametrize("spec,words", [
    ("a:/b:ro,rw", "ro and rw cannot both be given"),
    ("a:/b:O", "overlay volumes (O) are not supported"),
    ("a:/b:idmap", "idmapped mounts"),
    ("a:/b:weird", "unknown option 'weird'"),
    ("a:b", "must be absolute"),
    ("a:/", "cannot mount over the container's root"),
])
def test_volume_flag_errors_say_what(spec, words):
    with pytest.raises(InvalidArgError) as info:
        parse_volume(spec)
    assert words in str(info.value) and spec in str(info.value)


def test_mount_flag_kinds():
    assert parse_mount("type=volume,source=v,target=/v,ro") == NamedVolume("v", "/v", ("ro",))
    assert parse_mount("type=volume,target=/anon") == NamedVolume("", "/anon")
    assert parse_mount("type=bind,src=/etc,dst=/e,readonly=true,bind-propagation=rslave") == \
        Mount("/etc", "/e", True, options=("rslave",))
    assert parse_mount("type=bind,src=/etc,target=/e,rw=false").read_only
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700,noexec") == \
        Mount("tmpfs", "/t", type="tmpfs", options=("size=1m", "mode=700", "noexec"))
    assert parse_mount('type=bind,"source=/e",target=/e').source == "/e"
    assert parse_mount("type=image,source=alpine,target=/img/") == \
        ImageVolume("alpine", "/img", read_write=False)
    assert parse_mount("type=image,src=a:1,dst=/i,rw=true").read_write
    assert not parse_mount("type=image,src=a,destination=/i,readwrite=false").read_write
    assert parse_mount("type=devpts,target=/dev/pts2,uid=0,gid=5,mode=620,max=9") == \
        Mount("devpts", "/dev/pts2", type="devpts",
              options=("uid=0", "gid=5", "mode=620", "max=9"))


@pytest.mark.parametrize("spec,words", [
    ("source=v,target=/v", "expected type="),
    ("type=nfs,source=i,target=/i", "mount type 'nfs' is not supported"),
    ("type=image,target=/i", "needs source= (the image) and target="),
    ("type=image,source=i", "needs source= (the image) and target="),
    ("type=image,source=i,target=/i,ro=true", "'ro=true' is not supported with type=image"),
    ("type=image,source=i,target=/i,rw=yes", "rw must be true or false, not 'yes'"),
    ("type=image,source=i,target=/i,rw", "rw must be true or false"),
    ("type=image,source=i,target=/i,U=true", "'U=true' is not supported with type=image"),
    ("type=image,source=i,target=/", "cannot mount over the container's root"),
    ("type=devpts,uid=1", "target= (the container path) is required"),
    ("type=devpts,source=x,target=/p", "'source=x' is not a devpts option"),
    ("type=devpts,target=/p,mode=rw", "'mode=rw' is not a devpts option"),
    ("type=devpts,target=/p,ptxmode=666", "'ptxmode=666' is not a devpts option"),
    ("type=volume,source=v", "target= (the container path) is required"),
    ("type=tmpfs,source=x,target=/t", "a tmpfs mount takes no source"),
    ("type=volume,source=v,target=/v,tmpfs-size=1m", "not supported with type=volume"),
    ("type=bind,source=/e,target=/e,ro=maybe", "ro must be true or false"),
])
def test_mount_flag_errors_say_what(spec, words):
    with pytest.raises(InvalidArgError) as info:
        parse_mount(spec)
    assert words in str(info.value)


def test_tmpfs_and_volumes_from():
    assert parse_tmpfs("/run:size=1m,mode=1777,noexec") == Mount(
        "tmpfs", "/run", type="tmpfs", options=("size=1m", "mode=1777", "noexec"))
    assert parse_tmpfs("/t:ro").read_only
    with pytest.raises(InvalidArgError, match="not a tmpfs option"):
        parse_tmpfs("/t:rbind")
    assert parse_volumes_from("web:ro,z") == ("web", ("ro", "z"))
    assert parse_volumes_from("web") == ("web", ())
    for bad in ("web:nodev", ":ro", "web:ro,rw"):
        with pytest.raises(InvalidArgError):
            parse_volumes_from(bad)


def test_option_lists_are_podmans():
    """What podman 4.3 shows in HostConfig.Binds and .Tmpfs for the same flags."""
    assert process_options((), False) == ["rw", "rprivate", "nosuid", "nodev", "rbind"]
    assert process_options(("ro",), False) == ["ro", "rprivate", "nosuid", "nodev", "rbind"]
    assert process_options(("size=1m", "mode=700"), False, tmpfs=True) == [
        "size=1m", "mode=700", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
    assert process_options(("z",), True, source="/") == ["ro", "z", "rprivate", "rbind"]
    assert process_options(("rshared", "suid", "bind"), False) == [
        "rshared", "suid", "bind", "rw", "nodev"]
