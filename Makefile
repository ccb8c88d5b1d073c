# make run   — install (first time), migrate, and serve HTTP + OCPP WebSockets with daphne on $(PORT):
#              one daphne per core with REDIS_URL set (WORKERS=N to choose), one without
# make test  — install (first time) and run the test suite on the configured database and channel layer
# make demo  — install, migrate, demo data, the server and three simulated charge points, one charging
# make lint  — ruff check and ruff format --check (what CI runs); make format formats the tree
# make screenshots — the README's pictures (docs/screenshots/) of a throwaway deployment in headless Chromium
# make bench — load scenarios throughput (against a bare ocpp server), idle, bootstorm, command, dashboard against a
#              throwaway deployment, and the rpc micro-benchmark; BENCH_ARGS="idle --charge-points 2000";
#              BENCH_ARGS=mqtt: the throughput load through ocpp_mqtt_gateway, Mosquitto and ocpp_mqtt
# Set DATABASE_URL / REDIS_URL to use PostgreSQL / Redis; see README.md for every setting.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 0.0.0.0
PORT   ?= 8000
WORKERS ?=

.PHONY: run demo test lint format bench screenshots install install-dev migrate clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py collectstatic --noinput -v0
	@echo ""
	@echo "  CSMS is starting on port $(PORT)"
	@echo "  OCPP endpoint:      ws://<this host>:$(PORT)/ocpp/<charge point id>  (ocpp1.6 or ocpp2.0.1)"
	@echo "  Admin:              http://localhost:$(PORT)/admin/"
	@echo "  API:                http://localhost:$(PORT)/api/v1/  (docs: /api/docs/)"
	@echo "  Create an admin user first: $(PY) manage.py createsuperuser"
	@echo ""
	$(PY) -m csms.serve -b $(HOST) -p $(PORT) $(if $(WORKERS),--workers $(WORKERS))

demo: migrate
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install-dev
	$(PY) -m bench $(BENCH_ARGS)

screenshots: install-dev
	$(PY) -m bench.screenshots

clean:
	rm -rf $(VENV) var/static .pytest_cache
