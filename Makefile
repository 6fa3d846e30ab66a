# Two commands on a fresh machine: `make demo` (main job) and `make test` (test suite).
# Both create/reuse a local venv and install the project from this checkout.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-quick bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nasengine run --config demo --out runs/demo --resume

test: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q

test-quick: $(STAMP)  # the suite without the tests marked slow (a change's quick loop)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs
