# `make run` and `make test` each set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
OUT    ?= out/demo
LINTED := $(wildcard src tests bench)

.PHONY: run test lint system-deps clean

run: $(STAMP) system-deps
	$(BIN)/amisys demo --out $(OUT)

test: $(STAMP) system-deps lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

$(STAMP): pyproject.toml
	$(PYTHON) -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version" || { echo "amisys needs Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip==25.3
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Debian packages the project needs: Graphviz draws the system diagram; the console's browser tests drive
# Debian's chromium (Playwright's own browser download does not work here). One apt-get update for both.
system-deps:
	@MISSING="$$(command -v dot >/dev/null || echo graphviz) $$([ -x /usr/bin/chromium ] || echo chromium)"; \
	if [ -n "$$(echo $$MISSING)" ]; then \
	  SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$MISSING; \
	fi

clean:
	rm -rf $(VENV) out .pytest_cache
