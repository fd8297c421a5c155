# Imprint. `make run` starts the server; `make test` runs every check.

GO        ?= go
TAGS      := nobadger,nobbolt,nomysql
GOFLAGS_B := -tags $(TAGS)
BIN       := bin/imprint
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: all build run test vet fmt-check bench fuzz clean

all: build

build:
	$(GO) build $(GOFLAGS_B) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imprint

# Starts Imprint on 127.0.0.1:8080. With no IMPRINT_DATABASE_URL it runs a
# private PostgreSQL in ./data, creates the CA and prints the first admin token.
run: build
	$(BIN) serve

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(GOFLAGS_B) ./...

# Real PostgreSQL: IMPRINT_TEST_DATABASE_URL when set, otherwise a private
# server each test binary starts from the machine's PostgreSQL binaries.
# Tests that own a database run in parallel; TEST_PARALLEL bounds them per
# package, so that the connections they open (a pool and listeners each) stay
# well under PostgreSQL's max_connections (100 by default) on any machine.
TEST_PARALLEL ?= 2

test: fmt-check vet
	$(GO) test $(GOFLAGS_B) -race -count=1 -parallel $(TEST_PARALLEL) -timeout 8m ./...

BENCH_COUNT ?= 20000

# Go benchmarks, then the load generator against a fresh server on a private
# PostgreSQL: one CSR per request at 16 clients, and batches of 500.
bench: build
	$(GO) test $(GOFLAGS_B) -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out
	@set -e; dir=$$(mktemp -d); chmod 711 $$dir; \
	$(BIN) serve --data-dir $$dir/data --listen 127.0.0.1:18181 --log-level warn >$$dir/serve.log 2>&1 & pid=$$!; \
	trap 'kill $$pid; wait $$pid; c=$$(cat $$dir/data/postgres/cluster-dir 2>/dev/null) && rm -rf "$${c%/cluster}"; rm -rf $$dir' EXIT; \
	for i in $$(seq 1 300); do curl -fs http://127.0.0.1:18181/readyz >/dev/null 2>&1 && break; sleep 0.2; done; \
	token=$$(cat $$dir/data/admin-token); \
	$(BIN) bench issue --api http://127.0.0.1:18181 --token $$token --count $(BENCH_COUNT) --concurrency 16; \
	$(BIN) bench issue --api http://127.0.0.1:18181 --token $$token --count $(BENCH_COUNT) --concurrency 4 --batch 500; \
	echo "server RSS: $$(ps -o rss= -p $$pid) KiB"

fuzz:
	$(GO) test $(GOFLAGS_B) -run '^$$' -fuzz FuzzParseCSR -fuzztime 30s ./ca
	$(GO) test $(GOFLAGS_B) -run '^$$' -fuzz FuzzTemplate -fuzztime 30s ./templates
	$(GO) test $(GOFLAGS_B) -run '^$$' -fuzz FuzzPolicy -fuzztime 30s ./policy

clean:
	rm -rf bin bench.out
