# Set-up and the two Quickstart targets. Python >= 3.11 must be on PATH as python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch. Users with their own torch (CUDA) can set TORCH_SPEC= to skip it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH_SPEC),$(PY) -m pip install -q "$(TORCH_SPEC)")
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/quanta demo --out runs/demo --force

test: setup
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg QUANTA_PROGRESS=0 $(PY) -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
