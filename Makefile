# The README's commands. Everything the project needs is installed from here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: test test-strict test-gpu lint data bench bench-gpu demo clean

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

# The op and layer suites: every test file comparing an op or a layer with PyTorch
# (tests/oracle.py); run again with the nnscratch side on a device.
OP_TESTS = $(shell grep -l "compare_with_torch\|compare_layers" tests/test_*.py)

test: lint data
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-strict

# The op and layer suites on the strict stand-in device, whose arrays refuse NumPy as
# CuPy's do (tests/test_devices.py, in the default suite, trains every family on it).
test-strict: $(STAMP)
	NNSCRATCH_TEST_DEVICE=strict $(PY) -m pytest $(OP_TESTS)

# On a machine with an NVIDIA GPU: CuPy, then the op and layer suites and every layer
# family's training steps on the GPU, against the NumPy results and PyTorch.
test-gpu: $(STAMP) data
	$(PY) -m pip install --quiet cupy-cuda12x
	NNSCRATCH_TEST_DEVICE=cuda $(PY) -m pytest $(OP_TESTS) tests/test_devices.py

# Every benchmark, one table: workload, nnscratch, PyTorch, ratio (a few minutes).
bench: $(STAMP) data
	$(PY) benchmarks/run_all.py

# On a machine with an NVIDIA GPU (and a CUDA build of PyTorch): the MLP, CNN and GPT
# training steps through CuPy vs PyTorch CUDA.
bench-gpu: $(STAMP)
	$(PY) -m pip install --quiet cupy-cuda12x
	$(PY) benchmarks/gpu.py --device cuda

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist
