# haul: `make demo` builds haul and shows it pulling from a local registry;
# `make test` runs every test CI runs.
GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git describe --always --dirty --abbrev=40 --match=no-tag-is-named-so 2>/dev/null)
LDFLAGS   := -X github.com/haul-dev/haul/internal/cli.Version=$(VERSION) -X github.com/haul-dev/haul/internal/cli.Commit=$(COMMIT)
FUZZTIME  ?= 10000x
STATICCHECK_VERSION := v0.8.2
# haul is built static (no cgo: Go's own DNS resolver and user lookup), so the
# binary runs on any Linux, and starts without the dynamic loader: about 1.3 ms
# of every run on this machine, a twentieth of a small pull (bench/results/history.md).
BUILDENV  := CGO_ENABLED=0

.PHONY: build install demo test deps lint cross unit fuzz e2e release clean

# The systems haul is built for. Linux's are tested in full; the others are
# vetted and built by lint, and tested in part by cross (README, Platforms).
RELEASE_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
CROSS_TARGETS   := darwin/arm64 darwin/amd64 windows/amd64 linux/arm64

build:
	$(BUILDENV) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/haul ./cmd/haul

install:
	$(BUILDENV) $(GO) install -trimpath -ldflags "$(LDFLAGS)" ./cmd/haul

demo: build
	$(GO) build -o $(BIN)/haul-devregistry ./tools/devregistry
	./scripts/demo.sh $(BIN)/haul $(BIN)/haul-devregistry

test: deps lint cross unit fuzz e2e

# The Debian packages the tests need: as root, installed if missing;
# otherwise a stop, with the command that installs them.
deps:
	./scripts/deps.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	GOBIN=$(abspath $(BIN)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(BIN)/staticcheck ./...
	@set -e; for t in $(CROSS_TARGETS); do \
	  echo "vet, staticcheck and build for $$t"; \
	  GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...; \
	  GOOS=$${t%/*} GOARCH=$${t#*/} $(BIN)/staticcheck ./...; \
	  GOOS=$${t%/*} GOARCH=$${t#*/} $(BUILDENV) $(GO) build -o /dev/null ./cmd/haul; \
	done

# Tests built for windows/amd64 run under Wine, and for linux/arm64 under
# qemu-aarch64-static: scripts/cross.sh says which, and what Wine 8 needs.
cross:
	./scripts/cross.sh

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target runs briefly on top of its seeds (which `unit` runs too). The budget
# is a count of executions, not a duration: with a duration, Go 1.26's fuzz coordinator
# can fail a clean run with "context deadline exceeded" on a busy machine (go.dev/issue/75804).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/haul-fuzz.log 2>&1 || { cat /tmp/haul-fuzz.log; exit 1; }; \
	  done; \
	done

# test/e2e-engine.sh starts dockerd (with its containerd) and podman's service
# itself: haul's tars and pull --load against real engines (README, Tests).
e2e:
	./test/e2e.sh
	./test/e2e-engine.sh

# Static binaries for every system, and their checksums, in dist/ (nothing is uploaded).
release:
	rm -rf dist && mkdir -p dist
	@set -e; for t in $(RELEASE_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; if [ $$os = windows ]; then ext=.exe; fi; \
	  out=dist/haul-$(VERSION)-$$os-$$arch$$ext; echo "$$out"; \
	  GOOS=$$os GOARCH=$$arch $(BUILDENV) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$out ./cmd/haul; \
	done
	cd dist && sha256sum haul-* > SHA256SUMS

clean:
	rm -rf $(BIN) dist
