# The README's commands. Everything the project needs is installed from here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: test lint bench demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs only the library (no test oracle): a lighter install.
$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# Train the Fashion-MNIST MLP recipe from a fresh machine: fetch the data if missing,
# train, print the test accuracy and the run folder.
demo: $(RUNTIME_STAMP)
	$(VENV)/bin/nnscratch data fetch fashion-mnist
	$(VENV)/bin/nnscratch train fashion-mlp

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

test: lint
	$(PY) -m pytest

# Every benchmark, one table: workload, nnscratch, PyTorch, ratio (a few minutes).
bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist
