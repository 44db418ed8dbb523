# Two entry points for a fresh machine:
#   make run    set up, then build UniProtQA and PubChemQA from the bundled sample into out/
#   make test   set up, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: setup system-deps run test clean

system-deps:
	@command -v java >/dev/null 2>&1 || { echo "error: Java (17+) is required by PySpark and was not found on PATH. Install it, e.g. apt-get install -y openjdk-17-jre-headless" >&2; exit 1; }
	@command -v mmseqs >/dev/null 2>&1 || { echo "installing MMseqs2 (apt-get install mmseqs2)"; apt-get update -qq && apt-get install -y -qq mmseqs2; }
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium for the Data Docs browser test (apt-get install chromium)"; apt-get update -qq && apt-get install -y -qq chromium; }

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first, so that the project's torch range installs nothing more.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[embed,test]'
	touch $@

setup: system-deps $(VENV)/.installed

run: setup
	$(VENV)/bin/lifeqa build uniprotqa --out $(OUT)/uniprotqa --force
	$(VENV)/bin/lifeqa build pubchemqa --out $(OUT)/pubchemqa --force

test: setup
	$(PY) -m pytest

clean:
	rm -rf $(OUT) .pytest_cache
