# loratool: the two commands a fresh machine needs are `make demo` and `make test`.
# Both install what is missing first (apt-get for the C libraries; a throwaway venv with a pinned
# CPU torch for the interop test).

SWIFT ?= swift
FIXTURE := Tests/Fixtures/moe_tiny
OUT := .build/demo

.PHONY: deps build release demo test bench fixtures clean

deps:
	@scripts/install_deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The main job on a shipped input: inspect a MiniMind checkpoint, list its adapter targets,
# merge its LoRA adapter, and prove the merged model agrees with the adapter-wrapped one.
demo: release
	@mkdir -p $(OUT)
	.build/release/loratool inspect $(FIXTURE)/base.pth
	.build/release/loratool targets $(FIXTURE)/base.pth --rank 8
	.build/release/loratool merge $(FIXTURE)/base.pth $(FIXTURE)/lora.pth -o $(OUT)/merged.safetensors
	.build/release/loratool verify $(FIXTURE)/base.pth $(FIXTURE)/lora.pth --merged $(OUT)/merged.safetensors --config $(FIXTURE)/config.json

# Every test: the Swift suites (with the writer's torch round-trip enabled through
# LORATOOL_PYTHON), then the interop check of merge/convert outputs with real torch and safetensors.
VENV_PYTHON = "$$(scripts/ensure_venv.sh | tail -n 1)"

test: deps
	$(SWIFT) build --build-tests
	LORATOOL_PYTHON=$(VENV_PYTHON) $(SWIFT) test --skip-build
	$(VENV_PYTHON) scripts/interop.py "$$($(SWIFT) build --show-bin-path)/loratool"
	$(VENV_PYTHON) scripts/export_interop.py "$$($(SWIFT) build --show-bin-path)/loratool"
	$(VENV_PYTHON) scripts/llama_cpp_check.py "$$($(SWIFT) build --show-bin-path)/loratool"

bench: release
	$(VENV_PYTHON) scripts/bench.py .build/release/loratool
	$(VENV_PYTHON) scripts/bench_generate.py .build/release/loratool

fixtures:
	$(VENV_PYTHON) scripts/make_fixtures.py
	$(VENV_PYTHON) scripts/make_generate_fixtures.py

clean:
	rm -rf .build $(OUT)
