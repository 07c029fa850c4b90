# FieldSync. The two commands a newcomer needs:
#   make demo   runs the product on its embedded defaults
#   make test   runs every test
# Both install what they need first (scripts/setup).

SHELL := /bin/bash
export PATH := $(HOME)/.local/go$(shell awk '/^go /{print $$2; exit}' go.mod)/bin:/usr/local/go/bin:$(PATH)
export LANG := en_US.UTF-8

FUZZTIME ?= 10s
GO_FILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: demo demo-server demo-cluster sim-instances test test-steps test-pg setup check unit unit-postgres bench-postgres figures-postgres syncbench syncbench-postgres uiheadless crosscheck fuzz bench figures server screenshots

demo: setup
	scripts/demo

# The server alone, with demo data, for trying the protocol with curl.
demo-server: setup
	go run ./server/cmd/fieldsyncd demo

# Two servers sharing PostgreSQL and an S3 store, behind HAProxy, on
# 127.0.0.1: what several instances look like, on one machine. Ctrl-C
# stops it all.
demo-cluster: setup
	scripts/demo-cluster

# test: formatting, vet, every unit and end-to-end test under the race
# detector (the UI's too, on Fyne's headless driver), the phone
# cross-compile check, each fuzz target for $(FUZZTIME), and one pass of
# each benchmark. All of it runs beside one throwaway PostgreSQL cluster
# (scripts/withpg), so PostgreSQL tests run and must pass rather than skip;
# the cluster is stopped and removed at the end, also when a step fails.
# S3 tests must run too: they start versitygw, which setup installs.
# (Even make -n test starts and stops that cluster, as make runs every
# $(MAKE) line; the steps themselves are only printed.)
test: setup
	FIELDSYNC_REQUIRE_S3=1 scripts/withpg $(MAKE) --no-print-directory test-steps

test-steps: check unit unit-postgres uiheadless crosscheck fuzz bench bench-postgres

# The tests of some packages, PostgreSQL ones included, against a
# throwaway cluster: make test-pg PKGS=./server/...
# (make unit and the others on their own skip PostgreSQL tests.)
PKGS ?= ./...
test-pg: setup
	scripts/withpg go test -race -count=1 $(PKGS)

setup:
	@scripts/setup

check:
	@bad=$$(gofmt -l $(GO_FILES)); if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	go vet ./...

unit:
	go test -race -count=1 -timeout 20m ./...

# The UI's tests need no display and no cgo.
# The server's suite and the end-to-end scenarios again, on PostgreSQL
# (FIELDSYNC_PG_DSN names the cluster; make test starts one).
unit-postgres:
	FIELDSYNC_TEST_STORE=postgres go test -race -count=1 -timeout 20m ./server/ ./app/e2e/

uiheadless:
	CGO_ENABLED=0 go test -count=1 ./ui/...

crosscheck:
	scripts/crosscheck
	scripts/bindcheck

fuzz:
	scripts/fuzz FuzzParseRules ./contract/rulebook $(FUZZTIME)
	scripts/fuzz FuzzDecide ./contract/engine $(FUZZTIME)
	scripts/fuzz FuzzReadRecordHead ./internal/wirejson $(FUZZTIME)
	scripts/fuzz FuzzDecodePushRequest ./internal/wirejson $(FUZZTIME)
	scripts/fuzz FuzzPush ./server $(FUZZTIME)
	scripts/fuzz FuzzPullCursor ./server $(FUZZTIME)
	scripts/fuzz FuzzUploadRanges ./server $(FUZZTIME)

bench:
	go test -run '^$$' -bench . -benchtime 1x ./...

# The figures in the README come from these.
# Push and drain on PostgreSQL, beside its raw insert and COPY rates.
bench-postgres:
	FIELDSYNC_TEST_STORE=postgres go test -run '^$$' -bench 'BenchmarkPush$$|BenchmarkDrain$$' -benchtime 1x ./server ./app

figures:
	go test -run '^$$' -bench 'BenchmarkPush$$' -benchtime 3x -count 5 ./server
	go test -run '^$$' -bench 'BenchmarkPushParallel$$' -benchtime 2x -count 5 ./server
	go test -run '^$$' -bench 'BenchmarkSaveEdit$$' -benchtime 1x -count 3 ./app
	go test -run '^$$' -bench 'BenchmarkDrain$$|BenchmarkPullInto$$' -benchtime 1x -count 5 ./app
	go run ./cmd/fieldsoak --devices 50 --duration 60s

# The PostgreSQL figures in the README: run under scripts/withpg.
figures-postgres:
	FIELDSYNC_TEST_STORE=postgres go test -run '^$$' -bench 'BenchmarkPush$$|BenchmarkPushParallel$$' -benchtime 2x -count 5 ./server
	FIELDSYNC_TEST_STORE=postgres go test -run '^$$' -bench 'BenchmarkDrain$$' -benchtime 1x -count 5 ./app

# The issue's end-to-end figures: fieldsyncd in its own process, devices
# through the app facade, bytes counted on the wire; median of 3 runs.
# syncbench-postgres runs it on PostgreSQL: scripts/withpg make syncbench-postgres.
syncbench: setup
	go run ./cmd/syncbench --runs 3

syncbench-postgres: setup
	@test -n "$$FIELDSYNC_PG_DSN" || { echo "FIELDSYNC_PG_DSN is not set: run scripts/withpg make syncbench-postgres"; exit 1; }
	go run ./cmd/syncbench --runs 3 --db "$$FIELDSYNC_PG_DSN"

# The long multi-instance simulation: 4 seeds of 20 devices and 2,000
# operations each, on 3 server instances sharing a throwaway PostgreSQL
# cluster and an S3 store, with instances crashing and coming back (about
# a minute a seed). make test runs a short one (TestShortRunWithInstances).
SEEDS ?= 4
sim-instances: setup
	FIELDSYNC_REQUIRE_S3=1 scripts/withpg go test -count=1 -timeout 60m -run TestLongRunWithInstances ./internal/sim -args -long -long-seeds $(SEEDS)

server:
	go build -o fieldsyncd ./server/cmd/fieldsyncd

# Screenshots of the real desktop app under Xvfb, into docs/screenshots.
screenshots:
	scripts/setup --screenshots
	scripts/screenshots
