# The two commands of the README: `make install` (a fresh .venv with everything, offline models
# resolved and checksum-verified) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test bench results smoke-train clean

install:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The local CPU build of torch first: anything that pulls a newer torch drags in CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[eval,torch,test]"
	# mediapipe's wheel pins opencv-contrib-python (clashes with opencv-python-headless): take it alone.
	$(BIN)/pip install -q --no-deps mediapipe==1.2.2
	$(BIN)/facexpr fetch-models

test:
	$(BIN)/python -m pytest -q

bench:
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/london.py

results:
	$(BIN)/facexpr evaluate --benchmark london --method all --results-md docs/RESULTS.md

smoke-train:
	$(BIN)/facexpr train -c configs/smoke.yaml train.out_dir=runs/smoke

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
