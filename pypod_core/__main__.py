"""``python -m pypod_core``: the ``pypod`` command, for a Python without the console
script on its path."""

from pypod_core.cli.main import run

if __name__ == "__main__":
    run()
