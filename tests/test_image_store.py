"""The image store: records that survive and stay consistent, names and lookups as
podman's, shared layers stored once, removal as ``rmi`` (untag, by id, in use).

Images are built offline with ``runtime.import_image`` from layer tars the tests write;
their layers go to the real overlay graph driver under the test's graph root.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import types
from pathlib import Path
from typing import Any

import pytest

from conftest import make_layer
from pypod_core.engine.image_store import find_image
from pypod_core.errors import (
    AmbiguousIDError,
    ImageHasTagsError,
    ImageInUseError,
    ImageStoreError,
    InvalidArgError,
    NoSuchImageError,
)
from pypod_core.model import Image
from pypod_core.plugin import hookimpl


@pytest.fixture
def rt(make_runtime: Any) -> Any:
    return make_runtime(state_type="sqlite")


@pytest.fixture
def layers(tmp_path: Path) -> dict[str, str]:
    base = make_layer(tmp_path / "base.tar", {"etc/os-release": b"base\n", "bin/x": b"x"})
    return {
        "base": base,
        "app": make_layer(tmp_path / "app.tar", {"app/run": b"app\n", "bin/x": None}),
        "other": make_layer(tmp_path / "other.tar", {"srv/other": b"other\n"}),
    }


def test_an_imported_image_is_found_by_id_prefix_name_short_name_and_digest(rt, layers):
    image = rt.import_image([layers["base"], layers["app"]], {"config": {"Cmd": ["/app/run"]}},
                            names=["127.0.0.1:5000/lib/app:1"])
    assert len(image.id) == 64 and image.names == ("127.0.0.1:5000/lib/app:1",)
    assert [layer.diff_id for layer in image.layers] == image.config["rootfs"]["diff_ids"]
    assert image.run_config == {"Cmd": ["/app/run"]}
    assert image.size == sum(layer.diff_size for layer in image.layers) > 0
    for ref in (image.id, image.id[:12], "sha256:" + image.id, "127.0.0.1:5000/lib/app:1",
                "app:1", "lib/app:1", f"127.0.0.1:5000/lib/app@{image.digest}"):
        assert rt.get_image(ref).id == image.id, ref
    for ref in ("app", "127.0.0.1:5000/lib/app", "other:1", "ffff" + image.id[4:]):
        with pytest.raises(NoSuchImageError, match=f"{ref}: image not known"):
            rt.get_image(ref)
    assert rt.image_exists("app:1") and not rt.image_exists("nothing")


def test_records_and_layers_persist_across_runtimes(rt, make_runtime, layers):
    image = rt.import_image([layers["base"]], names=["one"])
    again = make_runtime(state_type="sqlite")
    found = again.get_image("one")
    assert found.id == image.id and found.names == ("localhost/one:latest",)
    assert again.graph_driver.has_layer(found.top_layer)
    assert again.image_store.read_blob(found.digest)  # the manifest is kept


def test_a_shared_layer_is_stored_once_and_removed_with_its_last_image(rt, layers):
    first = rt.import_image([layers["base"], layers["app"]], names=["first"])
    second = rt.import_image([layers["base"], layers["other"]], names=["second"])
    base = first.layers[0].chain_id
    assert second.layers[0].chain_id == base
    assert sum(1 for layer in rt.graph_driver.layers() if layer.id == base) == 1
    rt.remove_image("first")
    assert rt.graph_driver.has_layer(base)
    assert not rt.graph_driver.has_layer(first.top_layer)
    rt.remove_image("second")
    assert list(rt.graph_driver.layers()) == []
    blobs = Path(rt.image_store.blob_dir, "sha256")
    assert list(blobs.iterdir()) == []


def test_the_same_image_imported_twice_is_one_record_with_both_names(rt, layers):
    a = rt.import_image([layers["base"]], {"created": "2020-01-01T00:00:00Z"}, names=["a"])
    b = rt.import_image([layers["base"]], {"created": "2020-01-01T00:00:00Z"}, names=["b"])
    assert a.id == b.id and len(rt.images()) == 1
    assert rt.get_image(a.id).names == ("localhost/b:latest", "localhost/a:latest")


def test_tag_normalises_names_and_a_name_moves_between_images(rt, layers):
    old = rt.import_image([layers["base"]], names=["app"])
    new = rt.import_image([layers["other"]])
    rt.tag_image(new.id, "app", "quay.io/x/app:2")
    assert rt.get_image("app").id == new.id
    assert rt.get_image(new.id).names == ("localhost/app:latest", "quay.io/x/app:2")
    assert rt.get_image(old.id).names == ()  # <none>: it lost its only name
    rt.untag_image("app:latest", "app")
    assert rt.get_image(new.id).names == ("quay.io/x/app:2",)
    with pytest.raises(NoSuchImageError, match="tag not known"):
        rt.untag_image(new.id, "nope")
    with pytest.raises(InvalidArgError, match="bad tag"):
        rt.tag_image(new.id, "UPPER:$")


def test_rmi_by_one_of_several_names_only_untags(rt, layers):
    image = rt.import_image([layers["base"]], names=["a", "b"])
    done = rt.remove_image("a")
    assert done.untagged == ("localhost/a:latest",) and not done.deleted
    assert rt.get_image(image.id).names == ("localhost/b:latest",)


def test_rmi_by_a_name_that_looks_like_an_id_prefix_only_untags(rt, layers):
    image = rt.import_image([layers["base"]], names=["x", "y"])
    rt.tag_image(image.id, image.id[0])  # a one-letter hex name, as "a" may be
    done = rt.remove_image(image.id[0])
    assert done.untagged == (f"localhost/{image.id[0]}:latest",) and not done.deleted


def test_rmi_by_id_with_several_names_needs_force(rt, layers):
    image = rt.import_image([layers["base"]], names=["a", "b"])
    with pytest.raises(ImageHasTagsError, match="by ID with more than one tag"):
        rt.remove_image(image.id[:12])
    assert rt.remove_image(image.id, force=True).deleted
    assert rt.images() == []


def test_rmi_of_an_image_in_use_is_refused_and_force_removes_its_containers(rt, layers):
    image = rt.import_image([layers["base"]], names=["used"])
    ctr = rt.create_container(image="used", command=["true"])
    assert ctr.config.image_id == image.id
    with pytest.raises(ImageInUseError, match=f"image used by {ctr.id}"):
        rt.remove_image("used")
    assert rt.image_exists("used")
    done = rt.remove_image("used", force=True)
    assert done.removed_containers == (ctr.id,) and rt.containers() == []


def test_an_id_prefix_of_several_images_is_ambiguous():
    images = [Image(id="abc1" + "0" * 60, names=("localhost/a:latest",)),
              Image(id="abc2" + "0" * 60)]
    with pytest.raises(AmbiguousIDError):
        find_image(images, "abc")
    assert find_image(images, "abc2") is images[1]
    assert find_image(images, "ab") is None  # too short for a prefix: a name
    assert find_image(images, "a") is images[0]


def test_pypod_image_removed_fires_with_the_record(make_runtime, layers):
    seen = []
    plugin = types.ModuleType("image_removed")

    @hookimpl
    def pypod_image_removed(runtime: Any, image: Any) -> None:
        seen.append((image.id, runtime.image_exists(image.id)))

    plugin.pypod_image_removed = pypod_image_removed  # type: ignore[attr-defined]
    rt = make_runtime(state_type="memory")
    rt.plugins.register_module(plugin, "image_removed")
    image = rt.import_image([layers["base"]], names=["x"])
    rt.remove_image("x")
    assert seen == [(image.id, False)]


def test_a_corrupt_or_newer_record_file_is_refused_and_left_untouched(rt, layers):
    rt.import_image([layers["base"]], names=["x"])
    path = Path(rt.image_store.records_path)
    for text in ("{not json", json.dumps({"version": 99, "images": []})):
        path.write_text(text)
        with pytest.raises(ImageStoreError, match=str(path)):
            rt.images()
        with pytest.raises(ImageStoreError):
            rt.import_image([layers["other"]], names=["y"])
        assert path.read_text() == text


def _import(options: dict[str, Any], layer: str, name: str) -> None:
    from pypod_core.engine.runtime import new_runtime

    runtime = new_runtime(config_path=os.devnull, state_type="sqlite", **options)
    runtime.import_image([layer], names=[name])
    runtime.shutdown()


def test_four_processes_storing_images_at_once_lose_none(rt, runtime_options, tmp_path,
                                                          layers):
    rt.images()  # the store's directory exists; the children race on its file
    context = multiprocessing.get_context("fork")
    tars = [make_layer(tmp_path / f"p{i}.tar", {"f": b"%d" % i}) for i in range(4)]
    children = [context.Process(target=_import,
                                args=(runtime_options, tars[i], f"p{i}")) for i in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    assert sorted(n for i in rt.images() for n in i.names) == [
        f"localhost/p{i}:latest" for i in range(4)]


def test_the_dir_driver_holds_no_images(make_runtime, layers):
    rt = make_runtime(state_type="memory", graph_driver="dir")
    with pytest.raises(InvalidArgError, match='"dir" stores no images'):
        rt.import_image([layers["base"]])
