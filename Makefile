# Asset Service — `make run` serves it, `make test` checks it. GNU make.
#
# Everything the project needs is installed into $(VENV) from pyproject.toml; nothing outside the
# repository is used except $(PYTHON) (3.11+, with its venv module).

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (auto: one per core; 0: in the pytest process itself)
PYTEST_WORKERS ?= auto
BENCH_ARGS ?=
QUICK ?=
FUZZ_EXAMPLES ?= 1000
FUZZ_SECONDS ?= 420
CRASH_OPS ?= 100
CRASH_RUNS ?= 3
CRASH_STORES ?= file s3
CRASH_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.DEFAULT_GOAL := help

.PHONY: help venv install media-tools vips-tools browser nginx run test fuzz crash lint format bench load clean distclean

help: ## list the targets
	@echo "Asset Service — make targets:"
	@grep -E '^[a-z][a-z -]*:.*## ' $(firstword $(MAKEFILE_LIST)) \
		| sed -E 's/^([a-z -]+):.*## (.*)/\1|\2/' | awk -F'|' '{ printf "  %-16s %s\n", $$1, $$2 }'
	@echo
	@echo "Variables: PYTHON=$(PYTHON) VENV=$(VENV) PYTEST_ARGS='$(PYTEST_ARGS)' BENCH_ARGS='$(BENCH_ARGS)'"
	@echo "The server reads every ASSET_* variable from the environment (see README.md)."

# The virtualenv itself: created once. If creating it fails half-way, remove it so that the
# next run starts over instead of trusting a venv without pip.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip || { rm -rf $(VENV); exit 1; }

# The project and its test tools: re-installed only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP) ## create .venv and install the project with its test tools

install: $(STAMP) ## same as venv

# ffmpeg's ffprobe is what the video plugin reads video with, and the tests make their audio and
# video corpus (and the previews) with ffmpeg. Missing and root (CI, containers): Debian's
# package is installed, after an `apt-get update` if the first try fails. Otherwise the video
# tests skip, saying why.
media-tools: ## install ffmpeg/ffprobe (Debian package) when missing and running as root
	@if command -v ffprobe >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing ffmpeg (Debian) for the video plugin and its tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; } \
			|| echo "could not install ffmpeg: the video tests will skip"; \
	else \
		echo "ffmpeg/ffprobe missing and not root: the video tests will skip (install ffmpeg)"; \
	fi

# The browser tests (tests/browser: the console, and tus-js-client and media elements on a page
# of another origin) drive Debian's Chromium through Playwright (its own browser downloads are
# not used). Missing and root: the package is installed, as ffmpeg is above. Otherwise the
# browser tests skip, saying why.
browser: ## install chromium (Debian package) for the browser tests, when missing and root
	@if command -v chromium >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian) for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
			|| echo "could not install chromium: the browser tests will skip"; \
	else \
		echo "chromium missing and not root: the browser tests will skip (install chromium)"; \
	fi

# tests/test_nginx_front.py runs deploy/nginx.conf (the front of docker-compose.yml) with
# Debian's nginx in front of the real service; the benchmark's references use it too. Missing
# and root: the package is installed, as ffmpeg is above. Otherwise that test skips.
nginx: ## install nginx (Debian package) for the deployment test, when missing and root
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing nginx (Debian) for the deployment test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends nginx >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx >/dev/null; } \
			|| echo "could not install nginx: the nginx front test will skip"; \
	else \
		echo "nginx missing and not root: the nginx front test will skip (install nginx)"; \
	fi

run: $(STAMP) ## serve on 127.0.0.1:8000 with the data under ./data (ASSET_WORKERS=N: N processes); the console offers a dev token
	exec $(BIN)/asset-service serve --dev

test: $(STAMP) media-tools browser nginx ## ruff check, ruff format --check, then pytest on every core (PYTEST_ARGS=..., PYTEST_WORKERS=N)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
# --- servers the tests need -------------------------------------------------------------
# moto_server (S3) and nx-27017 (MongoDB wire protocol) are started by session fixtures of
# pytest on free 127.0.0.1 ports when first needed and stopped at the end of the session,
# whatever its outcome (tests/backends.py); ASSET_TEST_MOTO_URL / ASSET_TEST_NX_URL name
# already running ones instead. ASSET_TEST_S3_URL / ASSET_TEST_MONGO_URL add runs against a
# real MinIO / MongoDB. The HTTP suite runs on the filesystem store and on S3 (moto).
# ------------------------------------------------------------------------------------------
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --api-blob-stores=file,s3 $(PYTEST_ARGS)

# The same schema-driven fuzzing as in `make test` (tests/api/test_fuzz.py), with far more
# examples per operation; FUZZ_SECONDS bounds the fuzzing time of the whole run (with the setup
# of each operation's run, about 8 minutes in all on 2 cores).
fuzz: $(STAMP) ## fuzz every operation of /openapi.json at length (FUZZ_EXAMPLES, FUZZ_SECONDS)
	ASSET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ASSET_FUZZ_SECONDS=$(FUZZ_SECONDS) \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/api/test_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and ruff format --check, without the tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmark's references (FastAPI, uvicorn): re-installed only when pyproject.toml changes.
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

# tests/crash_harness.py: the real server SIGKILLed at seeded moments amid CRASH_OPS uploads, tus
# uploads, new versions and edits from 3 clients, restarted, cut tus uploads finished, cleaned
# once and checked after every kill (acknowledged changes there with their sha256, one upload at
# most one asset, nothing half-written, no temp/orphan blob),
# CRASH_RUNS times with consecutive seeds (--seed N replays one) on each of CRASH_STORES (s3: a
# moto_server started for the run). About 5 minutes; `make test` runs shorter plans (40 and 20).
crash: $(STAMP) ## SIGKILL the server amid uploads, tus uploads, versions and edits (CRASH_OPS, CRASH_RUNS, CRASH_STORES, CRASH_ARGS)
	@for store in $(CRASH_STORES); do \
		$(BIN)/python tests/crash_harness.py --blob-store $$store --ops $(CRASH_OPS) \
			--runs $(CRASH_RUNS) --json bench/results/crash-$$store.json $(CRASH_ARGS) || exit 1; \
	done

# bench/run.py: the service next to nginx (installed with apt-get when missing and root) and
# FastAPI + uvicorn on 127.0.0.1, every figure the median of 5 runs (QUICK=1: 3 runs, smaller
# files, under two minutes); prints ratios against the targets, writes bench/results/*.json and,
# on a full run, the results block of BENCHMARKS.md. Not part of `make test`.
bench: $(STAMP) $(BENCH_STAMP) media-tools vips-tools ## benchmarks vs nginx and FastAPI (QUICK=1: <2 min; BENCH_ARGS=...)
	$(BIN)/python -m bench $(if $(QUICK),--quick) $(BENCH_ARGS)
	$(BIN)/python -m bench.previews $(if $(QUICK),--quick)
	$(BIN)/python -m bench.graphql_vs_rest $(if $(QUICK),--quick)
	$(BIN)/python -m bench.workers $(if $(QUICK),--quick)

# bench/previews.py compares the thumbnail renderer with libvips' vipsthumbnail: Debian's
# libvips-tools, installed when missing and root (otherwise that reference is skipped).
vips-tools:
	@command -v vipsthumbnail >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			libvips-tools >/dev/null 2>&1; } || echo "vipsthumbnail missing: that reference is skipped"

# bench/load.py: the real server on a free 127.0.0.1 port, 64 client threads for 60 s (QUICK=1:
# 8 for 10 s) mixing uploads, ranged downloads, searches and edits, every loop bounded in count
# and time; prints errors, req/s, p50/p99 per kind and the server's RSS over time, writes
# bench/results/load.json and fails on any error or an unbounded RSS (after the warm-up).
# `make test` runs 16 clients for 8 s (tests/test_load_quick.py).
load: $(STAMP) ## mixed load: 64 clients for 60 s on loopback (QUICK=1: 8 for 10 s; BENCH_ARGS=...)
	$(BIN)/python -m bench.load $(if $(QUICK),--quick) $(BENCH_ARGS)

clean: ## remove caches and build artefacts (keeps .venv and ./data)
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info

distclean: clean ## also remove .venv and ./data (the stored assets and the dev JWT secret)
	rm -rf $(VENV) data
