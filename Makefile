# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
# Not in CI's default run: `make test-plaso-oldest` (plaso 20240308 in a second venv)
# and `make test-turbinia` (a local Turbinia on loopback; needs root for losetup).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench clean test-plaso-oldest test-turbinia fuzz fuzz-smoke \
	fuzz-asan

setup: $(STAMP)

# Also rebuilt when the report templates or their environment change: setup.py compiles
# the templates (smtpcore.report.compile_templates).
$(STAMP): pyproject.toml setup.py smtpcore/report/__init__.py $(wildcard smtpcore/report/templates/*.html)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: the stock plaso tools over the sample disk image, SMTP lines printed.
SAMPLE_IMAGE := test_data/images/ntfs.vmdk

demo: $(STAMP)
	rm -rf demo-out && mkdir demo-out
	$(BIN)/log2timeline --status_view none --unattended --partitions all --volumes all \
		--logfile demo-out/log2timeline.log.gz --storage_file demo-out/case.plaso \
		$(SAMPLE_IMAGE) > demo-out/log2timeline.out
	$(BIN)/psort --status_view none --logfile demo-out/psort.log.gz \
		-o dynamic -w demo-out/smtp-timeline.csv \
		--fields datetime,timestamp_desc,source_long,message \
		demo-out/case.plaso "data_type contains 'smtp:'" > demo-out/psort.out
	cat demo-out/smtp-timeline.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The tests marked slow (pyproject.toml leaves them out of `make test`): the largest
# adversarial cases, a 1 GB DATA stream, a million AUTH attempts and key log lines,
# 100,000 transactions (some minutes; about 2.5 GB free in the temporary folder).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Every atheris target of fuzz/ for FUZZ_SECONDS each, in /dev/shm work folders
# (seeds from the committed test data); exit 0 only when nothing was found.
# CI runs fuzz-smoke after `make test`: every target 3 s (about a minute in all).
FUZZ_SECONDS ?= 60

fuzz: $(STAMP)
	PYTHONPATH=$(CURDIR):$(CURDIR)/plugins $(BIN)/python fuzz/run.py $(FUZZ_SECONDS)

fuzz-smoke: $(STAMP)
	PYTHONPATH=$(CURDIR):$(CURDIR)/plugins $(BIN)/python fuzz/run.py 3

# The targets that reach compiled code (fastpath, flowskip, packets, capture, pipeline; or
# FUZZ_TARGETS), FUZZ_SECONDS each, against an AddressSanitizer build of every .pyx
# in /dev/shm/smtpcore-asan (needs clang; see fuzz/asan.py).
fuzz-asan: $(STAMP)
	PYTHONPATH=$(CURDIR):$(CURDIR)/plugins $(BIN)/python fuzz/asan.py $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The oldest plaso supported, 20240308 (Turbinia's pin), with the dfvfs, libyal and
# pyparsing releases of its time (tools/plaso-oldest/constraints.txt). Their sdists
# import pkg_resources, which current setuptools lacks: build them without isolation
# against setuptools<70. The first run compiles the libyal bindings (about 30 minutes
# on two cores); pip's wheel cache makes later runs quick.
OLDEST_VENV := .venv-plaso-oldest
OLDEST_BIN := $(OLDEST_VENV)/bin
OLDEST_STAMP := $(OLDEST_VENV)/.installed
OLDEST_CONSTRAINTS := tools/plaso-oldest/constraints.txt
OLDEST_PLASO := 20240308

$(OLDEST_STAMP): pyproject.toml setup.py $(OLDEST_CONSTRAINTS)
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_BIN)/python -m pip install --quiet -c $(OLDEST_CONSTRAINTS) setuptools wheel
	$(OLDEST_BIN)/python -m pip install --quiet --no-build-isolation \
		-c $(OLDEST_CONSTRAINTS) -e '.[test]'
	touch $(OLDEST_STAMP)

test-plaso-oldest: $(OLDEST_STAMP)
	$(OLDEST_BIN)/python -c "import plaso, sys; print('plaso', plaso.__version__); \
		sys.exit(plaso.__version__ != '$(OLDEST_PLASO)')"
	$(OLDEST_BIN)/python -m pytest -q tests/test_plaso_*.py

# A local Turbinia (tools/turbinia/run_local_turbinia.py) in one venv, and its workers'
# plaso in another: plaso 20240308 as Turbinia ships it, plus plaso-smtp installed from
# a wheel of this checkout, as tools/turbinia/README.md tells for a worker image.
TURBINIA_VENV := .venv-turbinia
TURBINIA_STAMP := $(TURBINIA_VENV)/.installed
WORKER_VENV := .venv-turbinia-plaso
WORKER_BIN := $(WORKER_VENV)/bin
WORKER_STAMP := $(WORKER_VENV)/.installed
WHEEL_DIR := build/turbinia-wheel

$(TURBINIA_STAMP): tools/turbinia/requirements-turbinia.txt tools/turbinia/constraints-turbinia.txt
	rm -rf $(TURBINIA_VENV)
	$(PYTHON) -m venv $(TURBINIA_VENV)
	$(TURBINIA_VENV)/bin/python -m pip install --quiet \
		-r tools/turbinia/requirements-turbinia.txt -c tools/turbinia/constraints-turbinia.txt
	touch $(TURBINIA_STAMP)

$(WORKER_STAMP): $(OLDEST_CONSTRAINTS)
	rm -rf $(WORKER_VENV)
	$(PYTHON) -m venv $(WORKER_VENV)
	$(WORKER_BIN)/python -m pip install --quiet -c $(OLDEST_CONSTRAINTS) setuptools wheel
	$(WORKER_BIN)/python -m pip install --quiet --no-build-isolation \
		-c $(OLDEST_CONSTRAINTS) plaso==$(OLDEST_PLASO)
	touch $(WORKER_STAMP)

test-turbinia: $(TURBINIA_STAMP) $(WORKER_STAMP)
	command -v redis-server >/dev/null && command -v sudo >/dev/null || \
		(apt-get update && apt-get install -y redis-server sudo)
	rm -rf $(WHEEL_DIR)
	$(WORKER_BIN)/python -m pip wheel --quiet --no-deps -w $(WHEEL_DIR) .
	$(WORKER_BIN)/python -m pip uninstall --quiet --yes plaso-smtp
	$(WORKER_BIN)/python -m pip install --quiet -c $(OLDEST_CONSTRAINTS) \
		$(WHEEL_DIR)/plaso_smtp-*.whl
	$(PYTHON) tools/turbinia/run_local_turbinia.py \
		--turbinia-venv $(TURBINIA_VENV) --plaso-venv $(WORKER_VENV)

clean:
	rm -rf $(VENV) demo-out $(OLDEST_VENV) $(TURBINIA_VENV) $(WORKER_VENV) $(WHEEL_DIR)
