.PHONY: check test lint fmt

check:  ## everything CI runs: lint, format check, types, import layers, tests (SQLite + PostgreSQL)
	scripts/test.sh

test:
	.venv/bin/python -m pytest -q

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

fmt:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .
