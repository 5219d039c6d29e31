# fracture: the two commands a newcomer needs (see README):
#   make demo   install what is missing, build, generate the synthetic set, validate it, run the classification study and train/test YOLOv8n
#   make test   install what is missing, build, run every test (ctest)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# ccache works across precompiled headers only with these sloppiness settings.
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime
# Paths under the checkout are hashed relative to it, so clones in other folders share the cache.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all deps configure build test demo bench clean

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

clean:
	rm -rf $(BUILD)
