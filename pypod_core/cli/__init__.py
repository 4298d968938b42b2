"""The ``pypod`` command line."""
