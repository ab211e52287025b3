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
	$(BIN)/pip install -q -e ".[eval,torch,test,web,webtest,ray]"
	# mediapipe's wheel pins opencv-contrib-python (clashes with opencv-python-headless): take it alone.
	$(BIN)/pip install -q --no-deps mediapipe==1.2.2
	$(BIN)/facexpr fetch-models
	# The web app's browser tests drive Debian's chromium (Playwright's own download is unreachable).
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null)) \
	  && echo "chromium installed" || echo "chromium: apt-get install failed; browser tests will skip (or fail under CI)"; \
	else echo "chromium not installed (needs root + apt-get): browser tests will skip (or fail under CI)"; fi

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
