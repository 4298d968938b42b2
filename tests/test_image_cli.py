"""``pypod`` image commands as a user runs them: the real ``pypod`` on a store of the
test's own, images made offline with ``runtime.import_image`` (busybox, and small layers
the tests write), their layers in the real graph driver.

Every message and exit code below was first checked against Debian's podman 4.3.1 on a
private ``--root`` (with the containers.conf bench/bench_run.py writes); a docstring
says where pypod differs on purpose.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import make_layer, need_binary, run_pypod
from pypod_core.model import Image

Pypod = Callable[..., subprocess.CompletedProcess[str]]
OLD = "2020-01-01T00:00:00Z"


@pytest.fixture
def rt(make_runtime: Callable[..., Any]) -> Any:
    """A runtime on the same store as the ``pypod`` fixture's command line."""
    need_binary("runc")
    need_binary("conmon")
    return make_runtime()


@pytest.fixture
def pypod(cli_flags: list[str], rt: Any) -> Pypod:
    """``pypod(*args)`` on this test's store."""
    return lambda *args: run_pypod(*cli_flags, *args)


@pytest.fixture
def layers(tmp_path: Path) -> dict[str, str]:
    return {
        "a": make_layer(tmp_path / "a.tar", {"etc/a": b"a\n"}),
        "b": make_layer(tmp_path / "b.tar", {"etc/b": b"b\n"}),
        "c": make_layer(tmp_path / "c.tar", {"etc/c": b"c\n"}),
    }


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], code: int = 125) -> str:
    """The stderr of a command that exited with ``code``."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result.stderr


def podman_size(rt: Any, image: Image) -> int:
    """podman's Size of an image: the layers' tars, the manifest twice, the config."""
    blob = rt.image_store.blob_path
    return (image.size + 2 * os.path.getsize(blob(image.digest))
            + os.path.getsize(blob("sha256:" + image.id)))


# -- images ------------------------------------------------------------------------------


def test_images_prints_podmans_table_one_row_per_name(pypod: Pypod, rt: Any,
                                                      busybox_tar: str, layers) -> None:
    """Columns as Go's tabwriter lays them out for podman (each as wide as its widest
    cell plus 2, at least 12; the last one not padded); names oldest first (a tag is
    appended, as podman's); an image without names is one ``<none>`` row; sizes and
    ages as podman prints them; newest first."""
    from pypod_core.cli.images import human_size

    busybox = rt.import_image([busybox_tar], {"created": OLD}, names=["busybox"])
    rt.tag_image("busybox", "quay.io/lib/bb:1.36")
    bare = rt.import_image([layers["a"]])
    lines = ok(pypod("images")).splitlines()
    cells = [re.split(r"  +", line) for line in lines]
    assert cells[0] == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    widths = [max(12, max(len(row[i]) for row in cells) + 2) for i in range(4)]
    for line, row in zip(lines, cells, strict=True):
        assert line == "".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + row[4]
    size = human_size(podman_size(rt, busybox))
    assert re.fullmatch(r"\d(\.\d\d?)? MB", size)
    assert cells[2:] == [["localhost/busybox", "latest", busybox.short_id, cells[2][3], size],
                         ["quay.io/lib/bb", "1.36", busybox.short_id, cells[2][3], size]]
    assert re.fullmatch(r"\d+ years ago", cells[2][3])
    assert cells[1][:3] == ["<none>", "<none>", bare.short_id]
    assert re.fullmatch(r"(Less than a second|\d+ seconds?) ago", cells[1][3])
    assert cells[1][4] == human_size(podman_size(rt, bare))


def test_images_quiet_no_trunc_noheading_digests_history(pypod: Pypod, rt: Any,
                                                         layers) -> None:
    """``-q`` prints each image once (not once per name); ``--no-trunc`` shows
    ``sha256:`` and the whole id; ``-n`` drops the header; ``--digests`` adds DIGEST
    after TAG; ``--history`` adds the names, newest first."""
    two = rt.import_image([layers["a"]], names=["one", "two"])
    assert ok(pypod("images", "-q")) == f"{two.short_id}\n"
    assert ok(pypod("images", "-q", "--no-trunc")) == f"sha256:{two.id}\n"
    lines = ok(pypod("images", "--no-trunc", "--noheading")).splitlines()
    assert len(lines) == 2 and all(f"sha256:{two.id}" in line for line in lines)
    assert ok(pypod("images", "-n")).splitlines()[0].startswith("localhost/two")
    header, row, _ = ok(pypod("images", "--digests", "--history")).splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED",
                              "SIZE", "HISTORY"]
    assert row.split()[2] == two.digest
    assert row.endswith("localhost/one:latest, localhost/two:latest")
    assert ok(pypod("images", "-a", "-q")) == f"{two.short_id}\n"  # nothing is hidden


def test_images_format_json_has_podmans_keys(pypod: Pypod, rt: Any, rootfs: str,
                                             layers) -> None:
    """podman 4.3.1's keys and order; ``RepoTags`` is null there (the names are under
    ``Names``); an image without names has ``Dangling`` and neither ``Names`` nor
    ``History``; one entry per row, as podman's."""
    named = rt.import_image([layers["a"], layers["b"]],
                            {"created": OLD, "config": {"Labels": {"k": "v"}}},
                            names=["first"])
    rt.tag_image("first", "quay.io/x/second:2")
    bare = rt.import_image([layers["c"]], {"history": []})  # no history of its own
    rt.create_container(image=named.id, command=["true"])
    entries = json.loads(ok(pypod("images", "--format", "json")))
    assert [e["Id"] for e in entries] == [bare.id, named.id, named.id]
    assert list(entries[1]) == ["Id", "ParentId", "RepoTags", "RepoDigests", "Size",
                                "SharedSize", "VirtualSize", "Labels", "Containers", "Names",
                                "Digest", "History", "Created", "CreatedAt"]
    assert list(entries[0]) == ["Id", "ParentId", "RepoTags", "RepoDigests", "Size",
                                "SharedSize", "VirtualSize", "Labels", "Containers",
                                "Dangling", "Digest", "Created", "CreatedAt"]
    entry = entries[1]
    assert entry["RepoTags"] is None and entry["ParentId"] == "" and entry["SharedSize"] == 0
    assert entry["Names"] == ["localhost/first:latest", "quay.io/x/second:2"]
    assert entry["History"] == ["quay.io/x/second:2", "localhost/first:latest"]
    assert entry["RepoDigests"] == [f"localhost/first@{named.digest}",
                                    f"quay.io/x/second@{named.digest}"]
    assert entry["Size"] == entry["VirtualSize"] == podman_size(rt, named)
    assert entry["Labels"] == {"k": "v"} and entry["Containers"] == 1
    assert entry["Digest"] == named.digest
    assert (entry["Created"], entry["CreatedAt"]) == (1577836800, OLD)
    assert entries[0]["Dangling"] is True and entries[0]["Labels"] is None
    assert entries[0]["RepoDigests"] == [] and entries[0]["Containers"] == 0
    assert json.loads(ok(pypod("images", "--format", "{{json .}}"))) == entries


def test_images_go_templates_and_table_templates(pypod: Pypod, rt: Any, layers) -> None:
    """A template prints each row as rendered (``\\t`` a tab); ``table`` adds podman's
    headers (``<no value>`` for a field without one) and lays the columns out, every
    space a column break; a malformed template or an unknown field is exit 125 with
    nothing printed."""
    image = rt.import_image([layers["a"]], {"config": {"Labels": {"k": "v"}}},
                            names=["quay.io/x/app:1"])
    out = ok(pypod("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Labels}}"))
    assert out == f"quay.io/x/app:1 {image.short_id} map[k:v]\n"
    assert ok(pypod("images", "--format", r"{{.Repository}}\t{{.Tag}}")) == \
        "quay.io/x/app\t1\n"
    out = ok(pypod("images", "--format", "table {{.Repository}}:{{.Tag}} {{.ID}}"))
    assert out == ("REPOSITORY:TAG   IMAGE ID\n"
                   f"quay.io/x/app:1  {image.short_id}\n")
    out = ok(pypod("images", "--format", "table {{.ID}} {{.CreatedAt}} {{.VirtualSize}}"))
    header, row = out.splitlines()
    assert header.split("  ")[0] == "IMAGE ID" and "<no value>" in header
    assert "VIRTUAL SIZE" in header
    assert re.fullmatch(rf"{image.short_id}  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC  "
                        rf"\d+", row), row
    assert ok(pypod("images", "--noheading", "--format", "table {{.ID}}")) == \
        f"{image.short_id}\n"
    for bad in ("{{.ID", "{{.Nothing}}"):
        result = pypod("images", "--format", bad)
        assert fails(result).startswith("Error: template: ") and result.stdout == ""


def test_images_filters(pypod: Pypod, rt: Any, rootfs: str, layers) -> None:
    """podman's filters: one key's are alternatives, different keys must all hold,
    ``!=`` negates; ``reference`` is a Go path pattern on the name and its shorter
    forms; ``before``/``since`` compare the build times; ``IMAGE`` is a reference."""
    old = rt.import_image([layers["a"]], {"created": "2019-01-01T00:00:00Z",
                                          "config": {"Labels": {"a": "1"}}}, names=["one"])
    mid = rt.import_image([layers["b"]], {"created": "2020-01-01T00:00:00Z",
                                          "config": {"Labels": {"a": "2", "b": "x"}}},
                          names=["quay.io/x/two:2"])
    new = rt.import_image([layers["c"]], {"created": "2021-01-01T00:00:00Z"})
    rt.create_container(image=mid.id, command=["true"])

    def ids(*flags: str) -> list[str]:
        return ok(pypod("images", "-q", "--no-trunc", *flags)).split()

    def f(*specs: str) -> list[str]:
        return ids(*[arg for spec in specs for arg in ("--filter", spec)])

    o, m, n = (f"sha256:{i.id}" for i in (old, mid, new))
    assert ids() == [n, m, o]
    for pattern, want in [("one", [o]), ("localhost/one", [o]), ("one:latest", [o]),
                          ("*/one", [o]), ("*", [m, o]), ("x/*", [m]), ("two:2", [m]),
                          ("quay.io/x/two", [m]), ("quay.io/*", []), ("lo*", []),
                          ("on", []), ("[", [])]:
        assert f(f"reference={pattern}") == want, pattern
    assert ids("two") == [m]
    assert f("reference=one", "reference=two") == [m, o]
    assert f("reference=*", "label=b") == [m]
    assert f("label=a") == [m, o] and f("label=a=1") == [o]
    assert f("label=a=1", "label=b=x") == [m, o]
    assert f("label!=a=1") == [n, m]
    assert f("dangling=true") == [n] and f("dangling=false") == [m, o]
    assert f("before=quay.io/x/two:2") == [o] and f("since=one") == [n, m]
    assert f("after=one", "before=" + new.id) == [m]
    assert f("until=2020-06-01T00:00:00Z") == [m, o]
    assert f(f"id={mid.id}") == [m] and f(f"id={mid.id[:12]}") == []
    assert f("containers=true") == [m] and f("readonly=false", "intermediate=0") == [n, m, o]
    assert f("readonly=true") == []
    for spec, message in [
        ("digest=sha256:x", 'unsupported image filter "digest"'),
        ("label=a!=1", 'unsupported image filter "label=a"'),
        ("label", 'invalid image filter "label": must be in the format "filter=value or '
                  'filter!=value"'),
        ("dangling=yes", 'invalid image filter "dangling=yes": \'yes\' is not a boolean'),
        ("since=nothere", 'could not find local image for filter "since"="nothere": '
                          "nothere: image not known"),
    ]:
        result = pypod("images", "--filter", spec)
        assert fails(result).startswith(f"Error: {message}") and result.stdout == "", spec
    assert fails(pypod("images", "a", "b")).startswith("Error: ")


def test_images_sort(pypod: Pypod, rt: Any, busybox_tar: str, layers) -> None:
    """``--sort`` as podman's: created (newest first, the default), id, repository,
    tag and size ascending; another key is refused with podman's message."""
    big = rt.import_image([busybox_tar], {"created": "2019-01-01T00:00:00Z"}, names=["b:2"])
    small = rt.import_image([layers["a"]], {"created": "2020-01-01T00:00:00Z"},
                            names=["a:3"])

    def repos(key: str) -> list[str]:
        return ok(pypod("images", "--sort", key, "--format", "{{.Repository}}")).split()

    assert repos("created") == ["localhost/a", "localhost/b"]
    assert repos("repository") == ["localhost/a", "localhost/b"]
    assert repos("tag") == ["localhost/b", "localhost/a"]
    assert repos("size") == ["localhost/a", "localhost/b"]
    assert repos("id") == [i.names[0].split(":")[0] for i in sorted([big, small],
                                                                     key=lambda i: i.id)]
    assert fails(pypod("images", "--sort", "name")) == (
        'Error: "name" is not a valid field for sorting. Choose from: created, id, '
        "repository, size, tag\n")


def test_images_on_an_empty_store_prints_the_header(pypod: Pypod) -> None:
    assert ok(pypod("images")) == "REPOSITORY  TAG         IMAGE ID    CREATED     SIZE\n"
    assert ok(pypod("images", "-q")) == "" and ok(pypod("images", "--format", "json")) == "[]\n"


# -- image inspect and inspect -----------------------------------------------------------

INSPECT_KEYS = ["Id", "Digest", "RepoTags", "RepoDigests", "Parent", "Comment", "Created",
                "Config", "Version", "Author", "Architecture", "Os", "Size", "VirtualSize",
                "GraphDriver", "RootFS", "Labels", "Annotations", "ManifestType", "User",
                "History", "NamesHistory"]


def test_image_inspect_has_podmans_keys(pypod: Pypod, rt: Any, layers) -> None:
    """The keys and order of podman 4.3.1's ``image inspect``; ``GraphDriver.Data`` names
    the top layer's files (and the lower layers'), which exist; ``History`` and
    ``Labels`` are null when the config has none, as podman's."""
    config = {"created": OLD, "author": "me", "comment": "made by a test",
              "config": {"Cmd": ["/etc/a"], "User": "nobody", "Labels": {"k": "v"}},
              "history": [{"created": OLD, "created_by": "test"}]}
    image = rt.import_image([layers["a"], layers["b"]], config, names=["app"])
    rt.tag_image("app", "app:2")
    bare = rt.import_image([layers["c"]], {"history": []})  # no history of its own
    [doc] = json.loads(ok(pypod("image", "inspect", "app")))
    assert list(doc) == INSPECT_KEYS
    assert doc["Id"] == image.id and doc["Digest"] == image.digest
    assert doc["RepoTags"] == ["localhost/app:latest", "localhost/app:2"]
    assert doc["NamesHistory"] == ["localhost/app:2", "localhost/app:latest"]
    assert doc["RepoDigests"] == [f"localhost/app@{image.digest}"]
    assert (doc["Created"], doc["Author"], doc["Comment"]) == (OLD, "me", "made by a test")
    assert doc["Config"] == config["config"] and doc["User"] == "nobody"
    assert doc["Labels"] == {"k": "v"} and doc["History"] == config["history"]
    assert (doc["Architecture"], doc["Os"]) == (image.config["architecture"], "linux")
    assert doc["Size"] == doc["VirtualSize"] == podman_size(rt, image)
    assert doc["RootFS"] == {"Type": "layers",
                             "Layers": [layer.diff_id for layer in image.layers]}
    assert doc["ManifestType"] == "application/vnd.oci.image.manifest.v1+json"
    assert doc["Annotations"] == {} and doc["Parent"] == "" and doc["Version"] == ""
    driver = doc["GraphDriver"]
    assert driver["Name"] == rt.graph_driver.name
    if driver["Name"] == "overlay":
        assert os.path.isfile(os.path.join(driver["Data"]["UpperDir"], "etc", "b"))
        assert os.path.isfile(os.path.join(driver["Data"]["LowerDir"], "etc", "a"))
    [plain] = json.loads(ok(pypod("image", "inspect", bare.id[:12])))
    assert plain["Labels"] is None and plain["History"] is None and plain["RepoTags"] == []
    out = ok(pypod("image", "inspect", "--format", "{{.Id}} {{.Os}} {{.RepoTags}}", "app:2"))
    assert out == f"{image.id} linux [localhost/app:latest localhost/app:2]\n"
    assert json.loads(ok(pypod("image", "inspect", "-f", "json", "app"))) == [doc]


def test_image_inspect_errors_as_podman(pypod: Pypod, rt: Any, layers) -> None:
    """An image not known: ``[]`` (or what was found) on stdout; the later errors as
    ``error inspecting object:`` lines, the first as the ``Error:`` line; exit 125."""
    rt.import_image([layers["a"]], names=["app"])
    result = pypod("image", "inspect", "nothere")
    assert fails(result) == "Error: inspecting object: nothere: image not known\n"
    assert result.stdout == "[]\n"
    result = pypod("image", "inspect", "nothere", "app", "alsonot")
    assert fails(result) == ("error inspecting object: alsonot: image not known\n"
                             "Error: inspecting object: nothere: image not known\n")
    assert [d["RepoTags"] for d in json.loads(result.stdout)] == [["localhost/app:latest"]]
    assert fails(pypod("image", "inspect")) == "Error: no names or ids specified\n"


def test_inspect_takes_an_image_when_no_container_has_the_name(pypod: Pypod, rt: Any,
                                                               rootfs: str, layers) -> None:
    """``inspect NAME``: a container's, else an image's (podman's ``--type all``);
    ``--type image`` and ``--type container`` look at one kind only."""
    image = rt.import_image([layers["a"]], names=["app"])
    ctr = rt.create_container(rootfs, ["true"], name="web")
    out = ok(pypod("inspect", "--format", "{{.Id}}", "web", "app"))
    assert out == f"{ctr.id}\n{image.id}\n"
    assert list(json.loads(ok(pypod("inspect", "app")))[0]) == INSPECT_KEYS
    assert ok(pypod("inspect", "--type", "image", "-f", "{{.Id}}", "app")) == f"{image.id}\n"
    assert fails(pypod("inspect", "--type", "image", "web")) == \
        "Error: inspecting object: web: image not known\n"
    assert "app" in fails(pypod("inspect", "--type", "container", "app"))
    assert fails(pypod("inspect", "nothere")) == \
        'Error: inspecting object: no such object: "nothere"\n'
    assert fails(pypod("inspect", "--type", "bogus", "app")) == (
        'Error: invalid type "bogus": must be "image", "container", "pod", "network", '
        '"volume", or "all"\n')
    assert "no pod with name or id" in fails(pypod("inspect", "--type", "pod", "app")).lower()


def test_inspect_finds_volumes_and_pods_in_podmans_order(pypod: Pypod, rt: Any,
                                                         rootfs: str) -> None:
    """``--type all`` tries a container, an image, a volume, a network, then a pod;
    ``--type volume`` / ``--type pod`` look at that kind only and print its own
    inspect document."""
    rt.create_volume("data")
    pod = rt.create_pod(name="band", infra=False)
    rt.create_container(rootfs, ["true"], name="both")
    rt.create_volume("both")
    assert ok(pypod("inspect", "-f", "{{.Name}} {{.Driver}}", "data")) == "data local\n"
    assert ok(pypod("inspect", "-f", "{{.Id}}", "band")) == f"{pod.id}\n"
    assert json.loads(ok(pypod("inspect", "both")))[0]["Name"] == "both"
    assert "Mountpoint" not in json.loads(ok(pypod("inspect", "both")))[0]
    assert json.loads(ok(pypod("inspect", "--type", "volume", "both")))[0] == \
        json.loads(ok(pypod("volume", "inspect", "both")))[0]
    assert json.loads(ok(pypod("inspect", "--type", "pod", "band")))[0]["Id"] == pod.id
    assert fails(pypod("inspect", "--type", "volume", "band")) == \
        'Error: inspecting object: no volume with name "band" found\n'


def test_image_exists_exits_0_or_1(pypod: Pypod, rt: Any, layers) -> None:
    """As podman's: 0 when the store has it, 1 when not, nothing printed; 125 for a
    wrong number of arguments."""
    image = rt.import_image([layers["a"]], names=["app"])
    for ref, code in (("app", 0), ("app:latest", 0), (image.id[:12], 0), ("nothere", 1),
                      ("app:2", 1)):
        result = pypod("image", "exists", ref)
        assert (result.returncode, result.stdout, result.stderr) == (code, "", ""), ref
    assert fails(pypod("image", "exists")) == "Error: accepts 1 arg(s), received 0\n"
    assert fails(pypod("image", "exists", "a", "b")) == "Error: accepts 1 arg(s), received 2\n"


# -- rmi ----------------------------------------------------------------------------------

IN_USE = ("image is in use by a container: consider listing external containers and "
          "force-removing image")


def test_rmi_untags_deletes_and_refuses_as_podman(pypod: Pypod, rt: Any, layers) -> None:
    """By one of several names, ``Untagged:`` only; by id with several names, refused
    (exit 125) unless ``-f``; the last name: ``Untagged:`` then ``Deleted:``, and the
    image's layers leave the disk."""
    image = rt.import_image([layers["a"]], names=["one", "two"])
    assert ok(pypod("rmi", "one")) == "Untagged: localhost/one:latest\n"
    rt.tag_image("two", "three")
    assert fails(pypod("rmi", image.id[:12])) == (
        f'Error: unable to delete image "{image.id}" by ID with more than one tag '
        f"([localhost/two:latest localhost/three:latest]): please force removal\n")
    top = image.top_layer
    assert rt.graph_driver.has_layer(top)
    assert ok(pypod("rmi", "-f", image.id)) == (
        "Untagged: localhost/two:latest\nUntagged: localhost/three:latest\n"
        f"Deleted: {image.id}\n")
    assert not rt.graph_driver.has_layer(top) and rt.images() == []
    bare = rt.import_image([layers["b"]])
    assert ok(pypod("image", "rm", bare.id)) == f"Deleted: {bare.id}\n"


def test_rmi_of_an_image_in_use_exits_2_and_force_removes_the_containers(
        pypod: Pypod, rt: Any, rootfs: str, layers) -> None:
    """podman's message and exit code 2; ``-f`` removes the containers first (podman
    prints only the image's lines)."""
    image = rt.import_image([layers["a"]], names=["used"])
    ctr = rt.create_container(image=image.id, command=["true"])
    result = pypod("rmi", "used")
    assert fails(result, 2) == f"Error: image used by {ctr.id}: {IN_USE}\n"
    assert result.stdout == "" and rt.image_exists("used")
    assert ok(pypod("rmi", "-f", "used")) == (f"Untagged: localhost/used:latest\n"
                                             f"Deleted: {image.id}\n")
    assert rt.containers(all=True) == []


def test_rmi_exit_codes_with_several_images(pypod: Pypod, rt: Any, rootfs: str,
                                            layers) -> None:
    """Every name is looked up first, so those not known come first in podman's list
    of errors; the rest are still removed.  The exit code: 2 if one is in use, else
    125 if another error happened, else 1 for an image not known."""
    used = rt.import_image([layers["a"]], names=["used"])
    ctr = rt.create_container(image=used.id, command=["true"])
    tags = rt.import_image([layers["b"]], names=["x", "y"])
    free = rt.import_image([layers["c"]], names=["free"])
    result = pypod("rmi", "nothere")
    assert fails(result, 1) == "Error: nothere: image not known\n"
    result = pypod("rmi", "used", "nothere", "free")
    assert fails(result, 2) == ("Error: 2 errors occurred:\n\t* nothere: image not known\n"
                                f"\t* image used by {ctr.id}: {IN_USE}\n")
    assert result.stdout == f"Untagged: localhost/free:latest\nDeleted: {free.id}\n"
    assert rt.image_exists("used") and not rt.image_exists("free")
    assert fails(pypod("rmi", tags.id, "nothere")).startswith("Error: 2 errors occurred:")
    assert fails(pypod("rmi", "nothere", "alsonot"), 1) == (
        "Error: 2 errors occurred:\n\t* nothere: image not known\n"
        "\t* alsonot: image not known\n")
    for flag in ("-i", "-f"):
        result = pypod("rmi", flag, "nothere")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), flag


def test_rmi_all(pypod: Pypod, rt: Any, rootfs: str, layers) -> None:
    """``-a`` removes every image, with all its names, by id without ``-f``; one in
    use stays (exit 2) with its names; names with ``-a`` and no names at all are
    refused with podman's messages."""
    used = rt.import_image([layers["a"]], names=["used"])
    ctr = rt.create_container(image=used.id, command=["true"])
    tags = rt.import_image([layers["b"]], names=["x"])
    rt.tag_image("x", "y")
    bare = rt.import_image([layers["c"]], {"history": []})  # no history of its own
    result = pypod("rmi", "-a")
    assert fails(result, 2) == f"Error: image used by {ctr.id}: {IN_USE}\n"
    assert result.stdout == ("Untagged: localhost/x:latest\nUntagged: localhost/y:latest\n"
                             f"Deleted: {bare.id}\nDeleted: {tags.id}\n")
    assert [i.names for i in rt.images()] == [("localhost/used:latest",)]
    assert fails(pypod("rmi", "-a", "used")) == ("Error: when using the --all switch, you "
                                                 "may not pass any images names or IDs\n")
    assert fails(pypod("rmi")) == "Error: image name or ID must be specified\n"
    assert ok(pypod("rmi", "-a", "-f")) == ("Untagged: localhost/used:latest\n"
                                           f"Deleted: {used.id}\n")
    assert ok(pypod("rmi", "-a")) == ""


# -- tag and untag -----------------------------------------------------------------------


def test_tag_and_untag(pypod: Pypod, rt: Any, layers) -> None:
    """``tag`` adds names (a short one under ``localhost/``, ``:latest`` assumed; a
    name another image had moves); ``untag`` takes the given names, or all; podman's
    messages for what is not known.  A malformed name adds none of the names (podman
    adds those before it)."""
    image = rt.import_image([layers["a"]], names=["app"])
    other = rt.import_image([layers["b"]], names=["moved"])
    assert ok(pypod("tag", "app", "app:2", "quay.io/x/app", "moved")) == ""
    assert rt.get_image(image.id).names == ("localhost/app:2", "quay.io/x/app:latest",
                                            "localhost/moved:latest", "localhost/app:latest")
    assert rt.get_image(other.id).names == ()
    assert "invalid image reference 'BAD$'" in fails(pypod("tag", "app", "ok", "BAD$"))
    assert not rt.image_exists("ok")
    assert fails(pypod("tag", "nothere", "x")) == "Error: nothere: image not known\n"
    assert fails(pypod("tag", "app")) == "Error: requires at least 2 arg(s), only received 1\n"
    assert ok(pypod("untag", "app", "app:2", "moved")) == ""
    assert rt.get_image(image.id).names == ("quay.io/x/app:latest", "localhost/app:latest")
    assert fails(pypod("untag", "app", "nothere")) == \
        "Error: localhost/nothere:latest: tag not known\n"
    assert fails(pypod("untag", "nothere")) == "Error: nothere: image not known\n"
    assert ok(pypod("image", "untag", image.id)) == ""
    assert rt.get_image(image.id).names == ()
    assert ok(pypod("image", "tag", image.id, "again")) == ""
    assert ok(pypod("images", "--format", "{{.Repository}}", "again")) == "localhost/again\n"


def test_the_image_group_has_podmans_words(pypod: Pypod, rt: Any, layers) -> None:
    image = rt.import_image([layers["a"]], names=["app"])
    for word in ("ls", "list"):
        assert ok(pypod("image", word, "-q")) == f"{image.short_id}\n"
    assert ok(pypod("image", "rm", "app")) == ("Untagged: localhost/app:latest\n"
                                              f"Deleted: {image.id}\n")
    help_text = ok(pypod("image", "--help"))
    for word in ("ls", "list", "inspect", "exists", "rm", "tag", "untag", "pull"):
        assert re.search(rf"^    {word} ", help_text, re.M), word
    bare = pypod("image")
    assert bare.returncode == 125 and bare.stdout.startswith("Usage: pypod image")
    assert "unrecognized command `pypod image bogus`" in fails(pypod("image", "bogus"))


# -- pull's flags (the pulls themselves: tests/test_image_pull_cli.py) ----------------------


def test_pull_refuses_what_it_does_not_do_by_name(pypod: Pypod) -> None:
    """Checked before anything is fetched; exit 125."""
    for flags, message in [
        (["--all-tags"], "--all-tags is not supported"),
        (["--platform", "linux/arm64", "--arch", "arm64"], "--platform conflicts"),
        (["--platform", "linux"], "invalid platform 'linux'"),
        (["--tls-verify=maybe"], "invalid boolean 'maybe'"),
    ]:
        result = pypod("pull", *flags, "127.0.0.1:1/x")
        assert message in fails(result) and result.stdout == "", flags
    assert fails(pypod("pull")) == "Error: requires at least 1 arg(s), only received 0\n"


# -- info and start-up -------------------------------------------------------------------


def test_info_shows_the_graph_driver_and_the_image_store(pypod: Pypod, rt: Any,
                                                         layers) -> None:
    rt.import_image([layers["a"], layers["b"]], names=["app"])
    rt.import_image([layers["a"]])
    store = json.loads(ok(pypod("info", "--format", "json")))["store"]
    assert store["graphDriverName"] == rt.graph_driver.name
    assert store["graphStatus"] == rt.graph_driver.status()
    assert "Backing Filesystem" in store["graphStatus"]
    assert store["imageStore"] == {"number": 2} and store["layerStore"] == {"number": 2}
    out = ok(pypod("info", "--format", "{{.Store.ImageStore.Number}} {{.Store.GraphDriverName}}"))
    assert out == f"2 {rt.graph_driver.name}\n"


@pytest.mark.parametrize("command", [["images"], ["images", "--format", "json"],
                                     ["image", "inspect", "app"], ["inspect", "app"],
                                     ["rmi", "nothere"], ["tag", "app", "b"],
                                     ["untag", "app"], ["image", "exists", "app"]])
def test_image_commands_import_no_registry_code(cli_flags: list[str], rt: Any, layers,
                                                command: list[str]) -> None:
    """Listing, inspecting, tagging and removing images import no HTTP, TLS or
    registry code (``http.client`` alone costs ~50 ms), nor the layer extraction."""
    import sys

    rt.import_image([layers["a"]], names=["app"])
    code = ("import sys; from pypod_core.cli.main import main; "
            f"sys.argv = ['pypod', *{[*cli_flags, *command]!r}]; main()")
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True).stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines()
                if line.startswith("import time:")}
    assert "pypod_core.cli.main" in imported
    for module in ("http.client", "ssl", "pypod_image_registry", "pypod_core.engine.pull",
                   "pypod_core.host.layers", "tarfile"):
        assert module not in imported, module
