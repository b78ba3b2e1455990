# OptiBid Identity. `make help` lists the targets.
GO       ?= go
BIN      := bin/optibid-idp
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CONFIG   ?= configs/dev.yaml
PKGS     := ./...

.PHONY: help run test bench bench-smoke lint chart image fmt build migrate screenshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-8s %s\n", $$1, $$2}'

run: ## start the provider on the embedded default (memory store, demo data)
	$(GO) run ./cmd/optibid-idp serve --config $(CONFIG)

TESTFLAGS ?=

test: ## run every test, the PostgreSQL and browser ones included (TESTFLAGS=-race: CI's run)
	$(GO) test -count=1 -timeout 30m $(TESTFLAGS) $(PKGS)

bench: ## Go benchmarks and the loopback load generator (figures: docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./provider ./login ./login/password ./apiauth
	$(GO) run ./cmd/loadgen -bare

bench-smoke: ## every benchmark once and a 1 s load per scenario (CI: keeps make bench working)
	$(GO) test -run '^$$' -bench . -benchtime 1x ./provider ./login ./login/password ./apiauth
	$(GO) run ./cmd/loadgen -store memory,postgres -duration 1s -strict

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: ## go vet, gofmt, staticcheck (staticcheck.conf) and the layer rule (internal/layers)
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) test -count=1 ./internal/layers

chart: ## helm lint and helm template of deploy/helm (installs helm with go install when missing)
	deploy/lint.sh

image: ## build the container image (needs a Docker daemon)
	docker build --build-arg VERSION=$(VERSION) -t optibid-idp:$(VERSION) .

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

build: ## build bin/optibid-idp
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/optibid-idp

migrate: ## apply PostgreSQL migrations (CONFIG=file with storage.type postgres)
	$(GO) run ./cmd/optibid-idp migrate up --config $(CONFIG)

screenshots: ## refresh docs/screenshots from the browser journeys (needs chromium)
	OPTIBID_SCREENSHOTS=docs/screenshots $(GO) test -count=1 -run 'TestBrowserJourney|TestBrowserPasskey|TestBrowserLanguagesAndBranding' ./login
	OPTIBID_SCREENSHOTS=docs/screenshots $(GO) test -count=1 -run 'TestConsoleJourney/memory' ./manage/console

clean: ## remove build output
	rm -rf bin coverage.out
