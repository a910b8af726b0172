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
# Compile every installed module once: imports stay fast even where PYTHONDONTWRITEBYTECODE is set.
export UV_COMPILE_BYTECODE := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test lint format sweep search ui server bench bench-smoke browser params clean

setup: $(VENV)/.synced

# uv itself lives in a small tool environment of its own, installed from PyPI.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Rebuilt only when the lock or the project file changed: `make setup` is a no-op otherwise.
# Then Numba compiles the training loops `auto` runs (~10 s, once per machine: they are cached).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --python 3.11
	$(BIN)/python -c "from dlnet.training import compile_ahead; compile_ahead()"
	@touch $@

repro: setup
	dvc repro

test: lint
	$(BIN)/pytest

# ruff (lint and format, configured in pyproject.toml) on everything, mypy on src/.
# `make format` fixes what the first two find.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Rewrite the code in ruff's format (120 columns) and apply ruff's safe fixes.
format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The 27-run preset of conf/sweep/grid.yaml; ARGS adds overrides: make sweep ARGS="train.epochs=100"
sweep: setup
	dlnet-train +sweep=grid $(ARGS)

# A 40-trial TPE study with pruning (conf/search/tpe.yaml); run again, it adds 40 trials to the
# same study. ARGS adds overrides: make search ARGS="hydra.sweeper.n_trials=10"
search: setup
	dlnet-train +search=tpe $(ARGS)

# The MLflow UI on the project's store (or STORE=<tracking URI>), on loopback only;
# it prints the runs page and the latest sweep's comparison view.
ui: setup
	@$(BIN)/python -m dlnet.ui --port $(PORT) $(if $(STORE),--store $(STORE))

# A shared tracking server on 127.0.0.1:$(PORT): PostgreSQL + mlflow server, data in .tracking-server/;
# ARGS adds options (see `python -m dlnet.server --help`). Ctrl-C stops both.
server: setup
	@$(BIN)/python -m dlnet.server --port $(PORT) $(ARGS)

# PyTorch is a benchmark peer only: pip takes the CPU build of torch 2.13.0 where the
# machine provides it (uv would fetch a multi-GB CUDA build). Without it the PyTorch
# column says "not installed".
bench: setup
	$(UV) pip install --quiet --python $(BIN)/python pip
	-$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m bench

# params.yaml is the composition of conf/'s defaults (the file DVC's stages read).
params: setup
	python -m dlnet.params --write

clean:
	rm -rf multirun outputs .pytest_cache
