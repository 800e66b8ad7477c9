# SPDX-License-Identifier: BSD-3-Clause
# Entry points: `make run` and `make test`. Meson + Ninja do the building.
BUILD      ?= build
ASAN_BUILD ?= build-asan
RPC_SOCK   ?= /var/tmp/spur.sock
VHOST_DIR  ?= /var/tmp

.PHONY: all deps build asan run test clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	@meson setup $(BUILD) >/dev/null

$(ASAN_BUILD)/build.ninja:
	@meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=undefined >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

asan: deps $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) >/dev/null || ninja -C $(ASAN_BUILD)

run: build
	exec $(BUILD)/bin/spur --default-config -r $(RPC_SOCK) -S $(VHOST_DIR)

test: build asan
	@scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
