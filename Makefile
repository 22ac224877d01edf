# loratool: the two commands a fresh machine needs are `make demo` and `make test`.
# Both install what is missing first (apt-get for the C libraries; a throwaway venv with a pinned
# CPU torch for the interop test).

SWIFT ?= swift
FIXTURE := Tests/Fixtures/moe_tiny
OUT := .build/demo

.PHONY: deps build release install demo test check-install bench fixtures clean fuzz fuzz-ci

deps:
	@scripts/install_deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# A release binary with the Swift runtime and Foundation linked in (--static-swift-stdlib): it needs
# only the Debian libraries (libzip, OpenBLAS, ISA-L), not the Swift toolchain. Also installs shell
# completions (from swift-argument-parser) and the docs, which `loratool --help` points to.
PREFIX ?= /usr/local
STATIC_BIN = "$$($(SWIFT) build -c release --static-swift-stdlib --show-bin-path)/loratool"

install: deps
	$(SWIFT) build -c release --product loratool --static-swift-stdlib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/loratool \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(STATIC_BIN) $(DESTDIR)$(PREFIX)/bin/loratool
	$(STATIC_BIN) --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/loratool
	$(STATIC_BIN) --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_loratool
	$(STATIC_BIN) --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/loratool.fish
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/loratool/

# The main job on a shipped input: inspect a MiniMind checkpoint, list its adapter targets,
# merge its LoRA adapter, and prove the merged model agrees with the adapter-wrapped one.
demo: release
	@mkdir -p $(OUT)
	.build/release/loratool inspect $(FIXTURE)/base.pth
	.build/release/loratool targets $(FIXTURE)/base.pth --rank 8
	.build/release/loratool merge $(FIXTURE)/base.pth $(FIXTURE)/lora.pth -o $(OUT)/merged.safetensors
	.build/release/loratool verify $(FIXTURE)/base.pth $(FIXTURE)/lora.pth --merged $(OUT)/merged.safetensors --config $(FIXTURE)/config.json

# Every test: the Swift suites (with the writer's torch round-trip, the JSON schema check of every
# command and the jq shell pipeline enabled through LORATOOL_PYTHON), then the interop check of
# merge/convert outputs with real torch and safetensors, then the static install check.
VENV_PYTHON = "$$(scripts/ensure_venv.sh | tail -n 1)"

test: deps
	$(SWIFT) build --build-tests
	LORATOOL_PYTHON=$(VENV_PYTHON) $(SWIFT) test --skip-build
	$(VENV_PYTHON) scripts/interop.py "$$($(SWIFT) build --show-bin-path)/loratool"
	$(VENV_PYTHON) scripts/export_interop.py "$$($(SWIFT) build --show-bin-path)/loratool"
	$(VENV_PYTHON) scripts/llama_cpp_check.py --no-build "$$($(SWIFT) build --show-bin-path)/loratool"
	scripts/check_install.sh

# The installed static binary, copied alone, runs with the toolchain's libraries hidden (needs root for unshare).
check-install: deps
	scripts/check_install.sh

# Coverage-guided fuzzing of the parsers (libFuzzer through swiftc -sanitize=fuzzer, docs/fuzzing.md):
# each target runs FUZZ_SECONDS from the seed corpus Fuzz/Corpus/<target>; crashes land in .build/fuzz
# (Swift's backtracer off, or it ends the process on a trap before libFuzzer saves the input).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = unpickler checkpoint safetensors configs tokenizer

fuzz: deps
	Fuzz/build.sh
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p .build/fuzz/corpus-$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    SWIFT_BACKTRACE=enable=no .build/fuzz/$$t .build/fuzz/corpus-$$t Fuzz/Corpus/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix=.build/fuzz/$$t- || exit 1; \
	done

# A bounded pass for CI: five seconds per target (plus the instrumented build).
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=5

# The benchmarks time the binary `make install` ships (Swift runtime and Foundation linked in:
# ~13 ms less start-up than the dynamically linked build, docs/PERFORMANCE.md), on the small,
# 775 MB and 4.6 GB inputs (the last skipped, with a note, where the disk has no 19 GB to spare).
bench: deps
	$(SWIFT) build -c release --product loratool --static-swift-stdlib
	$(VENV_PYTHON) scripts/bench.py $(STATIC_BIN) --big
	$(VENV_PYTHON) scripts/bench_generate.py $(STATIC_BIN)

fixtures:
	$(VENV_PYTHON) scripts/make_fixtures.py
	$(VENV_PYTHON) scripts/make_generate_fixtures.py

clean:
	rm -rf .build $(OUT)
