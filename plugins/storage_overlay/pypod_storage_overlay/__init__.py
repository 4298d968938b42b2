"""pypod's bundled graph drivers ``overlay`` and ``vfs`` (see ``plugin.py``)."""
