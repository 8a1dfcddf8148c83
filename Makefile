# Two commands do all the set-up on a fresh machine (see README.md):
#   make example   run the main job on the example fleet
#   make test      run every test tier
# Everything they need is installed here: the virtualenv from PyPI, the Go tools (OPA, conftest,
# helm, etcd, kube-apiserver, kube-controller-manager, the Pulumi CLI and its Kubernetes provider,
# the versitygw S3 server) built from their Go modules into a cache outside the repository
# (~/.cache/vfleet/toolchain), skipping what is already built.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: example test unit toolchain browser venv bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

toolchain: $(STAMP)
	$(BIN)/python -m vfleet.toolchain build

example: $(STAMP)
	$(BIN)/python -m vfleet.toolchain build opa
	$(BIN)/vfleet check fleet/
	$(BIN)/vfleet compile fleet/ --out build/

# Headless Chromium from Debian for the dashboard's browser tests, where no Chromium is installed yet.
browser:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium-headless-shell; }

test: toolchain browser
	$(BIN)/python -m pytest tests

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/mypy --config-file tests/mypy.ini

bench: $(STAMP)
	$(BIN)/python bench/compile_bench.py

clean:
	rm -rf build $(VENV)
