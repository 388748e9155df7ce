# headstyle: every task a contributor runs. `make demo` and `make test` set themselves up on a
# fresh machine (a venv in .venv with the CPU build of torch 2.13 and the package in dev mode).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install demo test test-isa export clean readme docs nbs browser

install: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	# torch first: the CPU wheel; the package's torch range (<2.14) then installs nothing more
	$(PY) -m pip install -q "$(TORCH)" 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install -q -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c "import torch, headstyle, nbdev; print('installed: torch', torch.__version__, '| headstyle', headstyle.__version__, '| nbdev', nbdev.__version__)"
	@touch $@

demo: install
	$(BIN)/headstyle demo --out headstyle-out/demo

# the whole suite, in the order a failure is cheapest to find
test: install browser
	$(PY) tools/check_sync.py
	$(PY) tools/make_readme.py --check
	# one thread per notebook worker: two workers on two cores; more threads oversubscribe and crawl
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2
	$(PY) tools/build_docs.py
	# the docs' browser checks must run here (the browser step found or installed Chromium); NO_BROWSER=1 skips them, saying so
	$(BROWSER_ENV) $(BIN)/pytest tests/ -q -rsx
	# each one-line wiring mistake in the trainer must make a test fail
	$(PY) tools/mutants.py

# the suite as other machines run it: two threads, and ATen's and oneDNN's kernels capped at an older ISA (slow; not in CI)
test-isa: install
	HEADSTYLE_TEST_THREADS=2 $(BIN)/pytest tests/ -q -x --ignore=tests/test_docs.py
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1 $(BIN)/pytest tests/ -q -x --ignore=tests/test_docs.py
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2

# headless Chromium for the docs page checks: Debian's package, installed only when missing. Without Chromium and no way
# to install it this fails; `make test NO_BROWSER=1` opts out, and the checks then skip with that reason.
NO_BROWSER ?=
OPT_OUT := $(filter-out 0,$(NO_BROWSER))
BROWSER_ENV := $(if $(OPT_OUT),HEADSTYLE_NO_BROWSER=1,HEADSTYLE_REQUIRE_BROWSER=1)
FIND_BROWSER := { command -v chromium || command -v chromium-browser || command -v google-chrome; }
browser:
	@if [ -n "$(OPT_OUT)" ]; then echo "browser: NO_BROWSER=$(NO_BROWSER): the docs browser checks will be skipped"; \
	elif $(FIND_BROWSER) >/dev/null; then echo "browser: $$($(FIND_BROWSER))"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "browser: installing Debian's chromium for the docs check"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) && $(FIND_BROWSER) >/dev/null \
	  || { echo "browser: FAIL: apt could not install chromium; install Chromium, or run \`make test NO_BROWSER=1\` to skip the docs browser checks" >&2; exit 1; }; \
	  echo "browser: $$($(FIND_BROWSER))"; \
	else echo "browser: FAIL: no Chromium on PATH, and no apt-get as root to install it; install Chromium, or run \`make test NO_BROWSER=1\` to skip the docs browser checks" >&2; exit 1; fi

export: install
	$(BIN)/nbdev_export

clean: install
	$(BIN)/nbdev_clean

readme: install
	$(PY) tools/make_readme.py

docs: install
	$(PY) tools/build_docs.py

# re-run every notebook and store its outputs (the docs show them; `#| slow` cells are skipped), then clean
nbs: install
	OMP_NUM_THREADS=1 $(PY) tools/run_nbs.py
	$(PY) tools/tidy_outputs.py
	$(BIN)/nbdev_clean
