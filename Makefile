# The two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean venv peer

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pingjing needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' --config-settings editable_mode=compat
	@touch $(STAMP)

# The third-party SMSC peer (node-smpp) used by the SMPP integration tests.
peer:
	@if command -v npm >/dev/null 2>&1; then \
		if [ -f tests/smpp_peer/package.json ]; then \
			cd tests/smpp_peer && npm ci --no-audit --no-fund --silent; \
		fi; \
	else echo "npm not found: SMPP peer tests will be skipped"; fi

demo: $(STAMP)
	$(BIN)/pingjing demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) peer lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info demo-output
