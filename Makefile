# One entry point. Every target creates .venv on first use and installs what it needs:
# `make demo` the runtime and matplotlib only, the other targets the development stack
# (tests, docs, linters, every extra) into the same .venv, each behind its own stamp.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.demo-installed
DEV_STAMP := $(VENV)/.dev-installed
# Pinned: unpinned, pip on Linux pulls a multi-GB CUDA build of torch, where this
# version resolves to the CPU wheel the machines here provide.
TORCH := torch==2.13.0

.PHONY: demo test docs lint bench bench-quality venv clean

venv: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs numpy, scikit-learn, torch, tqdm (the package's dependencies) and
# matplotlib (the plot extra).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[plot]' '$(TORCH)'
	touch $@

# The development stack includes everything the demo needs.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' '$(TORCH)'
	touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m sklearn_ae $(ARGS)

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

# The documentation site, warnings as errors (runs the examples for the gallery).
docs: $(DEV_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

# Benchmarks (benchmarks/README.md): ARGS="--quick" for a smoke run, ARGS="--save" to write
# benchmarks/results/<script>.json, from which the docs' tables are built.
bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_fit.py $(ARGS)

bench-quality: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_quality.py --baseline benchmarks/baseline_quality.json $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
