# Zhengyin — the two set-up commands of the README, and a few more for development.
#
#   make run    install into .venv and start the service on its embedded defaults
#   make test   install the test tools and backends, then run the whole suite
#   make lock   refresh requirements/*.txt (exact versions with hashes), gated by the suite
#
# Both assume Debian 12 with Python 3.11; `make test` installs Debian packages with
# apt-get when it runs as root.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEB_TEST_PACKAGES = poppler-utils qpdf softhsm2 opensc openssl libnss3-tools \
                    fonts-wqy-microhei fonts-noto-cjk chromium postgresql-client
DEB_RUN_PACKAGES  = python3-venv fonts-wqy-microhei fonts-noto-cjk

.PHONY: run test lint check deb-run deb-test install install-test bench lock clean

# Every install takes exact versions with hashes from the locks (make lock refreshes them).
RUN_LOCK  ?= requirements/run.txt
TEST_LOCK ?= requirements/test.txt

run: install
	$(BIN)/zhengyin db upgrade
	$(BIN)/zhengyin serve

test: install-test
	ZHENGYIN_REQUIRE_BACKENDS=1 $(BIN)/pytest -q

lint: install-test
	$(BIN)/ruff check core keys trust signing registry api tests bench
	$(BIN)/mypy

check: lint test

install: deb-run $(VENV)/.installed

install-test: deb-test $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml $(RUN_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(RUN_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(TEST_LOCK) $(VENV)/.installed
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	touch $@

# Debian packages: installed only when missing, and only when we are root.
deb-run:
	@./docker/ensure-debian-packages $(DEB_RUN_PACKAGES)

deb-test:
	@./docker/ensure-debian-packages $(DEB_RUN_PACKAGES) $(DEB_TEST_PACKAGES)

bench: install-test
	$(BIN)/python -m bench.run_all --quick

# Resolve the newest releases pyproject.toml admits; the whole suite is the gate.
lock:
	PYTHON=$(PYTHON) ./requirements/refresh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
