# dagger: the two commands a newcomer runs are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
KAFKA_PORT ?= 9092
export DAGGER_KAFKA_PORT := $(KAFKA_PORT)

.PHONY: install check test test-unit demo bench kafka-up kafka-down clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[compiler,ops,tracing,aerospike,dev]'
	touch $@

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Compile examples/ and run 1,000 order workflows on the embedded SQLite default (build/demo.db).
demo: install
	$(BIN)/daggerc build examples/
	$(BIN)/python scripts/demo.py

# Everything but the tests that need a Kafka broker.
test-unit: install
	$(BIN)/pytest -m "not kafka"

# The whole suite: starts Kafka, runs every test, stops Kafka even when a test fails.
# Lint and types first, then the suite. A broker that was already running (`make kafka-up`)
# is left running.
test: install check
	@if bash scripts/kafka.sh status >/dev/null 2>&1; then started=0; else started=1; fi; \
		bash scripts/kafka.sh up || exit $$?; \
		status=0; DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(BIN)/pytest || status=$$?; \
		if [ $$started = 1 ]; then bash scripts/kafka.sh down; fi; exit $$status

kafka-up:
	@bash scripts/kafka.sh up

kafka-down:
	@bash scripts/kafka.sh down

# Benchmarks (< 8 minutes): every contender on a broker of its own, stopped even on failure or Ctrl-C.
# Writes bench/results/latest.json and bench/RESULTS.md. wf_dagger runs when DAGGER_AEROSPIKE_HOSTS is set.
BENCH_KAFKA_PORT ?= 9192
bench: install
	@trap 'DAGGER_KAFKA_PORT=$(BENCH_KAFKA_PORT) bash scripts/kafka.sh down' EXIT; trap 'exit 130' INT TERM; \
		DAGGER_KAFKA_PORT=$(BENCH_KAFKA_PORT) bash scripts/kafka.sh up && \
		$(BIN)/python -m bench.run --bootstrap 127.0.0.1:$(BENCH_KAFKA_PORT) --command "make bench"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
