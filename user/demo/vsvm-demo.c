// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm-demo: what `make demo` runs. Uses the virtual SVM GPU on ordinary
 * allocations (malloc, stack, a global, a 2 MiB THP mapping, a file mapping)
 * without registering anything, checks every result on the CPU and prints
 * what the driver did: GPU page faults, ranges and their sizes, invalidations,
 * garbage collection, bytes moved, migrations to and from device memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vsvm.h"

#define SZ_64K	(64UL << 10)
#define SZ_1M	(1UL << 20)
#define SZ_2M	(2UL << 20)

static int checks, passed;
static char global_buf[16384];

static void check(int ok, const char *what)
{
	checks++;
	passed += !!ok;
	printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
}

static int all_bytes(const void *p, int value, size_t size)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < size; i++)
		if (c[i] != value)
			return 0;
	return 1;
}

static char *map_anon_demo(size_t size)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void stats_line(struct vsvm_dev *dev, uint32_t vm, const char *label)
{
	struct drm_vsvm_stats s;

	if (vsvm_stats(dev, vm, &s))
		return;
	printf("  %-22s faults %-4llu ranges created %-4llu live %-4llu pages mapped %-5llu "
	       "invalidations %-3llu GC'd ranges %-3llu jobs %-3llu moved %.1f MiB (svm %llu) "
	       "VRAM in/out %llu/%llu pages\n",
	       label, (unsigned long long)s.faults,
	       (unsigned long long)s.ranges_created,
	       (unsigned long long)s.ranges_live,
	       (unsigned long long)s.pages_mapped,
	       (unsigned long long)s.invalidations,
	       (unsigned long long)s.gc_ranges, (unsigned long long)s.jobs,
	       s.bytes_moved / 1048576.0, (unsigned long long)s.svm_id,
	       (unsigned long long)s.vram_pages_in,
	       (unsigned long long)s.vram_pages_out);
}

/* GPU faults a fresh buffer of @size takes for one device fill. */
static long faults_for(struct vsvm_dev *dev, uint32_t vm, void *buf,
		       size_t size)
{
	struct drm_vsvm_stats before, after;

	vsvm_stats(dev, vm, &before);
	if (vsvm_fill(dev, vm, buf, 0x11, size))
		return -1;
	vsvm_stats(dev, vm, &after);
	return after.faults - before.faults;
}

int main(void)
{
	struct vsvm_dev dev0, dev1;
	uint32_t vm0, vm1 = 0;
	char stack_buf[8192], path[] = "/tmp/vsvm-demo-XXXXXX";
	char *heap, *thp, *resv, *file_map, *small, *small_al, *tiny, *guard;
	uint64_t sum;
	long f_thp, f_small, f_tiny;
	int n, fd, have_dev1;

	n = vsvm_num_devices();
	if (n < 1 || vsvm_open(0, &dev0)) {
		printf("no vsvm device (is the vsvm module loaded?)\n");
		return 1;
	}
	printf("vsvm: %d device(s), GPU SVM layout %s, notifier window %llu MiB\n",
	       n, vsvm_layout_name(dev0.info.layout),
	       (unsigned long long)dev0.info.notifier_size >> 20);
	have_dev1 = n > 1 && !vsvm_open(1, &dev1);
	if (vsvm_vm_create(&dev0, &vm0) ||
	    (have_dev1 && vsvm_vm_create(&dev1, &vm1))) {
		printf("cannot create a GPU VM\n");
		return 1;
	}

	printf("\n1. The GPU uses plain pointers: GPU VA == CPU VA\n");
	heap = malloc(SZ_1M);
	check(heap && !vsvm_fill(&dev0, vm0, heap, 0xa5, SZ_1M) &&
	      all_bytes(heap, 0xa5, SZ_1M), "device fills a 1 MiB malloc() buffer, CPU sees it");
	memset(stack_buf, 0x3c, sizeof(stack_buf));
	check(!vsvm_checksum(&dev0, vm0, stack_buf, sizeof(stack_buf), &sum) &&
	      sum == vsvm_fnv1a(stack_buf, sizeof(stack_buf)),
	      "device checksums a stack array the CPU wrote (same FNV-1a)");
	check(!vsvm_copy(&dev0, vm0, global_buf, heap, sizeof(global_buf)) &&
	      all_bytes(global_buf, 0xa5, sizeof(global_buf)),
	      "device copies heap -> global array");

	fd = mkstemp(path);
	if (fd >= 0 && !ftruncate(fd, SZ_64K)) {
		file_map = mmap(NULL, SZ_64K, PROT_READ | PROT_WRITE, MAP_SHARED,
				fd, 0);
		if (file_map != MAP_FAILED) {
			char byte = 0;

			check(!vsvm_fill(&dev0, vm0, file_map, 'F', SZ_64K) &&
			      pread(fd, &byte, 1, SZ_64K - 1) == 1 && byte == 'F',
			      "device writes a shared file mapping, the file has it");
			munmap(file_map, SZ_64K);
		}
		close(fd);
		unlink(path);
	}

	printf("\n2. Ranges: one GPU fault maps a whole range of the largest chunk that fits\n");
	resv = mmap(NULL, 2 * SZ_2M, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	thp = (char *)(((unsigned long)resv + SZ_2M - 1) & ~(SZ_2M - 1));
	f_thp = faults_for(&dev0, vm0, thp, SZ_2M);
	/* 64 KiB inside a 128 KiB mapping, 64 KiB aligned: one 64 KiB range */
	small = mmap(NULL, 2 * SZ_64K, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	small_al = (char *)(((unsigned long)small + SZ_64K - 1) & ~(SZ_64K - 1));
	if (small_al + SZ_64K > small + 2 * SZ_64K)
		small_al = small;
	f_small = faults_for(&dev0, vm0, small_al, SZ_64K);
	/* a 16 KiB mapping (between guard pages) only fits 4 KiB ranges */
	guard = mmap(NULL, 16384 + 2 * 4096, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tiny = guard + 4096;
	mprotect(tiny, 16384, PROT_READ | PROT_WRITE);
	f_tiny = faults_for(&dev0, vm0, tiny, 16384);
	printf("  GPU faults to fill: 2 MiB aligned buffer %ld, 64 KiB aligned buffer %ld, 16 KiB mapping %ld\n",
	       f_thp, f_small, f_tiny);
	check(f_thp == 1, "a 2 MiB aligned buffer is one 2 MiB range: one fault");
	check(f_small == 1 && all_bytes(small_al, 0x11, SZ_64K),
	      "a 64 KiB aligned buffer in a larger mapping is one 64 KiB range");
	check(f_tiny == 4, "a 16 KiB mapping is four 4 KiB ranges");
	munmap(guard, 16384 + 2 * 4096);

	printf("\n3. CPU changes reach the GPU (MMU notifier -> zap, TLB flush, GC)\n");
	munmap(small, 2 * SZ_64K);
	check(vsvm_fill(&dev0, vm0, small_al, 1, 4096) == -EFAULT &&
	      vsvm_last_fault_addr() == (uintptr_t)small_al,
	      "after munmap() the GPU gets a clean -EFAULT at the address");
	madvise(thp, SZ_2M, MADV_DONTNEED);
	check(!vsvm_checksum(&dev0, vm0, thp, SZ_2M, &sum) && all_bytes(thp, 0, SZ_2M) &&
	      sum == vsvm_fnv1a(thp, SZ_2M),
	      "after madvise(DONTNEED) the GPU reads zeros");
	mprotect(heap - ((unsigned long)heap & 4095), 4096, PROT_READ);
	check(vsvm_fill(&dev0, vm0, heap, 0, 16) == -EACCES,
	      "after mprotect(PROT_READ) a GPU write fails with -EACCES");
	mprotect(heap - ((unsigned long)heap & 4095), 4096, PROT_READ | PROT_WRITE);

	if (have_dev1) {
		uint64_t *counters = aligned_alloc(4096, 4096 * sizeof(uint64_t));
		struct drm_vsvm_stats s0, s1;
		int i, ok = 1;

		printf("\n4. Two devices on one buffer\n");
		memset(counters, 0, 4096 * sizeof(uint64_t));
		for (i = 0; i < 5; i++)
			ok &= !vsvm_atomic_add(&dev0, vm0, counters, 4096, 1) &&
			      !vsvm_atomic_add(&dev1, vm1, counters, 4096, 10);
		for (i = 0; i < 4096; i++)
			ok &= counters[i] == 55;
		check(ok, "devices 0 and 1 atomically add into the same array: all 55");
		vsvm_stats(&dev0, vm0, &s0);
		vsvm_stats(&dev1, vm1, &s1);
		if (dev0.info.layout == DRM_VSVM_LAYOUT_NTO1)
			check(s0.svm_id == s1.svm_id,
			      "N:1: both devices' VMs share one GPU SVM (same svm id)");
		else
			check(s0.svm_id != s1.svm_id,
			      "1:1: each VM has its own GPU SVM");
		free(counters);
	}

	if (dev0.info.vram_size) {
		char *v = map_anon_demo(4 * SZ_1M);
		struct drm_vsvm_stats a, b, c;

		printf("\n5. Device memory (%llu MiB of VRAM per device)\n",
		       (unsigned long long)dev0.info.vram_size >> 20);
		memset(v, 0x42, 4 * SZ_1M);
		vsvm_stats(&dev0, vm0, &a);
		check(!vsvm_prefetch(&dev0, vm0, v, 4 * SZ_1M, DRM_VSVM_LOC_DEVICE),
		      "prefetch a 4 MiB buffer into device 0's VRAM");
		vsvm_stats(&dev0, vm0, &b);
		check(!vsvm_checksum(&dev0, vm0, v, 4 * SZ_1M, &sum) &&
		      !vsvm_fill(&dev0, vm0, v, 0x43, 4 * SZ_1M),
		      "the device reads and writes it in VRAM");
		check(all_bytes(v, 0x43, 4 * SZ_1M),
		      "a CPU read migrates it back: the CPU sees the device's data");
		vsvm_stats(&dev0, vm0, &c);
		printf("  pages migrated to VRAM: %llu, back to system memory: %llu\n",
		       (unsigned long long)(b.vram_pages_in - a.vram_pages_in),
		       (unsigned long long)(c.vram_pages_out - b.vram_pages_out));
		munmap(v, 4 * SZ_1M);
	}

	printf("\nWhat the driver did:\n");
	stats_line(&dev0, vm0, "device 0, VM:");
	if (have_dev1)
		stats_line(&dev1, vm1, "device 1, VM:");

	munmap(resv, 2 * SZ_2M);
	free(heap);
	vsvm_vm_destroy(&dev0, vm0);
	vsvm_close(&dev0);
	if (have_dev1) {
		vsvm_vm_destroy(&dev1, vm1);
		vsvm_close(&dev1);
	}
	printf("\nchecks passed: %d/%d\n", passed, checks);
	return passed == checks ? 0 : 1;
}
