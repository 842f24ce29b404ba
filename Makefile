# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py
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

clean:
	rm -rf $(VENV) demo-out
