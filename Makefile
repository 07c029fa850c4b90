# FieldSync. The two commands a newcomer needs:
#   make demo   runs the product on its embedded defaults
#   make test   runs every test
# Both install what they need first (scripts/setup).

SHELL := /bin/bash
export PATH := $(HOME)/.local/go$(shell awk '/^go /{print $$2; exit}' go.mod)/bin:/usr/local/go/bin:$(PATH)
export LANG := en_US.UTF-8

FUZZTIME ?= 10s
GO_FILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: demo test setup check unit fuzz bench server

demo: setup
	go run ./server/cmd/fieldsyncd demo

# test: formatting, vet, every unit and end-to-end test under the race
# detector, each fuzz target for $(FUZZTIME), and one pass of each benchmark.
test: setup check unit fuzz bench

setup:
	@scripts/setup

check:
	@bad=$$(gofmt -l $(GO_FILES)); if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	go vet ./...

unit:
	go test -race -count=1 -timeout 20m ./...

fuzz:
	go test -run '^$$' -fuzz '^FuzzParseRules$$' -fuzztime $(FUZZTIME) ./contract
	go test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./contract
	go test -run '^$$' -fuzz '^FuzzPush$$' -fuzztime $(FUZZTIME) ./server

bench:
	go test -run '^$$' -bench . -benchtime 1x ./...

# The figures in the README come from these.
figures:
	go test -run '^$$' -bench BenchmarkPush -benchtime 3x -count 5 ./server

server:
	go build -o fieldsyncd ./server/cmd/fieldsyncd
