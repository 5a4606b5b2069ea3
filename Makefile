# SPDX-License-Identifier: GPL-2.0
# gpusvm: build, lint and test everything in a QEMU VM running the test kernel.
#
#   make check    lint + docs + stock-headers compile check + KUnit and selftests in the VM
#   make check-full   the check suite on the KASAN/UBSAN/KFENCE kernel
#   make demo     boot the VM and show the modules working
#   make bench    vsvm side by side with the kernel's test_hmm, one VM run
#   make profile  where the bench's time goes (ftrace function profiler)
#   make shell    interactive VM shell;  make run CMD='...'  one command in the VM
#   make docs     the documentation (Documentation/), HTML in build/docs/html
#   make deb      Debian packages (DKMS sources, demo, UAPI header and libvsvm)
# Logs: build/logs/. See README.md.

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build
VM := $(TOP)/vm

# Kernel sources of the project, built out of tree with Kbuild.
KMOD_SOURCES := Kbuild include gpusvm vsvm
# Modules packed into the VM (paths inside a kmod build directory).
KMODS := gpusvm/drm_gpusvm.ko gpusvm/drm_pagemap.ko gpusvm/tests/drm_gpusvm_test.ko \
	vsvm/vsvm.ko
# Static user-space programs (user/tests/*.c), built into build/bin.
USER_TESTS := $(patsubst user/tests/%.c,%,$(wildcard user/tests/*.c))
USER_DEMOS := $(patsubst user/demo/%.c,%,$(wildcard user/demo/*.c))
USER_BENCHES := $(patsubst user/bench/%.c,%,$(wildcard user/bench/*.c))
USER_FUZZ := $(patsubst user/fuzz/%.c,%,$(wildcard user/fuzz/*.c))
USER_STRESS := $(patsubst user/stress/%.c,%,$(wildcard user/stress/*.c))
# Calls of the ioctl fuzzer's run (its default; vsvm_fuzz -n overrides it).
FUZZ_CALLS ?= 10000
# The test units make check runs in the VM (see vm/guest/run-tests).
# vsvm's selftest runs once per GPU SVM layout, and once without device
# memory (the configuration of kernels without DEVICE_PRIVATE); the race
# stress (user/stress) after it in each layout; then the ioctl fuzzer
# (user/fuzz) makes FUZZ_CALLS calls.
# The kernel's hmm-tests runs against test_hmm, our peer, and against vsvm's
# dmirror personality, side by side, in each layout (hmm-peer-tests both;
# the summary sums them on its "hmm-tests:" line).
# The teardown tests (memcg charging and OOM, SIGKILL during GPU work) run
# in each layout with device memory; then reload-loop unloads and reloads
# the modules RELOAD_CYCLES times after using every device.
VSVM_CONFIGS := layout=1:1 layout=n:1 layout=1:1,vram_size=0
STRESS_CONFIGS := layout=1:1 layout=n:1
# The xe SVM scenario matrix (vsvm_xe_matrix_test) runs after
# vsvm_test in each layout; the summary counts it on its "matrix:" line.
TEARDOWN_CONFIGS := layout=1:1 layout=n:1
MATRIX_CONFIGS := layout=1:1 layout=n:1
HMM_PEER_CONFIGS := layout=1:1 layout=n:1
# Devices 0 and 1 on one interconnect (peer access to each other's VRAM):
# vsvm_test's peer cases (direct access, VRAM-to-VRAM prefetch, a prefetch
# to VRAM mapped for a peer), in each layout.
PEER_CONFIGS := layout=1:1 layout=n:1
comma := ,
RELOAD_CYCLES ?= 5
VSVM_TESTS := vsvm_test vsvm_dma_bounce_test vsvm_teardown_test vsvm_xe_matrix_test
TESTS ?= kunit:drm_gpusvm_test $(addprefix selftest:,$(filter-out $(VSVM_TESTS),$(USER_TESTS))) \
	$(foreach c,$(VSVM_CONFIGS),load:vsvm,$(c) selftest:vsvm_test \
		$(if $(filter $(c),$(MATRIX_CONFIGS)),selftest:vsvm_xe_matrix_test) \
		$(if $(filter $(c),$(HMM_PEER_CONFIGS)),selftest:hmm-peer-tests$(comma)both) \
		$(if $(filter $(c),$(TEARDOWN_CONFIGS)),selftest:vsvm_teardown_test) \
		$(if $(filter $(c),$(STRESS_CONFIGS)),cmd:vsvm_stress) unload:vsvm) \
	$(foreach c,$(PEER_CONFIGS),load:vsvm,$(c),interconnect=3 \
		selftest:env,VSVM_TEST_ONLY=peer_access_maps_vram_directly:peer_prefetch_migrates_vram_to_vram:prefetch_to_vram_for_peer_devices,vsvm_test \
		unload:vsvm) \
	cmd:reload-loop,$(RELOAD_CYCLES) cmd:bench,--tiny \
	load:vsvm,layout=n:1 cmd:vsvm_fuzz unload:vsvm
# vsvm_stress's duration per run and seed (empty: a new one each run). They
# reach it through the kernel command line: the kernel passes NAME=value
# parameters it does not know to init's environment.
STRESS_SECONDS ?= 30
STRESS_SEED ?=
STRESS_ENV := VSVM_STRESS_SECONDS=$(STRESS_SECONDS)$(if $(STRESS_SEED), VSVM_STRESS_SEED=$(STRESS_SEED))
# A second VM, booted with every DMA bounce-buffered (swiotlb=force): vsvm
# must refuse SVM there. Skipped when TESTS is given on the command line.
ifeq ($(origin TESTS),command line)
BOUNCE_TESTS ?=
else
BOUNCE_TESTS ?= load:vsvm selftest:vsvm_dma_bounce_test unload:vsvm
endif
VM_TIMEOUT ?= 1800
# A third VM boots Debian's own kernel (linux-image-RELEASE of the installed
# linux-headers-amd64, unpacked in the cache, never installed) with the
# modules DKMS built from the gpusvm-dkms package (make deb-check): vsvm's
# selftest and the demo in both layouts without device memory (that kernel
# has no DEVICE_PRIVATE; the device-memory cases skip). Skipped when TESTS is given
# on the command line (unless STOCK_TESTS is given too).
ifeq ($(origin TESTS),command line)
STOCK_TESTS ?=
else
STOCK_TESTS ?= $(foreach l,1:1 n:1,load:vsvm,layout=$(l),vram_size=0 selftest:vsvm_test \
	run:vsvm-demo unload:vsvm)
endif
# The modules DKMS builds for the stock kernel (no KUnit there).
STOCK_KMODS := $(filter-out %_test.ko,$(KMODS))
# make check-full: the same units on the KASAN kernel (vm/kernel-kasan.config
# on top of vm/kernel.config), plus FULL_EXTRA_TESTS, appended after TESTS in
# the same VM run: the long races (FULL_STRESS_SECONDS per layout, then half
# that with 4 MiB of VRAM, where eviction never stops), FULL_FUZZ_CALLS
# fuzzer calls and FULL_PT_CYCLES GPU fault + munmap cycles (vsvm_test's
# page_table_follows_munmap alone). The long races run with a job timeout of
# FULL_JOB_TIMEOUT_MS: on the KASAN kernel under TCG a job of the stress,
# faulting while the chaos threads invalidate, took up to 33 s (the default
# timeout, 30 s, cancelled it; a hung job is still cancelled).
FULL_STRESS_SECONDS ?= 600
FULL_FUZZ_CALLS ?= 200000
FULL_PT_CYCLES ?= 10000
FULL_JOB_TIMEOUT_MS ?= 120000
FULL_EXTRA_TESTS ?= \
	$(foreach c,$(STRESS_CONFIGS),load:vsvm,$(c),job_timeout_ms=$(FULL_JOB_TIMEOUT_MS) \
		cmd:vsvm_stress,-d,$(FULL_STRESS_SECONDS) unload:vsvm) \
	load:vsvm,layout=n:1,vram_size=4,job_timeout_ms=$(FULL_JOB_TIMEOUT_MS) \
		cmd:vsvm_stress,-d,$(shell echo $$(($(FULL_STRESS_SECONDS) / 2))) \
		unload:vsvm \
	load:vsvm,layout=n:1 cmd:vsvm_fuzz,-n,$(FULL_FUZZ_CALLS) unload:vsvm \
	load:vsvm selftest:env,VSVM_PT_CYCLES=$(FULL_PT_CYCLES),VSVM_TEST_ONLY=page_table_follows_munmap,vsvm_test unload:vsvm
FULL_TESTS = $(TESTS) $(FULL_EXTRA_TESTS)
FULL_VM_TIMEOUT ?= 7200

kdir = $$(bash $(VM)/build-kernel.sh)
ksrc = $$(. $(VM)/lib.sh && kernel_src_dir)
stock_kdir = $$(. $(VM)/lib.sh && stock_kdir)

# Kernel variants besides the test kernel, each built once and cached like
# it: kasan (vm/kernel-kasan.config, make check-full) and prod
# (vm/kernel-prod.config, the debugging off, make bench).
VARIANTS := kasan prod

.PHONY: all deps kernel modules modules-stock user initramfs lint docs check demo \
	bench profile shell run clean check-full deb deb-check deb-install-check \
	$(addprefix kernel-,$(VARIANTS)) \
	$(addprefix modules-,$(VARIANTS)) $(addprefix initramfs-,$(VARIANTS)) \
	initramfs-stock

all: modules modules-stock user

deps:
	@. $(VM)/lib.sh && ensure_host_packages

kernel: deps
	@bash $(VM)/build-kernel.sh >/dev/null

# Build against the test kernel (sparse on, warnings are errors).
modules: kernel
	@mkdir -p $(BUILD)/kmod-test
	@rsync -a --delete $(KMOD_SOURCES) $(BUILD)/kmod-test/
	@out=$$($(MAKE) -s -C $(kdir) M=$(BUILD)/kmod-test C=1 W=1 KCFLAGS=-Werror \
		-j$$(nproc) 2>&1); rc=$$?; printf '%s\n' "$$out" | grep -v '^  CHECK' ; \
	if [ $$rc -ne 0 ] || printf '%s\n' "$$out" | grep -q 'warning:'; then \
		echo "modules: build or sparse warnings (above)"; exit 1; fi
	@echo "modules: built against the test kernel (sparse clean)"

# The kernel variants, each built once and cached like the test kernel (see
# VARIANTS).
$(addprefix kernel-,$(VARIANTS)): kernel-%: deps
	@bash $(VM)/build-kernel.sh $* >/dev/null

# The modules against a variant's kernel: same flags as make modules.
$(addprefix modules-,$(VARIANTS)): modules-%: kernel-%
	@mkdir -p $(BUILD)/kmod-$*
	@rsync -a --delete $(KMOD_SOURCES) $(BUILD)/kmod-$*/
	@out=$$($(MAKE) -s -C $$(bash $(VM)/build-kernel.sh $*) M=$(BUILD)/kmod-$* C=1 W=1 \
		KCFLAGS=-Werror -j$$(nproc) 2>&1); rc=$$?; \
	printf '%s\n' "$$out" | grep -v '^  CHECK' ; \
	if [ $$rc -ne 0 ] || printf '%s\n' "$$out" | grep -q 'warning:'; then \
		echo "modules-$*: build or sparse warnings (above)"; exit 1; fi
	@echo "modules-$*: built against the $* kernel (sparse clean)"

# Compile check against Debian's stock headers (DEVICE_PRIVATE and KUnit off).
modules-stock: deps
	@mkdir -p $(BUILD)/kmod-stock
	@rsync -a --delete $(KMOD_SOURCES) $(BUILD)/kmod-stock/
	@$(MAKE) -s -C $(stock_kdir) M=$(BUILD)/kmod-stock KCFLAGS=-Werror \
		-j$$(nproc) modules
	@echo "modules-stock: built against $(stock_kdir)"

# Debian packages in build/deb/ (packaging/mkdeb.sh): gpusvm-dkms (the
# kernel sources and dkms.conf under /usr/src: DKMS builds the modules for
# every installed 6.1 kernel with headers), vsvm-tools (vsvm-demo, linked
# against the system's libdrm) and libvsvm-dev (the UAPI header, libvsvm).
deb: deps
	@bash packaging/mkdeb.sh

# The packages checked without changing the host (packaging/deb-check.sh):
# dpkg-deb --info/--contents, lintian, and a DKMS build and install of the
# packaged sources against the stock headers in throwaway DKMS trees; the
# modules it built go to build/dkms-stock/ (vermagic of the stock kernel).
deb-check: deb
	@bash packaging/deb-check.sh

# The packages installed on this host with apt-get, checked (dkms status,
# the modules under /lib/modules/KVER/updates/dkms, a program built against
# libvsvm-dev) and purged (packaging/deb-install-check.sh). Changes the host
# while it runs: root only, never part of make check.
deb-install-check: deb-check
	@bash packaging/deb-install-check.sh

# User space: libvsvm (user/lib) over libdrm, the selftests (user/tests/*.c)
# and the demo (user/demo), all static so the VM needs no libraries.
USER_CFLAGS := -static -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Werror \
	-Iinclude/uapi/drm -Iuser/lib -Iuser/common $$(pkg-config --cflags libdrm)
USER_LIBS := $(BUILD)/lib/libvsvm.a $$(pkg-config --static --libs libdrm) -lpthread

user: kernel
	@mkdir -p $(BUILD)/bin $(BUILD)/lib
	@gcc $(USER_CFLAGS) -c -o $(BUILD)/lib/vsvm.o user/lib/vsvm.c
	@ar rcs $(BUILD)/lib/libvsvm.a $(BUILD)/lib/vsvm.o
	@for t in $(USER_TESTS); do \
		gcc $(USER_CFLAGS) -I$(ksrc)/tools/testing/selftests \
			-o $(BUILD)/bin/$$t user/tests/$$t.c $(USER_LIBS) || exit 1; \
	done
	@for d in $(USER_DEMOS); do \
		gcc $(USER_CFLAGS) -o $(BUILD)/bin/$$d user/demo/$$d.c \
			$(USER_LIBS) || exit 1; \
	done
	@for b in $(USER_BENCHES); do \
		gcc $(USER_CFLAGS) -I$(ksrc)/lib -o $(BUILD)/bin/$$b \
			user/bench/$$b.c $(USER_LIBS) || exit 1; \
	done
	@for f in $(USER_FUZZ); do \
		gcc $(USER_CFLAGS) -DVSVM_FUZZ_CALLS=$(FUZZ_CALLS) \
			-o $(BUILD)/bin/$$f user/fuzz/$$f.c $(USER_LIBS) || exit 1; \
	done
	@for t in $(USER_STRESS); do \
		gcc $(USER_CFLAGS) -o $(BUILD)/bin/$$t user/stress/$$t.c \
			$(USER_LIBS) || exit 1; \
	done
	@$(MAKE) -s hmm-tests
	@echo "user: libvsvm $(USER_TESTS) $(USER_DEMOS) $(USER_BENCHES) $(USER_FUZZ) $(USER_STRESS) hmm-tests"

# The kernel's HMM selftest, built from the test kernel's source tree (never
# copied into this repository): hmm-tests opens test_hmm's /dev/hmm_dmirrorN;
# hmm-tests-vsvm is the same program from a copy in build/ whose one change is
# the node name, /dev/vsvm_dmirrorN (vsvm's dmirror personality).
HMM_TESTS_SRC = $(ksrc)/tools/testing/selftests/vm/hmm-tests.c
HMM_TESTS_CFLAGS = -static -O2 -g -Wall -I$(ksrc) -I$(ksrc)/tools/testing/selftests

.PHONY: hmm-tests
hmm-tests:
	@mkdir -p $(BUILD)/bin $(BUILD)/hmm-tests
	@gcc $(HMM_TESTS_CFLAGS) -o $(BUILD)/bin/hmm-tests $(HMM_TESTS_SRC) -lpthread
	@src=$(HMM_TESTS_SRC); \
	sed 's|"/dev/hmm_dmirror%d"|"/dev/vsvm_dmirror%d"|' "$$src" \
		>$(BUILD)/hmm-tests/hmm-tests-vsvm.c; \
	grep -q '"/dev/vsvm_dmirror%d"' $(BUILD)/hmm-tests/hmm-tests-vsvm.c || \
		{ echo "hmm-tests: no /dev/hmm_dmirror%d in $$src"; exit 1; }; \
	gcc $(HMM_TESTS_CFLAGS) -I$$(dirname "$$src") -o $(BUILD)/bin/hmm-tests-vsvm \
		$(BUILD)/hmm-tests/hmm-tests-vsvm.c -lpthread

initramfs: modules user
	@bash $(VM)/mkinitramfs.sh $(addprefix $(BUILD)/kmod-test/,$(KMODS))

$(addprefix initramfs-,$(VARIANTS)): initramfs-%: modules-% user
	@KCONFIG_VARIANT=$* bash $(VM)/mkinitramfs.sh \
		$(addprefix $(BUILD)/kmod-$*/,$(KMODS))

# Debian's stock kernel image and the modules DKMS built from the
# gpusvm-dkms package against its headers (make deb-check puts them in
# build/dkms-stock/): make check's third VM, vm/run-vm.sh --kernel-variant
# stock.
initramfs-stock: deb-check user
	@KCONFIG_VARIANT=stock bash $(VM)/mkinitramfs.sh \
		$(addprefix $(BUILD)/dkms-stock/,$(notdir $(STOCK_KMODS)))

lint: kernel
	@bash $(VM)/lint.sh

# Documentation/*.rst with the DOC: sections and kernel-doc of the sources,
# rendered by Sphinx with the kernel's kernel-doc extension (from the kernel
# source tree); any warning fails it. Prints the path of index.html.
docs: kernel
	@bash $(VM)/docs.sh

check: lint docs modules-stock initramfs $(if $(STOCK_TESTS),initramfs-stock)
	@mkdir -p $(BUILD)/logs
	@log=$(BUILD)/logs/check-$$(date +%Y%m%d-%H%M%S).log; logs=$$log; \
	bash $(VM)/run-vm.sh --timeout $(VM_TIMEOUT) --log $$log \
		--append "$(STRESS_ENV)" -- run-tests $(TESTS) >/dev/null; \
	echo "VM console log: $$log"; \
	if [ -n "$(BOUNCE_TESTS)" ]; then \
		blog=$${log%.log}-swiotlb.log; logs="$$logs $$blog"; \
		bash $(VM)/run-vm.sh --timeout 600 --log $$blog \
			--append swiotlb=force -- run-tests $(BOUNCE_TESTS) >/dev/null; \
		echo "VM console log (swiotlb=force): $$blog"; \
	fi; \
	if [ -n "$(STOCK_TESTS)" ]; then \
		slog=$${log%.log}-stock.log; logs="$$logs $$slog"; \
		bash $(VM)/run-vm.sh --kernel-variant stock --timeout 1200 --log $$slog \
			-- run-tests $(STOCK_TESTS) >/dev/null; \
		echo "VM console log (Debian's kernel $$(. $(VM)/lib.sh && stock_kver)): $$slog"; \
	fi; \
	python3 $(VM)/summarize.py --check $(VM)/check-log.sh $$logs

# The check suite (TESTS + FULL_EXTRA_TESTS, then the swiotlb=force VM) on
# the KASAN kernel. Any KASAN, UBSAN or KFENCE report fails it (check-log.sh).
check-full: initramfs-kasan
	@mkdir -p $(BUILD)/logs
	@log=$(BUILD)/logs/check-full-$$(date +%Y%m%d-%H%M%S).log; logs=$$log; \
	bash $(VM)/run-vm.sh --kernel-variant kasan --timeout $(FULL_VM_TIMEOUT) \
		--log $$log --append "$(STRESS_ENV)" \
		-- run-tests $(FULL_TESTS) >/dev/null; \
	echo "VM console log (KASAN kernel): $$log"; \
	if [ -n "$(BOUNCE_TESTS)" ]; then \
		blog=$${log%.log}-swiotlb.log; logs="$$logs $$blog"; \
		bash $(VM)/run-vm.sh --kernel-variant kasan --timeout 1200 --log $$blog \
			--append swiotlb=force -- run-tests $(BOUNCE_TESTS) >/dev/null; \
		echo "VM console log (KASAN kernel, swiotlb=force): $$blog"; \
	fi; \
	python3 $(VM)/summarize.py --check $(VM)/check-log.sh $$logs

# The demo's own output only; the kernel console goes to the log file, whose
# path it prints (a kernel problem report found there is shown too).
demo: initramfs
	@bash $(VM)/run-vm.sh --quiet --timeout 600 -- demo

# vsvm, the kernel's test_hmm and the raw floor doing the same work in one
# VM run, on the production kernel (vm/kernel-prod.config): the table, then
# build/bench/results.csv and its plot, results.png.
bench: initramfs-prod
	@mkdir -p $(BUILD)/logs $(BUILD)/bench
	@log=$(BUILD)/logs/bench-$$(date +%Y%m%d-%H%M%S).log; \
	bash $(VM)/run-vm.sh --kernel-variant prod --mem 4G --timeout 3600 \
		--log $$log -- bench >/dev/null; rc=$$?; \
	echo "VM console log: $$log"; \
	tr -d '\r' <$$log | grep -a -v -e '^CSV,' -e '^\[' | \
		sed -n '/^vsvm-bench:/,/^bench:/p'; \
	{ echo figure,size,ours_ms,dmirror_ms,floor_ms,ratio,goal,met; \
	  tr -d '\r' <$$log | grep -a '^CSV,' | cut -d, -f2-; } \
		>$(BUILD)/bench/results.csv; \
	bash $(VM)/bench-plot.sh $(BUILD)/bench/results.csv $(BUILD)/bench/results.png && \
	echo "results: $(BUILD)/bench/results.csv $(BUILD)/bench/results.png"; \
	grep -aq '^bench: ' $$log && exit $$rc || exit 1

# make profile: where the bench's time goes (vm/guest/profile: ftrace's
# function profiler around each figure's work, one side at a time) on the
# production kernel. PROFILE_ARGS: SIZE_KIB ROUNDS (default 16384 2).
PROFILE_ARGS ?=
profile: initramfs-prod
	@mkdir -p $(BUILD)/logs
	@log=$(BUILD)/logs/profile-$$(date +%Y%m%d-%H%M%S).log; \
	bash $(VM)/run-vm.sh --kernel-variant prod --mem 4G --timeout 1800 \
		--log $$log -- profile $(PROFILE_ARGS) >/dev/null; rc=$$?; \
	tr -d '\r' <$$log | grep -a -v '^\[' | \
		sed -n '/^GPUSVM-VM: booted/,/^GPUSVM-VM: exit/p' | sed 1d; \
	echo "VM console log: $$log"; exit $$rc

shell: initramfs
	@bash $(VM)/run-vm.sh --shell

run: initramfs
	@bash $(VM)/run-vm.sh --timeout $(VM_TIMEOUT) --append "$(STRESS_ENV)" \
		-- sh -c '$(CMD)'

clean:
	rm -rf $(BUILD)
