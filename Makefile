# shadowcast — build, test and run. `make help` lists the targets.
GO       ?= go
TOOLS    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/shadowcast/tools
VERSION  ?= $(shell cat VERSION 2>/dev/null || echo 0.1.0)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS  := -X github.com/prometheus/common/version.Version=$(VERSION) \
            -X github.com/prometheus/common/version.Revision=$(REVISION) \
            -X github.com/prometheus/common/version.Branch=main
DATA     ?= ../shared/data
export TOOLS

.PHONY: all help build run test test-go test-rules test-deploy tools lint fmt check-metrics bench backtest-m4 clean

all: lint build test

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/shadowcast
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/shadowcast ./cmd/shadowcast

run: build ## run on the embedded default (no external service) on 127.0.0.1:9799
	./bin/shadowcast --storage.path=data/

tools: ## install the real components the tests use (cached in $(TOOLS))
	bash -c '. scripts/components.sh && install_prometheus && install_alertmanager && install_kube && install_grpcurl'

test: ## the whole test suite: lint, unit + integration tests against real components, rules, manifests
	bash scripts/test.sh

test-go: ## go tests only (integration tests skip when components are missing)
	$(GO) test -race -timeout 20m ./...

test-rules: ## promtool check + test of rules/
	bash scripts/test-rules.sh

test-deploy: ## server-side dry-run of deploy/ against a real kube-apiserver
	bash scripts/test-deploy.sh

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

bench: ## benchmarks (exposition, prediction, training, webhook, scaler)
	$(GO) test -run '^$$' -bench . -benchmem ./...

backtest-m4: build ## M4 Hourly backtest, official scoring, every method of the README table (about 5 min on 2 cores)
	./bin/shadowcast backtest m4 --data $(DATA)/m4 --methods seasonal_naive,holt_winters,lstm,gbm,hybrid

clean:
	rm -rf bin/
