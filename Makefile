# Every target creates .venv on first use and installs the project into it,
# so a fresh clone needs nothing but `make run` or `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages of the libraries Qt's xcb plugin, QtGui and QtWidgets load (the same list
# as workbench/gui/qtlibs.py), and binutils for the guest assembler.
SYSTEM_DEBS := binutils libegl1 libgl1 libglx0 libopengl0 libx11-xcb1 libx11-6 \
	libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 libxcb1 libxcb-cursor0 \
	libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
	libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 \
	libxcb-xkb1 libxkbcommon-x11-0 libxkbcommon0
# QEMU for `workbench capture`'s live tests (marked `qemu`), and gcc for the capture's
# compiled stop handler: installed where possible, else those tests skip with the reason
# (without gcc the capture handles its stops in Python, slower).
OPTIONAL_DEBS := qemu-system-x86 gcc

.PHONY: run test bench lint clean system-deps

# Installs with apt-get only what is missing; elsewhere it says what to install.
system-deps:
	@missing=$$(for p in $(SYSTEM_DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ] || ! command -v dpkg-query >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing system packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "please install: $$missing (apt-get install as root)" >&2; exit 1; \
	fi
	@missing=$$(for p in $(OPTIONAL_DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ] || ! command -v dpkg-query >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing optional system packages: $$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing) || \
			echo "could not install $$missing: the qemu tests will skip" >&2; \
	else \
		echo "optional: $$missing (apt-get install as root) for the live capture tests" >&2; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: system-deps $(STAMP)
	$(VENV)/bin/workbench

test: system-deps $(STAMP)
	$(PY) -m ruff check workbench tests benchmarks
	$(VENV)/bin/lint-imports
	@# Each test has its own hang guard (tests/conftest.py); this one ends a run that is
	@# wedged as a whole within 20 minutes, not at CI's limit. The suite takes about 3.
	timeout --kill-after=30 1200 $(PY) -m pytest -n 2

bench: system-deps $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(PY) -m ruff check workbench tests benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV)
