# Two commands on a fresh machine:
#   make book   .venv, install, execute every notebook with papermill (PROFILE=quick|cpu|paper), build _build/html
#   make test   .venv, install, ruff + pytest (unit tests, then nbval on every notebook under the quick profile)

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PROFILE ?= quick
STAMP   := $(VENV)/.installed
SYSSTAMP := $(VENV)/.sysdeps
# Debian libraries bpy needs on a bare machine (libegl1 for Workbench), and chromium for the browser test.
DEBS    := libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1 chromium

# The checkout always wins over any installed copy (also in git worktrees that share a .venv).
export PYTHONPATH := $(CURDIR)
export PYTHONUNBUFFERED := 1
# pip's global config on some machines lists local indexes that do not exist: quiet its warnings.
PIP := $(BIN)/python -m pip install --quiet --progress-bar off

.PHONY: book test install sysdeps lint unit notebooks bench clean

install: $(STAMP)

$(SYSSTAMP):
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $$missing"; \
	    (apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null)) \
	     || { echo "apt-get could not install: $$missing"; exit 1; }; \
	  else echo "warning: missing Debian packages ($$missing); install them as root"; fi; \
	fi
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml | $(SYSSTAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (torch CPU wheel first, then the rest; ~3 min on a fresh machine)"
	@$(PIP) --upgrade pip 2>&1 | grep -v "is ignored" || true
	@$(PIP) torch==2.13.0 2>&1 | grep -v "is ignored" || true
	@$(PIP) -e ".[dev]" 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -c "import torch, landmarklib, anny, bpy, faiss, sklearn, nibabel, papermill, jupyter_book" \
	  || { echo "install failed: see the pip output above"; exit 1; }
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@echo "preparing the body model cache (~/.cache/landmarklib/anny; ~2 min per model the first time on a machine)"
	@$(BIN)/python -c "from landmarklib.synth.bodymodel import load_model; [load_model(t) for t in ('hand', 'body')]"
	@touch $@

book: $(STAMP)
	$(BIN)/python -m landmarklib book --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check landmarklib tests benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

notebooks: $(STAMP)
	$(BIN)/python -m pytest -p no:randomly --nbval-lax book

test: lint unit notebooks

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _build .pytest_cache .ruff_cache
