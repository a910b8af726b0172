# dlnet: `make repro` builds the environment and runs the DVC pipeline;
# `make test` builds the environment and runs the whole test suite.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Never let uv fetch its own interpreter: use the machine's Python 3.11.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test sweep ui bench bench-smoke browser params clean

setup: $(VENV)/.synced

# uv itself lives in a small tool environment of its own, installed from PyPI.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Rebuilt only when the lock or the project file changed: `make setup` is a no-op otherwise.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --python 3.11
	@touch $@

repro: setup
	dvc repro

test: setup
	$(BIN)/pytest

sweep: setup
	dlnet-train -m +sweep=grid

ui: setup
	@echo "MLflow UI: http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(PORT)

# params.yaml is the composition of conf/'s defaults (the file DVC's stages read).
params: setup
	$(BIN)/python -m dlnet.params --write

clean:
	rm -rf multirun outputs .pytest_cache
