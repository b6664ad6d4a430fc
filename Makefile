# The README's commands. Everything the project needs is installed from here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: test lint data bench demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes. The dev install holds the runtime one.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

# The demo needs only the library (no test oracle): a lighter install.
$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# Train the Fashion-MNIST MLP recipe from a fresh machine: fetch the data if missing,
# train, print the test accuracy and the run folder.
demo: data
	$(VENV)/bin/nnscratch train fashion-mlp

# The data sets the demo, the tests and the benchmarks read: fetched where the library
# looks for them (~/.cache/nnscratch, unless Debian's package already installed them);
# at once when they are there and intact.
data: $(RUNTIME_STAMP)
	$(VENV)/bin/nnscratch data fetch fashion-mnist

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

test: lint data
	$(PY) -m pytest

# Every benchmark, one table: workload, nnscratch, PyTorch, ratio (a few minutes).
bench: $(STAMP) data
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist
