# fracture: the two commands a newcomer needs (see README):
#   make demo   install what is missing, build, generate the synthetic set, validate it, run the classification study and train/test YOLOv8n
#   make test   install what is missing, build, run every test (ctest)
BUILD ?= build
# make sanitize: AddressSanitizer with LeakSanitizer, every finding fatal
ASAN_OPTIONS_SUITE ?= detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0
# make tsan: ThreadSanitizer on the multi-threaded parts; every report fatal
TSAN_OPTIONS_SUITE ?= halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$(CURDIR)/tests/tsan.supp
TSAN_TARGETS = fracture serve_client loader_test classify_engine_test detect_engine_test distributed_test
TSAN_TESTS = ^(Loader|LoaderTest|LoaderOrder|RectBatches|Classify|ComputeThreads|DetectEngine|Distributed)|^cli_(classify|detect|ddp|ddp_detect|cv_shards|serve)$$
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# ccache works across precompiled headers only with these sloppiness settings.
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime
# Paths under the checkout are hashed relative to it, so clones in other folders share the cache.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all deps configure build test demo bench sanitize tsan fuzz clean

all: build

deps:
	@bash scripts/install_deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	@bash scripts/install_deps.sh --test
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

demo: configure
	cmake --build $(BUILD) -j $(JOBS) --target fracture   # the demo needs the binary, not the tests and benchmarks
	bash scripts/demo.sh $(BUILD)

bench: build
	bash scripts/bench.sh $(BUILD)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (docs/reliability.md).
sanitize: deps
	@bash scripts/install_deps.sh --test
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRACTURE_SANITIZE=ON -DFRACTURE_BUILD_BENCH=OFF > /dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=$(ASAN_OPTIONS_SUITE) UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 2700

# The loader, training loops, distributed ranks and the service under ThreadSanitizer in build-tsan/
# (docs/reliability.md): only the binaries and tests of the multi-threaded parts. On one CPU
# (taskset), so that OpenMP runs one thread: libgomp is not built with TSan and its fork and barriers
# are invisible to it, so every parallel region would be reported; our own threads still interleave.
tsan: deps
	@bash scripts/install_deps.sh --test
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRACTURE_TSAN=ON -DFRACTURE_BUILD_BENCH=OFF > /dev/null
	cmake --build build-tsan -j $(JOBS) --target $(TSAN_TARGETS)
	cd build-tsan && TSAN_OPTIONS=$(TSAN_OPTIONS_SUITE) taskset -c 0 ctest --output-on-failure -j $(JOBS) --timeout 2700 -R '$(TSAN_TESTS)'

# libFuzzer targets (clang) in build-fuzz/, each run until RUNS executions or SECONDS_PER_TARGET (docs/reliability.md).
fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf $(BUILD)
