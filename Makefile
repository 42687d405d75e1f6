# Two entry points for a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test check soak lint schemas bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "complaintflow needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(BIN)/complaintflow run

test: $(STAMP)
	$(BIN)/python -m pytest

# The reliability scenarios at soak size: SOAK_COMPLAINTS complaints through the crash scenario, a 60 s SMTP/SMS
# outage and a 60 s Redis outage (the regular suite uses a few hundred complaints and 20 s outages).
SOAK_COMPLAINTS ?= 20000
soak: $(STAMP)
	COMPLAINTFLOW_SOAK_COMPLAINTS=$(SOAK_COMPLAINTS) COMPLAINTFLOW_SOAK_BETWEEN_KILLS_S=60 \
	COMPLAINTFLOW_SOAK_OUTAGE_S=60 COMPLAINTFLOW_SOAK_REDIS_OUTAGE_S=60 COMPLAINTFLOW_SOAK_NOTIFY_COMPLAINTS=1000 \
	$(BIN)/python -m pytest tests/reliability -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The fast lane: lint and the tests that need no broker, Redis or SMTP server (under a minute).
check: lint
	$(BIN)/python -m pytest -m "not integration" -q

schemas: $(STAMP)
	$(BIN)/complaintflow schemas export

# Rebuilds services/router/model/classifier.joblib from the training file (same bytes for the same file and seed).
TRAINING_CSV ?= ../shared/data/cfpb_complaints_train.csv
MODEL_SEED ?= 13
model: $(STAMP)
	$(BIN)/python -m tools.model build $(TRAINING_CSV) --seed $(MODEL_SEED)

bench: $(STAMP)
	$(BIN)/python -m tools.bench --complaints 10000 --json var/bench.json

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
