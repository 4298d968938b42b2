"""attrs' generated methods, compiled once and kept, as Python keeps a module's bytecode.

attrs writes each class's methods (``__init__``, ``__eq__``, ``__repr__``, ...) as
Python source when the class is made, and compiles it: ~0.5 ms a class, ~12 ms for the
classes every ``pypod`` process makes at import (the model, the config, the plugin
declarations).  The code compiled from a given source and file name is always the same,
so :func:`install` keeps it: attrs' ``_compile_and_eval`` is given the stored code object
for a source seen before, and compiles (then stores) only what is new.  A class that
changes makes new source, hence a miss: stale code is never used, only left in the file
until it is rewritten.  One thing in the source differs between processes: the
``__hash__`` of a hashable class mixes in ``hash()`` of a string, which string hash
randomisation changes per process; the key has that number replaced by a marker and the
stored code gets this process's number back (:func:`_with_constant`).

The codes live beside Python's own bytecode, one ``marshal`` file per class in a
directory per interpreter version (``pypod_core/__pycache__/attrs-methods.TAG/``): a
process reads the files of the classes it makes, not those of every class any command
made (one file for all cost ``ps`` ~16 M instructions, ~4 %, of classes it never made).
A class's file is read when the class is first made, rewritten (atomically) at exit when
this process compiled its methods anew (keeping only the new code: an older version of
the class is dropped), and not written where Python writes no bytecode
(``PYTHONDONTWRITEBYTECODE``, a read-only install).  With an attrs that lacks the hook,
nothing is installed and attrs compiles as ever.
"""

from __future__ import annotations

import atexit
import marshal
import os
import sys
import zlib
from typing import Any

import attr._make as make

#: :func:`_key` of (file name, source with the hash salt marked) -> (code, the salt it
#: was compiled with)
_cache: dict[tuple[str, int, int, int], tuple[Any, int]] = {}
#: attrs' file names (one per class) whose file was read
_loaded: set[str] = set()
_new: list[tuple[str, int, int, int]] = []
_dir = ""


def cache_dir() -> str:
    """The directory of this interpreter's compiled attrs methods, a file per class."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tag = sys.implementation.cache_tag or "python"
    return os.path.join(package, "__pycache__", f"attrs-methods.{tag}")


def install() -> None:
    """Hand attrs the stored code of sources compiled before (once per process)."""
    global _dir
    original = getattr(make, "_compile_and_eval", None)
    if _dir or original is None:
        return
    _dir = cache_dir()

    def compile_and_eval(script: str, globs: Any, locs: Any = None,
                         filename: str = "") -> None:
        # attrs' per-class hash salt: hash("<attrs generated hash MODULE.CLASS>").
        salt = hash(filename.replace(" methods ", " hash ", 1))
        key = _key(filename, script.replace(f" {salt},\n", " SALT,\n"))
        if filename not in _loaded:
            _load(filename)
        stored = _cache.get(key)
        if stored is None:
            code = compile(script, filename, "exec")
            _cache[key] = (code, salt)
            if not _new:
                atexit.register(_save)
            _new.append(key)
        else:
            code, old_salt = stored
            if old_salt != salt:
                code = _with_constant(code, old_salt, salt)
        eval(code, globs, locs)

    make._compile_and_eval = compile_and_eval


def _file_of(filename: str) -> str:
    """The file of one class: ``<attrs generated methods MODULE.CLASS>`` ->
    ``DIR/MODULE.CLASS.marshal``."""
    name = filename.strip("<>").rsplit(" ", 1)[-1].replace(os.sep, "_")
    return os.path.join(_dir, f"{name}.marshal")


def _load(filename: str) -> None:
    """Read the stored code of one class, once."""
    _loaded.add(filename)
    try:
        with open(_file_of(filename), "rb") as f:
            _cache.update(marshal.load(f))
    except (OSError, EOFError, ValueError, TypeError):
        pass  # none yet, or from another build: compile afresh


def _key(filename: str, source: str) -> tuple[str, int, int, int]:
    """A short key for a source (the sources themselves would make the file ~1 MB and
    its reading ~6 ms): the file name (one per class), the length and two checksums."""
    data = source.encode()
    return filename, len(data), zlib.crc32(data), zlib.adler32(data)


def _with_constant(code: Any, old: int, new: int) -> Any:
    """``code`` with the integer constant ``old`` replaced by ``new``, in the functions
    it defines too."""
    consts = tuple(new if type(c) is int and c == old else
                   _with_constant(c, old, new) if hasattr(c, "co_consts") else c
                   for c in code.co_consts)
    return code.replace(co_consts=consts)


def _save() -> None:
    """Write the code of each class this process compiled to the class's file."""
    if sys.dont_write_bytecode or not _new:
        return
    try:
        os.makedirs(_dir, exist_ok=True)
    except OSError:  # a read-only install: compile again next time
        return
    for key in _new:
        path = _file_of(key[0])
        tmp = f"{path}.{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                marshal.dump({key: _cache[key]}, f)
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
