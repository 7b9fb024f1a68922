# fusionlab: `make train` (install + default experiment on embedded data), `make test` (test suite).
# TORCH_SPEC picks the torch build: the default pin resolves to the CPU wheel on CPU-only machines
# and to the regular (CUDA) wheel elsewhere; torch is installed first so nothing pulls another build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TEST_ENV := WANDB_MODE=offline HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONWARNINGS=ignore::FutureWarning
PYTEST_ARGS ?=

.PHONY: install train test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev,sweep,pretrained]"
	touch $@

install: $(VENV)/.installed

train: install
	WANDB_MODE=offline $(PY) train.py $(ARGS)

test: install
	$(TEST_ENV) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: install
	$(TEST_ENV) $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: install
	$(PY) scripts/bench/overhead.py
	$(PY) scripts/bench/fusion_cost.py

clean:
	rm -rf $(VENV) outputs/runs outputs/multirun data/.cache
