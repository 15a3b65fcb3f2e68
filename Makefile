# Set-up and the two Quickstart targets. Python >= 3.11 must be on PATH as python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch. Users with their own torch (CUDA) can set TORCH_SPEC= to skip it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup browser demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH_SPEC),$(PY) -m pip install -q "$(TORCH_SPEC)")
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/quanta demo --out runs/demo --force

# The report's test renders the HTML in headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing Debian's chromium for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    echo "could not install chromium (run: sudo apt-get install -y chromium); the browser test will fail"; }

# The suite runs in TEST_WORKERS processes (pytest-xdist; auto: one per core), each test on one torch thread
# (tests/conftest.py); TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= auto
test: setup browser
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg QUANTA_PROGRESS=0 $(PY) -m pytest -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) runs .pytest_cache
