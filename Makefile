# Every target creates .venv on first use and installs the project into it,
# so a fresh clone needs nothing but `make run` or `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	@command -v as >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq binutils)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/workbench

test: $(STAMP)
	$(PY) -m ruff check workbench tests benchmarks
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(PY) -m ruff check workbench tests benchmarks

clean:
	rm -rf $(VENV)
