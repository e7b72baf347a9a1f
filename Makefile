# beian: two commands on a fresh machine. `make run` serves the platform on SQLite with the demo
# world; `make test` runs the whole suite (lint, import contracts, pytest on SQLite and PostgreSQL).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-sqlite test-postgres test-explore lint migrate demo clean browsers edge-tools cache-tools deploy-tools bench bench-scale bench-volume soak diagrams gettext messages
MO := beian/locale/en/LC_MESSAGES/django.mo

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "beian needs $(PYTHON) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the pinned dependencies or the compiled decision change.
$(STAMP): pyproject.toml beian/enforcement/decision.pyx | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(MAKE) --no-print-directory $(MO)
	touch $(STAMP)

# Django's i18n tools call GNU gettext (msgfmt, xgettext): Debian's package.
gettext:
	@if ! command -v msgfmt >/dev/null; then \
		echo "installing Debian's gettext for the translations"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; \
	fi

# The English catalogue, compiled from the committed .po (the .mo is built, never committed).
$(MO): beian/locale/en/LC_MESSAGES/django.po | $(BIN)/python
	@$(MAKE) --no-print-directory gettext
	$(BIN)/python -m beian compilemessages --ignore '.venv/*' -v 0

# After changing or adding a marked string: refresh the .po, translate the new entries, commit it.
messages: $(STAMP) gettext
	$(BIN)/python -m beian makemessages -l en --no-wrap --no-location --ignore '.venv/*' --ignore 'tests/*' --ignore 'bench/*'

migrate: $(STAMP) $(MO)
	$(BIN)/python -m beian migrate --noinput
	$(BIN)/python -m beian migrate --noinput --database bureau

demo: migrate
	$(BIN)/python -m beian demo_world

run: demo
	$(BIN)/honcho start -f Procfile

lint: $(STAMP) $(MO)
	$(BIN)/ruff check beian tests bench
	$(BIN)/ruff format --check beian tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m beian makemigrations --check --dry-run

# The browser tests drive Debian's chromium; without the CJK fonts Chinese renders as boxes.
browsers:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		echo "installing Debian's chromium and fonts-noto-cjk for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

# The edge tests run Debian's nginx (with auth_request) and HAProxy (its map kept live by the edge
# agent), and check the documented Caddyfile with Debian's caddy; the edge benchmarks drive them with wrk.
edge-tools:
	@if [ ! -x /usr/sbin/nginx ] || [ ! -x /usr/sbin/haproxy ] || ! command -v wrk >/dev/null || ! command -v caddy >/dev/null; then \
		echo "installing Debian's nginx, haproxy, wrk and caddy for the edge tests and benchmarks"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx haproxy wrk caddy >/dev/null; \
	fi

# The deployment tests (tests/deploy) verify the systemd units with systemd-analyze, make a
# certificate for nginx with openssl, and back up and restore with pg_dump and pg_restore.
deploy-tools:
	@if ! command -v systemd-analyze >/dev/null || ! command -v pg_dump >/dev/null || ! command -v openssl >/dev/null; then \
		echo "installing Debian's systemd, postgresql-client and openssl for the deployment tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd postgresql-client openssl >/dev/null; \
	fi

# One test runs the rate limits against a real Redis (BEIAN_CACHE_URL), on a port of its own.
cache-tools:
	@if ! command -v redis-server >/dev/null; then \
		echo "installing Debian's redis-server for the rate-limit test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

test-sqlite: $(STAMP) $(MO) browsers edge-tools cache-tools deploy-tools
	BEIAN_DATABASE_URL= BEIAN_BUREAU_DATABASE_URL= ./scripts/pytest-run sqlite

test-postgres: $(STAMP) $(MO) browsers edge-tools cache-tools deploy-tools
	./scripts/pytest-run postgres

test: lint test-sqlite test-postgres

# The property tests with fresh randomness and many more examples (make test runs them derandomized,
# so that its verdict depends on the code alone). Slow; for hunting, not for CI.
test-explore: $(STAMP)
	BEIAN_HYPOTHESIS_PROFILE=explore BEIAN_STATEFUL_EXAMPLES=500 BEIAN_DATABASE_URL= BEIAN_BUREAU_DATABASE_URL= \
		./scripts/pytest-run sqlite -m hypothesis

# docs/state-machines.md from the transition tables (a test fails when they differ).
diagrams: $(STAMP)
	$(BIN)/python scripts/state-diagrams

# Micro-benchmarks of the enforcement decision (memory per domain, decisions per second), then the
# edge: the decision server and nginx (map, auth_request) under wrk (bench/edge.py); then a fleet of
# 20 edges following one platform on PostgreSQL, HAProxy's live map against nginx's (bench/fleet.py;
# figures in docs/enforcement.md). SCALE="--full" runs the fleet at 5M served domains (1M if the
# machine has 16 GB or less available).
bench: $(STAMP) edge-tools
	$(BIN)/python -m bench
	$(BIN)/python -m bench fleet $(SCALE)

# National scale (issue 10): registries of growing size loaded on PostgreSQL (and SQLite for the
# load), the public query through gunicorn and the provider's feed catch-up (bench/scale.py; figures
# and a plot to docs/performance.md); then the decision server's cold start from a mirror of 1 million
# served websites and change → decision while 100 changes/s flow (bench/edge_scale.py; figures in
# docs/enforcement.md); last, an /api/v1/ request with a personal API token against the same with a
# session (bench/tokens.py). SCALE="--full" runs the full sizes (10M websites, 5M served domains);
# QUERY_SERVER=granian serves the public query as `python -m beian.granian_serve` does.
QUERY_SERVER ?= gunicorn
BEIAN_SCALE_PG ?= postgres://postgres@127.0.0.1:5432
bench-scale: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.scale $(SCALE) --server $(QUERY_SERVER)
	$(BIN)/python -m bench edge-scale $(SCALE)
	$(BIN)/python -m bench tokens --database-url $(BEIAN_SCALE_PG)

# Filing at volume (issue 10): applications from the provider API's draft to the filing number on
# PostgreSQL, through gunicorn and several provider and bureau workers, SMS codes answered by the
# bench (bench/volume.py; figures into docs/performance.md).
bench-volume: $(STAMP)
	$(BIN)/python -m bench.volume $(VOLUME)

# A soak with faults (issue 14), a benchmark, not a test: ten minutes of applications while the
# bureau fails and drops requests, a worker is killed every 30 s, the mail server is down for two
# minutes and the soak's own PostgreSQL restarts once (bench/soak.py; figures into docs/hardening.md).
# SOAK="--minutes 2" for a shorter one.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK)

clean:
	rm -rf $(VENV) var
