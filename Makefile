# ctrd: the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
DEMO_BUNDLE ?= /var/lib/ctrd/bundles/busybox
LISTEN ?= --listen unix:///run/ctrd/ctrd.sock --listen tcp://127.0.0.1:8888
TEST_THREADS ?= 4

.PHONY: all deps build release bundle run test unit criu-test integration fmt lint clean

all: build

deps:
	bash scripts/install-deps.sh
	bash scripts/install-criu.sh

build:
	$(CARGO) build --workspace --locked

release:
	$(CARGO) build --workspace --release --locked

bundle:
	bash scripts/make-bundle.sh $(DEMO_BUNDLE)

# Installs what is missing, builds, prepares the demo bundle and runs ctrd in the foreground.
run: deps release bundle
	./target/release/ctrd $(LISTEN)

unit:
	$(CARGO) test --workspace --locked --lib --bins

# The CRIU client against the real criu (root; skips loudly otherwise).
criu-test:
	$(CARGO) test -p criu --locked

# Integration tests start the real ctrd binary; they need root (they skip loudly otherwise).
integration: build
	CTRD_BIN=$(CURDIR)/target/debug/ctrd $(CARGO) test -p ctrd-tests --tests --locked -- --test-threads=$(TEST_THREADS)

test: deps unit criu-test integration

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
