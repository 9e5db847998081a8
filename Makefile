# rackwall — build, test and run the appliance.
#
#   make run         build the qemu-amd64 image, boot it in qemu on a small rack lab
#   make test        every test: unit, fuzz seeds, rack lab, qemu and browser
#   make test-short  the same without the qemu and browser tests (go test -short)
#   make race        the unit tests of dataplane, appliance and webui under -race
#
# Both install the Debian packages they need when run as root, and name the
# missing ones otherwise.

GO      ?= go
BOARD   ?= qemu-amd64
VERSION ?= 1
OUT     ?= out
# Update signing key (private; never committed). `make keys` makes a
# development pair; images trust its public half.
KEY     ?= keys/dev.key
PUBKEY   = $(basename $(KEY)).pub
export CGO_ENABLED = 0

PROGRAMS = ./dataplane/cmd/rackwall-dataplane ./appliance/cmd/rackwall ./appliance/cmd/rackwall-update

.PHONY: build test test-short race unit check bench lab-up lab-down image run generate keys bundle

build:
	$(GO) build ./...
	mkdir -p bin
	$(GO) build -trimpath -o bin/ $(PROGRAMS)

# The whole suite. Lab, qemu and browser tests need root; without it they
# skip with a one-line reason.
test: check
	@if [ "$$(id -u)" -eq 0 ]; then scripts/host-deps.sh test; \
	 else echo "not root: lab, qemu and browser tests will skip"; fi
	$(GO) test -count=1 -timeout 30m ./...

# Everything but the qemu and browser tests (they skip under -short): the
# unit tests and the rack lab, in a few minutes.
test-short: check
	@if [ "$$(id -u)" -eq 0 ]; then scripts/host-deps.sh lab image; \
	 else echo "not root: lab tests will skip"; fi
	$(GO) test -count=1 -short -timeout 15m ./...

# The race detector needs cgo; only this target turns it on (the image and
# every other build stay CGO_ENABLED=0).
RACE_PACKAGES = ./dataplane/... ./appliance/... ./webui/...
race:
	@if [ "$$(id -u)" -eq 0 ]; then scripts/host-deps.sh race; fi
	CGO_ENABLED=1 $(GO) test -count=1 -race -timeout 20m $(RACE_PACKAGES)

# Unit tests only (no root needed).
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /tests)

check:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

generate:
	cd webui && $(GO) tool templ generate

bench:
	@scripts/host-deps.sh lab bench
	$(GO) test -run '^$$' -bench . -benchmem ./dataplane/...
	$(GO) run ./tests/bench

lab-up:
	@scripts/host-deps.sh lab
	mkdir -p $(OUT)
	$(GO) run ./tests/lab/cmd/rackwall-lab up --box dataplane --state $(OUT)/lab.state

lab-down:
	$(GO) run ./tests/lab/cmd/rackwall-lab down --state $(OUT)/lab.state

keys: $(KEY)

$(KEY):
	mkdir -p $(dir $(KEY))
	$(GO) run ./image/cmd/rackwall-bundle keygen --out $(basename $(KEY))

image: $(KEY)
	@scripts/host-deps.sh image
	$(GO) run ./image/cmd/rackwall-image --board $(BOARD) --version $(VERSION) --pubkey $(PUBKEY) --out $(OUT)/$(BOARD).img

bundle: $(KEY)
	$(GO) run ./image/cmd/rackwall-bundle --board $(BOARD) --version $(VERSION) --key $(KEY) --out $(OUT)/$(BOARD)-$(VERSION).bundle

run: $(KEY)
	@scripts/host-deps.sh lab image run
	$(GO) run ./image/cmd/rackwall-run --board qemu-amd64 --version $(VERSION) --pubkey $(PUBKEY) --out $(OUT)
