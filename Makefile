# The two commands: `make dev` runs mcpgate locally with a demo configuration;
# `make test` runs the whole test suite. Both install what they need first.
.PHONY: dev test bench setup build
PORT ?= 8787

dev:
	@PORT=$(PORT) bash .ci/dev

test:
	@bash .ci/test

bench:
	@bash .ci/bench

setup:
	@bash .ci/setup

build: setup
	@bash .ci/build
