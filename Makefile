# The two commands of the README: `make run` and `make test`.
# Each works on a fresh machine with nothing but Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest robot bench golden fuzz explore clean lwip

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/smtp-hil matrix

test: lint typecheck lwip pytest robot

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite on every core, at most 4 workers (pytest-xdist, in the test extras): about 6
# minutes instead of 12 on 2 cores. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto --maxprocesses=4
pytest: $(STAMP) lwip
	$(BIN)/python -m pytest -p xdist -n $(PYTEST_WORKERS) --dist loadfile

robot: $(STAMP)
	$(BIN)/python -m robot --outputdir build/robot robot/

# The golden trace hashes (tests/scenarios/test_golden_hashes.py compares against them;
# test_golden_explored.py those of a sample of explored schedules):
# rewrite them after a deliberate change of behaviour, then review the diff.
golden: $(STAMP)
	$(BIN)/smtp-hil matrix --write-golden tests/scenarios/golden_hashes.toml
	$(BIN)/python -m tests.scenarios.golden_explored

bench: $(STAMP)
	$(BIN)/python bench/bench_world.py
	$(BIN)/python bench/bench_trace.py
	$(BIN)/python bench/bench_matrix.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_fleet.py
	$(BIN)/python bench/bench_client.py --quick
	$(BIN)/python bench/bench_send.py
	$(BIN)/python bench/bench_lwip.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_serve_memory.py
	$(BIN)/python bench/bench_explore.py

# lwIP 2.1.3 and its SMTP client as a C firmware (emulator/cfirmware/lwip): the source is
# fetched by package name (apt-get source lwip, or LWIP_SRC=/path/to/lwip), never kept in
# the repository. When it cannot be fetched this target still succeeds: it writes
# build/lwip/UNAVAILABLE, and the lwIP tests skip with that line.
LWIP_OUT := build/lwip

lwip:
	@emulator/cfirmware/lwip/fetch-lwip.sh $(LWIP_OUT)
	@if [ -f $(LWIP_OUT)/SOURCE_DIR ]; then \
	    src=$$(cat $(LWIP_OUT)/SOURCE_DIR); \
	    if [ "$$(cat $(LWIP_OUT)/obj/.source 2>/dev/null)" != "$$src" ]; then \
	        rm -rf $(LWIP_OUT)/obj $(LWIP_OUT)/libhil_lwip.so; \
	        mkdir -p $(LWIP_OUT)/obj && echo "$$src" > $(LWIP_OUT)/obj/.source; \
	    fi; \
	    $(MAKE) --no-print-directory -f emulator/cfirmware/lwip/build.mk \
	        LWIP_SRC_DIR="$$src" OUT=$(LWIP_OUT); \
	fi

# A million hostile server dialogues against the client core (bench/fuzz_replies.py):
# prints inputs per second and every failure with the command that replays it.
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_replies.py

# The explorer's full rediscovery campaign (bench/explore_rediscovery.py): the five happy
# paths on every release, 2,000 schedules each, then five more on current; prints which
# changelog bug each release showed at which schedule, and exits 0 only when every
# release found each of its bugs and current found nothing. Shrunk files: build/explore/.
explore: $(STAMP)
	$(BIN)/python bench/explore_rediscovery.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
