# Quick start: `make run` (serve the embedded default) and `make test` (the whole suite).
# The interpreter of .venv: the system's /usr/bin/python3 where it is 3.11 or newer and can make
# a venv (Debian's, built with profile-guided and link-time optimisation, the interpreter linked
# statically: 6 % less CPU per letter under bench.cpu_parts than pyenv's default build, README,
# Performance), else the first python3 on PATH. `make PYTHON=...` chooses another.
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do \
	$$p -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { echo $$p; exit; }; done; echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean messages

# The gateway's modules are compiled once here (pip compiles the dependencies, not an editable
# package): each process of the gateway (main, SMTP, certificate forkserver) would otherwise
# compile them at every start where PYTHONDONTWRITEBYTECODE is set (~0.4 s each).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q -j 0 gateway > /dev/null
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lre-gateway init
	$(BIN)/lre-gateway demo
	$(BIN)/lre-gateway serve

# three workers (pytest-xdist) on two cores, a test module per worker at a time: the suite waits
# on servers and subprocesses a quarter of its time (on one machine two workers kept the cores
# 70 % busy: 10.5 minutes, three 9.6; README, Tests); PYTEST_ARGS="-p no:xdist" runs it in one
# process
PYTEST_ARGS ?= -n 3 --dist loadfile

# the suite starts hundreds of Python processes (gateways, their SMTP and certificate
# processes, the command line): they keep their compiled modules (__pycache__, ignored by git)
# even where PYTHONDONTWRITEBYTECODE is set, so only the first start compiles
test: $(STAMP) lint
	$(BIN)/lre-gateway init
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy gateway tests bench

# Message keys used in code (gettext/ngettext/text/N_/PageError) and templates (t/tn): extract
# them into gateway/locale/messages.pot, then add new keys to (and drop gone ones from) each
# language's messages.po. New messages arrive with an empty msgstr: fill it in every language
# (tests/unit/test_i18n.py fails until then).
KEYWORDS := --no-default-keywords -k t -k tn:1,1 -k gettext:2 -k ngettext:2,2 -k text:2 -k N_ \
	-k PageError:2 -k Np_:1,1 -k say:2
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg $(KEYWORDS) --sort-output --no-location \
		--project "LRE Gateway" -o gateway/locale/messages.pot .
	$(BIN)/pybabel update -i gateway/locale/messages.pot -d gateway/locale -D messages \
		--no-fuzzy-matching --ignore-obsolete --width 100

# Postfix (the peer measured against, and its smtp-sink), a C compiler and OpenSSL's headers (the
# load generator, bench/loadgen.c): installed by .ci/packages when missing
bench: $(STAMP)
	bash .ci/packages
	$(BIN)/python -m bench.throughput --quick

clean:
	rm -rf $(VENV) var
