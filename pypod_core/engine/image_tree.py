"""``image tree``: an image's layers as a tree of text, as podman 4.3.1 prints it
(containers/common's ``Image.Tree`` drawn by gotree).

The header names the image (``Image ID``, ``Tags``, ``Size``), then ``Image Layers``
(``No Image Layers`` for an image without any).  Without ``whatrequires`` the layers
follow base first, each a ``├──``/``└──`` line under the header; with it, the image's
top layer and every layer stored over it, descending: a layer whose parent has
several children opens a branch of its own.  A layer that is some image's top layer
says so (``Top Layer of: [NAME:TAG ...]``).  The layers are the graph driver's (the
ids are its chain ids); children come in the order the images that hold them were
stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pypod_core.engine.image_inspect import podman_size
from pypod_core.engine.logs import human_size

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import Image

#: gotree's drawing: a middle item, the last item, and the indents under each.
_MIDDLE, _LAST, _UNDER_MIDDLE, _UNDER_LAST = "├── ", "└── ", "│   ", "    "


class _Node:
    """A text and the nodes under it (gotree's ``Tree``)."""

    def __init__(self, text: str):
        self.text = text
        self.items: list[_Node] = []

    def add(self, text: str) -> _Node:
        node = _Node(text)
        self.items.append(node)
        return node

    def render(self) -> str:
        """The text, then each item drawn under it."""
        return self.text + "\n" + "".join(_items(self.items, []))


def _items(items: Sequence[_Node], indents: list[bool]) -> Iterable[str]:
    for i, item in enumerate(items):
        last = i == len(items) - 1
        lead = "".join(_UNDER_LAST if space else _UNDER_MIDDLE for space in indents)
        for n, line in enumerate(item.text.split("\n")):
            mark = (_LAST if last else _MIDDLE) if n == 0 else \
                (_UNDER_LAST if last else _UNDER_MIDDLE)
            yield lead + mark + line + "\n"
        if item.items:
            yield from _items(item.items, [*indents, last])


class _Layer:
    """A stored layer: its size, its place among the others, the images it tops."""

    def __init__(self, layer_id: str, size: int):
        self.id, self.size = layer_id, size
        self.parent: _Layer | None = None
        self.children: list[_Layer] = []
        self.images: list[Image] = []

    def text(self) -> str:
        tags = repo_tags(self.images)
        topped = f" Top Layer of: [{' '.join(tags)}]" if tags else ""
        return f"ID: {self.id.removeprefix('sha256:')[:12]} Size: {human_size(self.size):>7}" \
               f"{topped}"



def repo_tags(images: Iterable[Image]) -> list[str]:
    """The images' names that carry a tag (not a digest), each once, in order."""
    return list(dict.fromkeys(n for image in images for n in image.names
                              if "@" not in n and ":" in n.rpartition("/")[2]))


def image_tree(runtime: Runtime, ref: str, whatrequires: bool = False) -> str:
    """The tree of the stored image ``ref`` (see the module); NoSuchImageError."""
    image = runtime.image_store.get(ref)
    images = runtime.image_store.images()
    layers = _layers(runtime, images)
    header = (f"Image ID: {image.short_id}\nTags:     [{' '.join(repo_tags([image]))}]\n"
              f"Size:     {human_size(podman_size(runtime.image_store, image))}\n"
              + ("Image Layers" if image.layers else "No Image Layers"))
    root = _Node(header)
    top = layers.get(image.top_layer or "")
    if top is None:
        return root.render()
    if whatrequires:
        _descend(top, root)
        return root.render()
    chain = []
    node: _Layer | None = top
    while node is not None:
        chain.append(node)
        node = node.parent
    for layer in reversed(chain):
        root.add(layer.text())
    return root.render()


def _layers(runtime: Runtime, images: Sequence[Image]) -> dict[str, _Layer]:
    """Every stored layer, linked to its parent and children, with the images each
    tops; children in the order the images were stored, then the driver's."""
    nodes: dict[str, _Layer] = {}
    sizes = {info.id: (info.parent, info.diff_size)
             for info in runtime.image_store.driver.layers()}
    stored = sorted(images, key=lambda i: i.added)
    order = [layer.chain_id for image in stored for layer in image.layers]
    for layer_id in dict.fromkeys([*order, *sizes]):
        if layer_id in sizes:
            nodes[layer_id] = _Layer(layer_id, sizes[layer_id][1])
    for layer_id, node in nodes.items():
        parent = nodes.get(sizes[layer_id][0] or "")
        if parent is not None:
            node.parent = parent
            parent.children.append(node)
    for image in stored:
        if image.top_layer in nodes:
            nodes[image.top_layer].images.append(image)
    return nodes


def _descend(layer: _Layer, under: _Node) -> None:
    """``layer`` and everything over it under ``under``: in line while a layer is its
    parent's only child, a branch of its own otherwise (gotree's podman drawing)."""
    if layer.parent is None or len(layer.parent.children) <= 1:
        under.add(layer.text())
        branch = under
    else:
        branch = under.add(layer.text())
    for child in layer.children:
        _descend(child, branch)
