# Everything starts from python3 alone: the venv and the install are part of each target.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-offline test test-slow fuzz bench soak clean fidelity corpus-target bytecode

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[collector,test]'
	touch $(STAMP)

# Where the environment sets PYTHONDONTWRITEBYTECODE=1 no process writes bytecode, and
# every `logship` process a test starts compiled the package again: 0.17 s of CPU a
# process (a collector, shipper and CLI import, median of 12, measured on 2 cores).
# Compiled once here, they only read it; a file changed since is compiled again in
# memory, so stale bytecode is never run. (samples/ holds a script run as a program and
# read as a sample file: left alone.)
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 -x '(^|/)(\.venv|demo-live|demo-data|tour|samples)/' .

# The live demo (bench/live_demo.py): a collector on a free loopback port, simulated apps
# under `logship watch` with a shipper each, the collector stopped midway, one "measure
# less" round trip, then a summary; everything stopped cleanly. About 30 s (more on a busy
# machine). Its files go to demo-live/.
demo: $(STAMP) bytecode
	$(BIN)/python -m bench.live_demo --out demo-live --seconds 30 --clients 4

# The offline demo rebuilds demo-data/ each time: a simulated fleet (logs + known answers), its db.
DEMO := demo-data
demo-offline: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/logship simulate --out $(DEMO)/logs --manifest $(DEMO)/manifest.json --clients 10 --duration 10m --seed 42
	$(BIN)/logship ingest $(DEMO)/logs --client-id-from-dir --log-format client --tz UTC --db $(DEMO)/demo.duckdb
	$(BIN)/logship summary --db $(DEMO)/demo.duckdb
	$(BIN)/python -m bench.demo_check --manifest $(DEMO)/manifest.json --db $(DEMO)/demo.duckdb

# Three workers on two cores: most tests wait on real processes (measured on a 2-core
# machine: 6 min 19 s with two workers, 4 min 28 s with three); work stealing keeps the
# long end-to-end tests from lining up on one worker at the end.
test: $(STAMP) bytecode
	$(BIN)/python -m pytest -q -n 3 --dist worksteal

test-slow: $(STAMP) bytecode
	$(BIN)/python -m pytest -q -m slow

# Exploration: fresh Hypothesis randomness and 25x the examples (make test is derandomized).
fuzz: $(STAMP) bytecode
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -m 'not slow' tests/parser/test_formats_roundtrip.py \
		tests/parser/test_parser_robust.py tests/parser/test_parser_client.py tests/parser/test_parser_lalr.py \
		tests/parser/test_parser_stream.py tests/store/test_ingest_segments.py tests/store/test_store.py \
		tests/shipper/test_tail_model.py tests/collector/intake/test_intake_roundtrip.py

# The corpus of real program logs against its truth (tests/corpus; figures in bench/RESULTS.md).
fidelity: $(STAMP)
	$(BIN)/python -m bench.fidelity

# The fidelity targets on the corpus alone (>= 99% correct records per file, none silently
# wrong); `make test` runs them too.
corpus-target: $(STAMP)
	$(BIN)/python -m pytest -q -m corpus_target tests/parser/test_corpus.py

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# The fault-injection soak (docs/soak.md). Needs root for its tmpfs disks (else those
# fault kinds are skipped and say so). An empty SOAK_SEED draws one and prints it first.
SOAK_SECONDS ?= 1800
SOAK_SEED    ?=
soak: $(STAMP) bytecode
	$(BIN)/python -m tests.fault.soak --seconds $(SOAK_SECONDS) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

clean:
	rm -rf $(VENV) build *.egg-info demo-data demo-live tour
