# trainproof — every target a new user or CI needs. Scripts live beside their component.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1
# make network-up CONSENSUS=bft: 4 SmartBFT orderers instead of 3 Raft ones (fixed at the first up).
ifdef CONSENSUS
export TRAINPROOF_CONSENSUS := $(CONSENSUS)
endif

.PHONY: help install network-up network-down network-clean network-status test test-unit demo \
        bench bench-ledger bench-analysis bench-detection bench-deepring bench-storage bench-robustness bench-explorer bench-attest bench-scale

help:
	@echo "make demo           set everything up and run the whole journey end to end"
	@echo "make test           install, start the network, run every test, stop what it started"
	@echo "make network-up [CONSENSUS=raft|bft] | network-down | network-clean | network-status"
	@echo "make bench          all benchmarks (bench-ledger, bench-analysis, bench-detection, bench-storage, ...)"
	@echo "make bench-scale    one model's cost at 1e5-1e7 parameters (1e8 with --sizes, see bench/scale.py): submit, per-task download, RSS, replay, verdict"

install:
	@network/scripts/install.sh all

network-up: install
	@network/scripts/up.sh

network-down:
	@network/scripts/down.sh

network-clean:
	@network/scripts/clean.sh

network-status:
	@network/scripts/status.sh

test: install
	@tests/run.sh

test-unit: install
	@$(PY) -m pytest -m "unit or ml" -q

demo: network-up
	@$(PY) -m demo

bench: bench-analysis bench-storage bench-ledger bench-detection bench-deepring

bench-ledger: install
	@$(PY) -m bench.ledger

bench-analysis: install
	@$(PY) -m bench.analysis

bench-detection: install
	@$(PY) -m bench.detection

bench-deepring: install
	@$(PY) -m bench.deepring

bench-storage: network-up
	@$(PY) -m bench.storage

bench-robustness: network-up
	@$(PY) -m bench.robustness

bench-attest: network-up
	@$(PY) -m bench.attest

bench-explorer: network-up
	@$(PY) -m bench.explorer

bench-scale: network-up
	@$(PY) -m bench.scale
