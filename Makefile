PY ?= .venv/bin/python

.PHONY: install test test-fast lint format test-vscode vsix settings

install:
	python3 -m venv .venv
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'

# The whole suite: Python lint, the VS Code extension's compile/lint/unit tests and its .vsix, pytest.
test: test-vscode
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2

# The inner loop: Python lint and the tests not marked slow (no editors, no soak-like runs).
test-fast:
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 -m "not slow"

test-vscode:
	cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run lint && npm test && npm run package

vsix:
	cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run compile && npm run package

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Regenerate the README settings table and the VS Code extension's settings.
settings:
	$(PY) -m lsp_server.settings_views --write .
