# Tigle: `make demo` (the main job, embedded defaults) and `make test` (every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# chromium and its driver: the dashboard's browser test (purchases/tests/test_dashboard_browser.py).
DEBS := libmariadb-dev pkg-config chromium chromium-driver

.PHONY: demo test bench soak up migrate system-deps services venv

demo: venv
	$(PY) -m loadtest.demo

# Two pytest processes, each on a database and vhost of its own: the tests wait on the
# processes they start about half the time, so two halve the run on two cores.
TEST_PROCESSES ?= 2
test: venv services
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist worksteal

# The benchmark (not a test): every write mode under the same Locust day. QUICK=1: minutes.
bench: venv services
	$(PY) -m loadtest.bench $(if $(QUICK),--quick)

# Not a test: 30 minutes at 80% of the durable rate, which it measures first as make bench
# does (or RATE=purchases/s); every process's memory every 10 s (loadtest/soak.py).
soak: venv services
	$(PY) -m loadtest.soak $(if $(RATE),--rate $(RATE))

# All on this host (two web processes of 16 threads, as loadtest/stack.py explains), every
# page on 127.0.0.1 unless HOST says otherwise; it first prints where each page is.
up: venv migrate
	$(PY) -m loadtest.up

migrate: venv
	$(PY) manage.py migrate

venv: $(STAMP)

# mysqlclient compiles against MariaDB's client headers.
system-deps:
	@dpkg -s $(DEBS) >/dev/null 2>&1 || { \
	  echo "installing $(DEBS)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEBS) >/dev/null; }

$(STAMP): requirements.txt requirements-dev.txt ansible/requirements.txt | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt -r ansible/requirements.txt
	touch $(STAMP)

# Start MariaDB, RabbitMQ and Redis when installed but stopped; never touch running ones.
define port_open
timeout 1 bash -c "</dev/tcp/127.0.0.1/$(1)" 2>/dev/null
endef
services:
	@if ! $(call port_open,3306) && command -v mariadbd >/dev/null; then \
	  echo "starting MariaDB"; $(SUDO) start-stop-daemon --start --oknodo --background --exec "$$(command -v mariadbd)"; \
	  for i in $$(seq 60); do $(call port_open,3306) && break; sleep 0.5; done; fi
	@if ! $(call port_open,5672) && command -v rabbitmq-server >/dev/null; then \
	  echo "starting RabbitMQ"; $(SUDO) rabbitmq-server -detached; \
	  $(SUDO) rabbitmqctl -q await_startup --timeout 120; fi
	@if ! $(call port_open,6379) && command -v redis-server >/dev/null; then \
	  echo "starting Redis"; $(SUDO) mkdir -p /var/lib/redis /var/log/redis; \
	  $(SUDO) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
	    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	  for i in $$(seq 20); do $(call port_open,6379) && break; sleep 0.25; done; fi
	@for port in 3306 5672 6379; do $(call port_open,$$port) || { echo "nothing listens on 127.0.0.1:$$port"; exit 1; }; done
