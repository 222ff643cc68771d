# Leaf & Bean customer-support bot. `make install` also puts the `leafbean` command (one
# sub-command per job: seed, import, score, ingest, schedule, retrain, ...) in .venv/bin.
#   make run    create environments, install, seed demo data, train if stale, start everything
#   make test   every test (lint, types, unit, PostgreSQL/RabbitMQ/Redis, end-to-end)
#   make shell  chat in the terminal with the running bot (CUSTOMER=cus_0001 to be signed in)
#   make identity CUSTOMER=id   the signed identity metadata (one line of JSON) a website sends
#   make link-code CUSTOMER=id  a one-time code that links a messaging-app account to the customer
#   make test-channels  the messaging-channel and founder-alert tests alone, verbose
#   make score  refresh the brain's scores now (make run does it at start and daily)
#   make train  train the Rasa model if config.yml, bot/ or nlu_data/ changed
#   make bench-nlu | eval-nlu | bench-brain | bench-brain-scale | bench-loop | bench-console | bench-privacy | bench-knowledge | bench-answering
#               benchmarks; results and their commands in docs/benchmarks.md
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first interpreter of the wanted version that really runs (pyenv shims may refuse).
find_python = $(firstword $(foreach p,$(1),$(shell $(p) -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(2)")' >/dev/null 2>&1 && echo $(p))))
PY_MAIN ?= $(call find_python,python3.11 $(wildcard $(HOME)/.pyenv/versions/3.11.*/bin/python) python3,3.11)
PY_RASA ?= $(call find_python,python3.10 $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python),3.10)
VENV := .venv
VENV_RASA := .venv-rasa
PY := $(VENV)/bin/python
RASA := $(VENV_RASA)/bin/rasa
RASA_PY := $(VENV_RASA)/bin/python
MODELS := models
# models/leafbean-<hash of config.yml, bot/ and nlu_data/>.tar.gz (analytics.loop.rasa_model.model_path);
# expanded in recipes only, after their prerequisites (install, db) have run.
MODEL = $(shell $(PY) -m analytics model-path)
RASA_PORT ?= 5005
ACTION_PORT ?= 5055
WEB_PORT ?= 8000

export ACTION_ENDPOINT_URL ?= http://localhost:$(ACTION_PORT)/webhook
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export RASA_TELEMETRY_ENABLED := false

include widget/Makefile.mk

.PHONY: help run test test-channels link-code install env db train shell identity preflight lint typecheck test-main test-rasa test-data clean score bench-brain bench-brain-scale bench-loop bench-console bench-nlu eval-nlu bench-privacy bench-knowledge

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

## Environments ---------------------------------------------------------------
$(VENV)/.installed: pyproject.toml requirements/main.lock
	@test -x $(PY) || $(PY_MAIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/main.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV_RASA)/.installed: bot/requirements.txt requirements/rasa.lock
	@test -n "$(PY_RASA)" || { echo "Python 3.10 is needed for Rasa 3.6 (pyenv install 3.10.13)"; exit 1; }
	@test -x $(RASA_PY) || $(PY_RASA) -m venv $(VENV_RASA)
	$(RASA_PY) -m pip install -q --upgrade pip
	$(RASA_PY) -m pip install -q -r requirements/rasa.lock
	touch $@

install: $(VENV)/.installed $(VENV_RASA)/.installed

## re-lock both environments after changing pyproject.toml or bot/requirements*.txt
## (main.lock pins the runtime dependencies and every extra: test, dev)
lock: install
	$(PY) -m pip install -q -e '.[dev]' && $(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements/main.lock
	$(RASA_PY) -m pip install -q -r bot/requirements-dev.txt && $(RASA_PY) -m pip freeze | grep -v '^-e' > requirements/rasa.lock

## Configuration: a git-ignored .env with random secrets (missing keys only) -
## (never printed: the console password is read from .env, see README "Secrets")
SECRET_KEYS := IDENTITY_SECRET SESSION_SECRET CONSOLE_PASSWORD RASA_JWT_SECRET \
  ACTION_SERVER_TOKEN DEMO_IDENTITY_SECRET
env:
	@touch .env; chmod 600 .env
	@for key in $(SECRET_KEYS); do grep -q "^$$key=" .env || { \
	  echo "$$key=$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> .env; \
	  echo "Wrote a new random $$key into .env"; }; \
	done; true

.env: env

## Data -----------------------------------------------------------------------
db: install env
	@mkdir -p var
	$(PY) -m analytics seed
	$(PY) -m analytics export-nlu

## Model: retrained only when config.yml, bot/ or nlu_data/ change -----------
## (leafbean retrain also exports the NLU lookups from the store first; make db does that here)
train: install
	@$(PY) -m analytics retrain --no-export --models $(MODELS)

model-path:
	@$(PY) -m analytics model-path --models $(MODELS)

## The brain's scores (also refreshed by the scheduler inside make run) --------
score: db
	$(PY) -m analytics score

## Benchmarks (results and their commands: docs/benchmarks.md) ---------------
bench-brain: install
	$(PY) -m bench.brain.telco
	$(PY) -m bench.brain.cdnow
	$(PY) -m bench.brain.demo

bench-brain-scale: install
	$(PY) -m bench.brain.scale

bench-loop: install
	$(PY) -m bench.loop.ingest
	$(PY) -m bench.loop.uplift

bench-privacy: install
	$(PY) -m bench.privacy.redact

bench-knowledge: install
	$(PY) -m bench.knowledge.run --write-doc

bench-answering: install train
	$(PY) -m bench.answering.run --model $(MODEL)

BENCH_DB := sqlite:///$(CURDIR)/var/bench/shop.db
bench-console: install env
	@mkdir -p var/bench
	SHOP_DATABASE_URL=$(BENCH_DB) $(PY) -m analytics seed
	SHOP_DATABASE_URL=$(BENCH_DB) $(PY) -m bench.console.generate --conversations 100000 --messages 1000000
	SHOP_DATABASE_URL=$(BENCH_DB) $(PY) -m bench.console.latency --rounds 30

bench-nlu: install
	$(RASA_PY) -m bench.nlu.run

eval-nlu: install
	$(RASA_PY) -m bench.nlu.eval_bot

## Run everything -------------------------------------------------------------
run: db train widget
	@echo
	@echo "  Rasa REST:      http://localhost:$(RASA_PORT)/webhooks/rest/webhook"
	@echo "  Widget:         http://localhost:$(RASA_PORT)/widget/socket.io"
	@echo "  Action server:  http://localhost:$(ACTION_PORT)/health"
	@echo "  Demo shop:      http://localhost:$(WEB_PORT)/"
	@echo "  Console:        http://localhost:$(WEB_PORT)/console  (user founder, password: CONSOLE_PASSWORD in .env)"
	@echo "  Chat here:      make shell        (as a customer: make shell CUSTOMER=cus_0001)"
	@echo "  A process that stops is restarted; Ctrl-C stops everything."
	@echo
	@$(PY) -m analytics.core.preflight
	@if $(PY) -c 'import sys; from analytics.core.settings import demo_mode; sys.exit(not demo_mode())'; \
	  then echo "  Demo mode: on (the demo shop page signs customers with DEMO_IDENTITY_SECRET)"; \
	  else export DEMO_IDENTITY_SECRET=; echo "  Demo mode: off"; fi; \
	  MODEL=$(MODEL) RASA_PORT=$(RASA_PORT) ACTION_PORT=$(ACTION_PORT) WEB_PORT=$(WEB_PORT) \
	  $(PY) -m analytics.core.supervise --procfile Procfile

## The preflight checks alone (make run runs them): secrets, file modes, production creds
preflight: install env
	@$(PY) -m analytics.core.preflight

shell: env
	@meta='{}'; if [ -n "$(CUSTOMER)" ]; then meta=$$($(PY) -m analytics identity "$(CUSTOMER)") || exit 2; fi; \
	  $(PY) bot/chat.py --url http://localhost:$(RASA_PORT) --metadata "$$meta"

identity: env
	@test -n "$(CUSTOMER)" || { echo "usage: make identity CUSTOMER=cus_0001"; exit 2; }
	@$(PY) -m analytics identity "$(CUSTOMER)"

link-code: env
	@test -n "$(CUSTOMER)" || { echo "usage: make link-code CUSTOMER=cus_0001"; exit 2; }
	@$(PY) -m analytics link-code "$(CUSTOMER)"

## Tests ----------------------------------------------------------------------
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m analytics.core.env_example --check

typecheck: install
	$(VENV)/bin/mypy

test-data: install
	$(RASA) data validate --config config.yml --domain bot/domain --data bot/data nlu_data

## endpoints.yml names ${ACTION_SERVER_TOKEN}; the core tests call no action server
test-rasa: install train
	ACTION_SERVER_TOKEN=$${ACTION_SERVER_TOKEN:-unused} $(RASA_PY) -m pytest tests/bot -q
	ACTION_SERVER_TOKEN=$${ACTION_SERVER_TOKEN:-unused} $(RASA) test core --model $(MODEL) --stories tests/conversations --endpoints bot/endpoints.yml \
	  --fail-on-prediction-errors --out var/results/core

test-main: install train env widget chromium
	MODEL=$(MODEL) $(VENV)/bin/pytest -q

test: lint typecheck test-data test-rasa test-main

## The messaging channels (fake platforms, the real Rasa server) and founder alerts alone,
## verbose so their results can be read; make test runs them too (test-rasa, test-main).
test-channels: install train env
	ACTION_SERVER_TOKEN=$${ACTION_SERVER_TOKEN:-unused} $(RASA_PY) -m pytest -v tests/bot/channels
	MODEL=$(MODEL) $(VENV)/bin/pytest -v -m channels

clean:
	rm -rf var/results $(MODELS)
