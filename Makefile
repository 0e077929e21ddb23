# transfix: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CACHE ?= $(HOME)/.cache/transfix
export TRANSFIX_CACHE := $(CACHE)
# Debian's CMake: a pip-installed CMake 4 may come first on PATH, and it refuses the package config files
# of Debian's libraries that ask for a minimum below 3.5.
CMAKE ?= $(shell test -x /usr/bin/cmake && echo /usr/bin/cmake || echo cmake)
export CTEST := $(if $(findstring /,$(CMAKE)),$(dir $(CMAKE))ctest,ctest)
# Warnings are errors here and in CI (WERROR=OFF for another compiler's new warnings).
WERROR ?= ON
# A failed compile must fail the build even though its output goes through a filter.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all deps build test test-asan fuzz demo bench bench-diagnosis bench-diagnosis-tflite fixtures zoo clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	@$(CMAKE) -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRANSFIX_WERROR=$(WERROR) >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) -j $(JOBS) | { grep -v "^\[" || true; }
	@test -x $(BUILD)/transfix

# Unit tests, ONNX conformance, CLI and bad-input tests, fixture checks (fixtures are generated
# into $(CACHE) on first use).
test: build
	@scripts/test.sh $(BUILD)

test-asan: deps
	@$(CMAKE) -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRANSFIX_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_BUILD) -j $(JOBS) | { grep -v "^\[" || true; }
	@# A sanitizer report exits 86, so no test that expects exit 1 or 2 can mistake it for a finding.
	@ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:exitcode=86:print_stacktrace=1 \
	  TRANSFIX_SKIP_SLOW=1 scripts/test.sh $(ASAN_BUILD)

# libFuzzer targets of every reader (clang-14, ASan + UBSan) built in build-fuzz, each run FUZZ_SECONDS
# one after the other; fails when one finds a crash, hang or out-of-memory (docs/fuzzing.md).
FUZZ_SECONDS ?= 60
fuzz: deps
	@CMAKE=$(CMAKE) JOBS=$(JOBS) tools/fuzz/run.sh $(FUZZ_SECONDS)

fixtures: deps
	@scripts/fixtures.sh

demo: build
	@scripts/demo.sh $(BUILD)

bench: build fixtures
	@scripts/bench.sh $(BUILD)

bench-diagnosis: build fixtures
	@$(BUILD)/bench/bench_diagnosis $${TRANSFIX_CACHE:-$$HOME/.cache/transfix}/fixtures docs/diagnosis.md

# The same on TFLite targets: each fixture converted by transfix to .tflite, then mutated.
bench-diagnosis-tflite: build fixtures
	@$(BUILD)/bench/bench_diagnosis $${TRANSFIX_CACHE:-$$HOME/.cache/transfix}/fixtures docs/diagnosis_tflite.md --target tflite

# The corpus of real conversions, judged by the deployment runtimes (docs/zoo.md). Resumable; hours.
zoo: build fixtures
	@scripts/zoo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
