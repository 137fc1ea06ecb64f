# armap: Go binary + libtorch backend.
#   make deps   install system packages (Debian) and Go modules
#   make build  build/libarmap_cpu.so and bin/armap
#   make test   build, run the fused kernels' check (build/add_norm_test cpu, also with the CUDA
#               build's fallbacks), then every Go test
#               against the CPU backend
#   make demo   the main job: synthesize, train, plan, evaluate (runs/demo/)
SHELL := /bin/bash
GO ?= go
CXX ?= g++
JOBS ?= 2
TORCH_INC ?= /usr/include
TORCH_LIB ?= /usr/lib/x86_64-linux-gnu
CXXFLAGS ?= -O2 -g0
ARMAP_CXXFLAGS := -std=c++17 -fPIC -fvisibility=hidden -fopenmp-simd -D_GLIBCXX_USE_CXX11_ABI=1 -Wall -Wno-unused-parameter \
	-Ikernels/include -I$(TORCH_INC) -I$(TORCH_INC)/torch/csrc/api/include
# --no-as-needed: the backend calls into libtorch only through symbols the linker cannot see as
# used at link time (dispatcher registrations), so without it libtorch is dropped.
ARMAP_LDFLAGS := -shared -L$(TORCH_LIB) -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed

KERNEL_SRCS := $(wildcard kernels/src/*.cpp)
KERNEL_OBJS := $(patsubst kernels/src/%.cpp,build/cpu/%.o,$(KERNEL_SRCS))
KERNEL_HDRS := kernels/include/armap.h kernels/src/internal.h kernels/src/add_norm.h
# configs/ is embedded in the binary and cgo includes the ABI header: both rebuild bin/armap.
GO_SRCS := $(shell find cmd engine cgo pipeline -name '*.go' -not -name '*_test.go' 2>/dev/null) \
	$(wildcard configs/*.yaml configs/models/*.yaml) kernels/include/armap.h cgo/shim.h go.mod go.sum

APT_PACKAGES := g++ make libtorch-dev libopenblas0-openmp libgloo-dev
DEMO_OUT ?= runs/demo

.PHONY: all deps build backend armap test test-go kernel-test bench demo clean cuda vet lint

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(GO) mod download

build: backend armap

backend: build/libarmap_cpu.so

build/cpu/%.o: kernels/src/%.cpp $(KERNEL_HDRS)
	@mkdir -p build/cpu
	$(CXX) $(CXXFLAGS) $(ARMAP_CXXFLAGS) -c $< -o $@

build/libarmap_cpu.so: $(KERNEL_OBJS)
	$(CXX) -o $@ $^ $(ARMAP_LDFLAGS)

# The fused kernels' own check against ATen's autograd (kernels/test), linked from the backend's objects.
build/add_norm_test: kernels/test/add_norm_test.cpp $(KERNEL_OBJS) $(KERNEL_HDRS)
	$(CXX) $(CXXFLAGS) $(ARMAP_CXXFLAGS) -o $@ $< $(KERNEL_OBJS) -L$(TORCH_LIB) -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed

# The same check with kernels/fallback/linear_cpp.cpp in place of linear.cpp, and the other
# fallbacks compiled: scripts/build_cuda.sh links them into a CUDA backend when a source fails
# there, so they must keep building and agreeing with ATen here.
FALLBACK_OBJS := $(filter-out build/cpu/linear.o,$(KERNEL_OBJS)) build/fallback/linear_cpp.o
build/fallback/%.o: kernels/fallback/%.cpp $(KERNEL_HDRS)
	@mkdir -p build/fallback
	$(CXX) $(CXXFLAGS) $(ARMAP_CXXFLAGS) -c $< -o $@

build/add_norm_test_fallback: kernels/test/add_norm_test.cpp $(FALLBACK_OBJS) $(KERNEL_HDRS)
	$(CXX) $(CXXFLAGS) $(ARMAP_CXXFLAGS) -o $@ $< $(FALLBACK_OBJS) -L$(TORCH_LIB) -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed

kernel-test: build/add_norm_test build/add_norm_test_fallback
	build/add_norm_test cpu
	build/add_norm_test_fallback cpu
	for f in $(filter-out kernels/fallback/linear_cpp.cpp,$(wildcard kernels/fallback/*.cpp)); do \
		$(CXX) $(ARMAP_CXXFLAGS) -fsyntax-only $$f || exit 1; done

armap: bin/armap

bin/armap: $(GO_SRCS)
	@mkdir -p bin
	$(GO) build -ldflags "-X main.buildCommit=$$(git rev-parse --short HEAD 2>/dev/null)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty)" -o bin/armap ./cmd/armap

cuda:
	scripts/build_cuda.sh

vet:
	$(GO) vet ./...

# vet plus staticcheck, at a pinned version fetched through the module proxy (not part of test).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	$(GO) run $(STATICCHECK) ./...

# The backend is built with -j$(JOBS) (each libtorch file takes ~1.2 GB and ~25 s to compile).
test: deps
	$(MAKE) -j$(JOBS) backend
	$(MAKE) armap
	$(MAKE) kernel-test
	$(MAKE) test-go

# With the race detector: serving, synthesis, planning and the trainer's loader are concurrent,
# and a race there would otherwise show only as a rare wrong answer (about 2 min here).
test-go:
	ARMAP_BACKEND=$(CURDIR)/build/libarmap_cpu.so $(GO) test -race -count=1 -timeout 45m ./...

bench: build
	ARMAP_BACKEND=$(CURDIR)/build/libarmap_cpu.so $(GO) test -run '^$$' -bench . -benchtime 3x ./engine/... ./cgo/...
	bin/armap bench train --model tiny
	@# bert-mini against the CPU peer in the same run, when shared/ is beside the checkout
	if [ -f ../shared/bench/cpu_peer.py ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then \
		bin/armap bench train --peer ../shared/bench/cpu_peer.py; else bin/armap bench train; fi

demo: deps
	$(MAKE) -j$(JOBS) backend
	$(MAKE) armap
	scripts/demo.sh $(DEMO_OUT)

clean:
	rm -rf build bin
