# The two commands of the README: `make install` (a .venv with facexpr[all], editable; offline
# models resolved and checksum-verified) and `make test`. A user's install is just
# `pip install facexpr` (or the wheel): see docs/INSTALL.md.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test wheel bench results smoke-train clean

install:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The local CPU build of torch first: anything that pulls a newer torch drags in CUDA.
	$(BIN)/pip install -q torch==2.13.0
	# One OpenCV: mediapipe's (opencv-contrib-python). A venv made before may still hold the headless
	# build, which writes the same cv2 package: remove both, the install below puts back the one.
	@if $(BIN)/pip show -q opencv-python-headless >/dev/null 2>&1; then \
	  $(BIN)/pip uninstall -y -q opencv-python-headless opencv-contrib-python; fi
	$(BIN)/pip install -q -e ".[all,ray]"
	# MediaPipe's engine loads libEGL and libGLESv2, its OpenCV build libGL and GLib, all from the
	# system (slim images lack them): added with apt where missing.
	@if $(BIN)/python -c "import ctypes; [ctypes.CDLL(l) for l in ('libGL.so.1', 'libEGL.so.1', 'libGLESv2.so.2', 'libgthread-2.0.so.0')]" >/dev/null 2>&1; \
	then echo "system libraries: ok"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libgl1 libglib2.0-0 libegl1 libgles2 >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libgl1 libglib2.0-0 libegl1 libgles2 >/dev/null)) \
	  && echo "system libraries: libgl1 libglib2.0-0 libegl1 libgles2 installed"; \
	else echo "system libraries libGL/libEGL/libGLESv2/GLib missing (needs root + apt-get): see docs/INSTALL.md"; fi
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

wheel:
	$(BIN)/pip wheel -q --no-deps -w dist .

bench:
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/london.py

results:
	$(BIN)/facexpr evaluate --benchmark london --method all --results-md docs/RESULTS.md

smoke-train:
	$(BIN)/facexpr train -c configs/smoke.yaml train.out_dir=runs/smoke

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache
