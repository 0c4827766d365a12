# The two commands of the README: `make run` and `make test`.
# Each works on a fresh machine with nothing but Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest robot bench golden clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/smtp-hil matrix

test: lint typecheck pytest robot

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

robot: $(STAMP)
	$(BIN)/python -m robot --outputdir build/robot robot/

# The golden trace hashes (tests/scenarios/test_golden_hashes.py compares against them):
# rewrite them after a deliberate change of behaviour, then review the diff.
golden: $(STAMP)
	$(BIN)/smtp-hil matrix --write-golden tests/scenarios/golden_hashes.toml

bench: $(STAMP)
	$(BIN)/python bench/bench_world.py
	$(BIN)/python bench/bench_matrix.py
	$(BIN)/python bench/bench_client.py --quick
	$(BIN)/python bench/bench_send.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
