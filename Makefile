# fusionlab: `make train` (install + default experiment on embedded data), `make test` (test suite).
# TORCH_SPEC picks the torch build: the default pin resolves to the CPU wheel on CPU-only machines
# and to the regular (CUDA) wheel elsewhere; torch is installed first so nothing pulls another build.
# Every other package is pinned by constraints.txt (`pip freeze` of the environment CI last passed
# with): `make lock` re-freezes it after an upgrade; `make install CONSTRAINTS=` installs unpinned.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
CONSTRAINTS ?= constraints.txt
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
TEST_ENV := WANDB_MODE=offline HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONWARNINGS=ignore::FutureWarning
PYTEST_ARGS ?=
# the suite runs on TEST_WORKERS processes (pytest-xdist); tests/test_readme.py stays on one, in order
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: install lock train test test-fast bench clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(PIN) pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q $(PIN) -e ".[dev,sweep,pretrained]"
	touch $@

install: $(VENV)/.installed

# constraints.txt := the installed versions (without fusionlab itself and torch, which TORCH_SPEC pins)
lock: install
	{ echo "# pip freeze of the environment the test suite passed with; regenerate with \`make lock\`"; \
	  $(PY) -m pip freeze --all --exclude-editable | grep -viE '^(torch|fusionlab)=='; } > constraints.txt

train: install
	WANDB_MODE=offline $(PY) train.py $(ARGS)

test: install
	$(TEST_ENV) $(PY) -m pytest -q -p no:cacheprovider --durations=15 $(XDIST) $(PYTEST_ARGS)

test-fast: install
	$(TEST_ENV) $(PY) -m pytest -q -m "not slow" $(XDIST) $(PYTEST_ARGS)

bench: install
	$(PY) scripts/bench/overhead.py
	$(PY) scripts/bench/fusion_cost.py

clean:
	rm -rf $(VENV) outputs/runs outputs/multirun data/.cache
