# The two commands of the README: `make demo` sets everything up and runs a container;
# `make test` sets up and runs the whole test suite (what .ci/run calls).
PYPOD := .venv/bin/pypod
ROOTFS := $(CURDIR)/.cache/rootfs
# The plugins' packages (not their .egg-info directories, which the glob would also match).
PLUGIN_PKGS = $(patsubst %/__init__.py,%,$(wildcard plugins/*/pypod_*/__init__.py))

.PHONY: setup demo test lint bench

setup:
	sh scripts/setup.sh

demo: setup
	$(PYPOD) run --rm --rootfs $(ROOTFS) echo "hello from a pypod container"

lint:
	.venv/bin/ruff check conftest.py pypod_core plugins tests bench
	.venv/bin/mypy pypod_core $(PLUGIN_PKGS)

test: setup lint
	.venv/bin/python -m pytest -q -p no:cacheprovider tests plugins

bench:
	sh scripts/setup.sh
	.venv/bin/python bench/run_all.py
