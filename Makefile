# Two commands for a newcomer (see README.md):
#   make demo   — the example site with its rules on http://127.0.0.1:8000
#                 (make demo-dev, or make demo DEV=1: with the debug overlay and previews)
#   make test   — the whole test suite
# Both create .venv on first use. PYTHON may point at any Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo demo-dev test bench lint vsix

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.base pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.base
	$(BIN)/smartseg demo $(if $(filter-out 0,$(DEV)),--dev)

demo-dev: $(VENV)/.base
	$(BIN)/smartseg demo --dev

# The whole suite on every core (pytest-xdist); a file's tests that share an expensive
# module fixture (the browser tests' demo server) stay on one worker (xdist_group).
test: $(VENV)/.test
	$(BIN)/python -m pytest -n auto --dist loadgroup

bench: $(VENV)/.test
	$(BIN)/python bench/run_all.py

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The VS Code extension (editors/vscode/README.md): editors/vscode/smartseg.vsix
vsix:
	cd editors/vscode && npm install --no-audit --no-fund && npm run package
