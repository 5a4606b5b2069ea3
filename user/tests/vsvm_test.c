// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of vsvm, the virtual SVM GPU, through libvsvm. make check runs
 * this program once per GPU SVM layout (1:1 and N:1); layout-specific
 * expectations read the layout from the device.
 *
 * Every memory kind a process has is used by the GPU without registration,
 * and every CPU-side change (munmap, mprotect, mremap, madvise, fork) must be
 * seen by the GPU: no stale data, clean job failures with the fault address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "harness_only.h"
#include "sysfile.h"
#include "vsvm_reload.h"
#include "vsvm.h"

#define SZ_4K	4096UL
#define SZ_64K	(64UL << 10)
#define SZ_1M	(1UL << 20)
#define SZ_2M	(2UL << 20)

#define VSVM_TEST_MAX_SYNCS	64	/* syncs in one exec */

static char data_buf[SZ_64K] = { 1 };	/* .data */
static char bss_buf[SZ_64K];		/* .bss */

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The first 2 MiB boundary at or above @p. */
static char *align_2m(void *p)
{
	return (char *)(((uintptr_t)p + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));
}

/* First offset in @p whose byte is not @value, or -1. */
static long first_diff(const void *p, int value, size_t size)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < size; i++)
		if (c[i] != (unsigned char)value)
			return i;
	return -1;
}

static void fill_pattern(void *p, size_t size, unsigned int seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < size; i++)
		c[i] = (unsigned char)(i * 31 + seed);
}

static uint64_t faults_of(struct vsvm_dev *dev, uint32_t vm)
{
	struct drm_vsvm_stats s;

	return vsvm_stats(dev, vm, &s) ? ~0ULL : s.faults;
}

FIXTURE(vsvm)
{
	struct vsvm_dev dev;
	uint32_t vm;
	int timeline;	/* the test's sw_sync timeline (open_timeline()) */
};

FIXTURE_SETUP(vsvm)
{
	self->timeline = -1;
	ASSERT_EQ(0, vsvm_open(0, &self->dev)) TH_LOG("no vsvm device");
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &self->vm));
}

static void close_timeline(FIXTURE_DATA(vsvm) *self);

FIXTURE_TEARDOWN(vsvm)
{
	close_timeline(self);
	EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, self->vm));
	vsvm_close(&self->dev);
}

/* Device fill then CPU check, CPU pattern then device checksum and copy. */
static int roundtrip(struct vsvm_dev *dev, uint32_t vm, void *p, size_t size,
		     int value)
{
	uint64_t sum;
	char *tmp;
	int err;

	err = vsvm_fill(dev, vm, p, value, size);
	if (err)
		return err;
	if (first_diff(p, value, size) >= 0)
		return -EIO;
	fill_pattern(p, size, value);
	err = vsvm_checksum(dev, vm, p, size, &sum);
	if (err)
		return err;
	if (sum != vsvm_fnv1a(p, size))
		return -EILSEQ;
	tmp = malloc(size);
	if (!tmp)
		return -ENOMEM;
	err = vsvm_copy(dev, vm, tmp, p, size);
	if (!err && memcmp(tmp, p, size))
		err = -EIO;
	free(tmp);
	return err;
}

TEST_F(vsvm, memory_malloc_stack_globals)
{
	char stack_buf[6000];
	char *small = malloc(100), *large = malloc(8 * SZ_1M + 123);

	ASSERT_NE(NULL, small);
	ASSERT_NE(NULL, large);
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, small, 100, 0x11));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, large, 8 * SZ_1M + 123, 0x22));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, stack_buf, sizeof(stack_buf), 0x33));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, data_buf, sizeof(data_buf), 0x44));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, bss_buf, sizeof(bss_buf), 0x55));
	free(small);
	free(large);
}

TEST_F(vsvm, memory_mmap_kinds)
{
	char path[] = "/tmp/vsvm-test-XXXXXX";
	char *priv, *shared, *file, *mfd_map, *resv, *thp, byte;
	int fd, mfd;

	priv = map_anon(SZ_1M);
	ASSERT_NE(NULL, priv);
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, priv, SZ_1M, 0x61));

	shared = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, shared);
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, shared, SZ_1M, 0x62));

	fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, SZ_1M));
	file = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, file);
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, file, 'f', SZ_1M));
	ASSERT_EQ(1, pread(fd, &byte, 1, SZ_1M - 1));
	EXPECT_EQ('f', byte);
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, file, SZ_1M, 0x63));

	mfd = memfd_create("vsvm", 0);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, SZ_1M));
	mfd_map = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, mfd_map);
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, mfd_map, SZ_1M, 0x64));

	resv = map_anon(2 * SZ_2M);
	ASSERT_NE(NULL, resv);
	thp = align_2m(resv);
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, thp, SZ_2M, 0x65));

	munmap(priv, SZ_1M);
	munmap(shared, SZ_1M);
	munmap(file, SZ_1M);
	munmap(mfd_map, SZ_1M);
	munmap(resv, 2 * SZ_2M);
	close(fd);
	close(mfd);
	unlink(path);
}

TEST_F(vsvm, memory_hugetlb)
{
	char *p;
	int fd = open("/proc/sys/vm/nr_hugepages", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "8", 1) != 1)
			TH_LOG("cannot reserve huge pages");
		close(fd);
	}
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED)
		SKIP(return, "no hugetlb pages");
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, SZ_2M, 0x66));
	munmap(p, SZ_2M);
}

/* A CPU write after the device mapped the page is seen by the device. */
TEST_F(vsvm, cpu_write_after_device_map)
{
	char *p = map_anon(SZ_64K);
	uint64_t sum;

	ASSERT_NE(NULL, p);
	fill_pattern(p, SZ_64K, 1);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_64K, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, SZ_64K), sum);
	fill_pattern(p, SZ_64K, 2);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_64K, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, SZ_64K), sum);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 9, SZ_64K));
	EXPECT_EQ(-1, first_diff(p, 9, SZ_64K));
	munmap(p, SZ_64K);
}

TEST_F(vsvm, munmap_then_reuse_address)
{
	char *p = map_anon(SZ_2M);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x77, SZ_2M));
	ASSERT_EQ(0, munmap(p, SZ_2M));
	EXPECT_EQ(-EFAULT, vsvm_fill(&self->dev, self->vm, p, 1, SZ_2M));
	EXPECT_EQ((uintptr_t)p, vsvm_last_fault_addr());

	/* The same address again: new memory, no stale device data. */
	ASSERT_EQ(p, mmap(p, SZ_2M, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, SZ_2M, 0));
	memset(p, 0, SZ_2M);
	ASSERT_EQ(0, vsvm_copy(&self->dev, self->vm, p + SZ_1M, p, SZ_1M));
	EXPECT_EQ(-1, first_diff(p + SZ_1M, 0, SZ_1M));
	munmap(p, SZ_2M);
}

TEST_F(vsvm, partial_munmap)
{
	char *p = map_anon(4 * SZ_1M), *hole;
	uint64_t sum;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x5a, 4 * SZ_1M));
	hole = p + SZ_2M - 2 * SZ_4K;
	ASSERT_EQ(0, munmap(hole, 4 * SZ_4K));

	/* The parts left keep their content and stay usable. */
	EXPECT_EQ(-1, first_diff(p, 0x5a, hole - p));
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, hole - p, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, hole - p), sum);
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, hole + 4 * SZ_4K, 0x6b,
			       p + 4 * SZ_1M - (hole + 4 * SZ_4K)));
	EXPECT_EQ(-1, first_diff(hole + 4 * SZ_4K, 0x6b,
				 p + 4 * SZ_1M - (hole + 4 * SZ_4K)));
	/* The hole faults at its first byte. */
	EXPECT_EQ(-EFAULT, vsvm_fill(&self->dev, self->vm, p, 1, 4 * SZ_1M));
	EXPECT_EQ((uintptr_t)hole, vsvm_last_fault_addr());
	/* Bytes before the hole were written, in order. */
	EXPECT_EQ(-1, first_diff(p, 1, hole - p));
	munmap(p, hole - p);
	munmap(hole + 4 * SZ_4K, p + 4 * SZ_1M - (hole + 4 * SZ_4K));
}

TEST_F(vsvm, mprotect_read_only)
{
	char *p = map_anon(SZ_1M);
	uint64_t sum;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x42, SZ_1M));
	ASSERT_EQ(0, mprotect(p, SZ_1M, PROT_READ));
	EXPECT_EQ(-EACCES, vsvm_fill(&self->dev, self->vm, p, 0x43, SZ_1M));
	EXPECT_EQ((uintptr_t)p, vsvm_last_fault_addr());
	EXPECT_EQ(-1, first_diff(p, 0x42, SZ_1M));
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_1M, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, SZ_1M), sum);
	ASSERT_EQ(0, mprotect(p, SZ_1M, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x44, SZ_1M));
	EXPECT_EQ(-1, first_diff(p, 0x44, SZ_1M));
	munmap(p, SZ_1M);
}

TEST_F(vsvm, attr_read_only_and_location)
{
	char *p = map_anon(SZ_2M);
	uint64_t sum;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 1, SZ_2M));
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p + SZ_1M, SZ_64K,
				   DRM_VSVM_ATTR_READ_ONLY, 1));
	/* Only the attribute's interval is read-only for the GPU. */
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 2, SZ_1M));
	EXPECT_EQ(-EACCES, vsvm_fill(&self->dev, self->vm, p, 3, SZ_2M));
	EXPECT_EQ((uintptr_t)p + SZ_1M, vsvm_last_fault_addr());
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, SZ_2M), sum);
	EXPECT_EQ(-1, first_diff(p + SZ_1M, 1, SZ_64K));
	/* The CPU is not affected. */
	p[SZ_1M] = 7;
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p + SZ_1M, SZ_64K,
				   DRM_VSVM_ATTR_READ_ONLY, 0));
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 4, SZ_2M));
	EXPECT_EQ(-1, first_diff(p, 4, SZ_2M));

	EXPECT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, SZ_2M,
				   DRM_VSVM_ATTR_PREFERRED_LOC, DRM_VSVM_LOC_SYSTEM));
	if (!self->dev.info.vram_size) {
		EXPECT_EQ(-EOPNOTSUPP,
			  vsvm_set_attr(&self->dev, self->vm, p, SZ_2M,
					DRM_VSVM_ATTR_PREFERRED_LOC, DRM_VSVM_LOC_DEVICE));
	}
	EXPECT_EQ(-EINVAL, vsvm_set_attr(&self->dev, self->vm, p, SZ_2M,
					 DRM_VSVM_ATTR_READ_ONLY, 2));
	EXPECT_EQ(-EINVAL, vsvm_set_attr(&self->dev, self->vm, p, SZ_2M, 99, 0));
	munmap(p, SZ_2M);
}

TEST_F(vsvm, prefetch_avoids_faults)
{
	char *p = map_anon(4 * SZ_1M);
	uint64_t before;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, 4 * SZ_1M,
				   DRM_VSVM_LOC_SYSTEM));
	before = faults_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x12, 4 * SZ_1M));
	EXPECT_EQ(before, faults_of(&self->dev, self->vm));
	EXPECT_EQ(-1, first_diff(p, 0x12, 4 * SZ_1M));
	munmap(p + SZ_1M, SZ_1M);
	EXPECT_EQ(-EFAULT, vsvm_prefetch(&self->dev, self->vm, p, 4 * SZ_1M,
					 DRM_VSVM_LOC_SYSTEM));
	munmap(p, SZ_1M);
	munmap(p + SZ_2M, SZ_2M);
}

TEST_F(vsvm, fork_cow)
{
	char *p = map_anon(SZ_1M);
	int status;
	pid_t pid;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 'A', SZ_1M));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		uint32_t child_vm;

		/* The parent's VM mirrors the parent: not usable here. */
		if (vsvm_fill(&self->dev, self->vm, p, 'X', SZ_1M) != -EACCES)
			_exit(10);
		if (vsvm_vm_create(&self->dev, &child_vm))
			_exit(11);
		if (first_diff(p, 'A', SZ_1M) >= 0)
			_exit(12);
		if (vsvm_fill(&self->dev, child_vm, p, 'B', SZ_1M))
			_exit(13);
		if (first_diff(p, 'B', SZ_1M) >= 0)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* The parent's copy is untouched, for the CPU and the device. */
	EXPECT_EQ(-1, first_diff(p, 'A', SZ_1M));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, SZ_1M, 'C'));
	munmap(p, SZ_1M);
}

/* Both processes use the device after fork, the parent writing first. */
TEST_F(vsvm, fork_parent_writes_after)
{
	char *p = map_anon(SZ_64K);
	int status;
	pid_t pid;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 1, SZ_64K));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		usleep(200000);
		_exit(first_diff(p, 1, SZ_64K) >= 0 ? 20 : 0);
	}
	/* The parent's device write breaks COW: the child keeps 1s. */
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 2, SZ_64K));
	EXPECT_EQ(-1, first_diff(p, 2, SZ_64K));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	munmap(p, SZ_64K);
}

TEST_F(vsvm, mremap)
{
	char *p = map_anon(SZ_2M), *target, *q;
	uint64_t sum;

	ASSERT_NE(NULL, p);
	target = map_anon(SZ_2M);
	ASSERT_NE(NULL, target);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x3e, SZ_2M));
	fill_pattern(p, SZ_64K, 5);
	q = mremap(p, SZ_2M, SZ_2M, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	ASSERT_EQ(target, q);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, q, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(q, SZ_2M), sum);
	EXPECT_EQ(-EFAULT, vsvm_fill(&self->dev, self->vm, p, 1, SZ_4K));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, q, SZ_2M, 0x3f));
	munmap(q, SZ_2M);
}

TEST_F(vsvm, madvise_dontneed_reads_zeros)
{
	char *p = map_anon(SZ_2M), *dst = map_anon(SZ_2M);
	uint64_t sum;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, dst);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x99, SZ_2M));
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_DONTNEED));
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	memset(dst, 0, SZ_2M);
	EXPECT_EQ(vsvm_fnv1a(dst, SZ_2M), sum);
	memset(dst, 0xff, SZ_2M);
	ASSERT_EQ(0, vsvm_copy(&self->dev, self->vm, dst, p, SZ_2M));
	EXPECT_EQ(-1, first_diff(dst, 0, SZ_2M));
	munmap(p, SZ_2M);
	munmap(dst, SZ_2M);
}

TEST_F(vsvm, thousands_of_small_allocations)
{
	const unsigned int n = 3000, max_jobs = self->dev.info.max_jobs;
	struct drm_vsvm_job *jobs = calloc(max_jobs, sizeof(*jobs));
	char **bufs = calloc(n, sizeof(*bufs));
	unsigned int i, j, batch;

	ASSERT_NE(NULL, jobs);
	ASSERT_NE(NULL, bufs);
	for (i = 0; i < n; i++) {
		bufs[i] = malloc(16 + (i * 37) % 4080);
		ASSERT_NE(NULL, bufs[i]);
	}
	for (i = 0; i < n; i += batch) {
		batch = n - i < max_jobs ? n - i : max_jobs;
		for (j = 0; j < batch; j++)
			jobs[j] = (struct drm_vsvm_job) {
				.op = DRM_VSVM_OP_FILL,
				.dst = (uintptr_t)bufs[i + j],
				.size = 16 + ((i + j) * 37) % 4080,
				.value = (i + j) & 0xff,
			};
		ASSERT_EQ(0, vsvm_exec(&self->dev, self->vm, jobs, batch));
	}
	for (i = 0; i < n; i++)
		ASSERT_EQ(-1, first_diff(bufs[i], i & 0xff, 16 + (i * 37) % 4080))
			TH_LOG("allocation %u", i);
	for (i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(jobs);
}

TEST_F_TIMEOUT(vsvm, larger_than_notifier, 120)
{
	size_t nsz = self->dev.info.notifier_size, size = nsz + 4 * SZ_1M;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *boundary;
	uint64_t sum;
	size_t off;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0xc3, size));
	for (off = 0; off < size; off += SZ_64K)
		ASSERT_EQ(0xc3, (unsigned char)p[off]) TH_LOG("offset %zu", off);
	EXPECT_EQ(0xc3, (unsigned char)p[size - 1]);
	/* A notifier boundary with 1 MiB of the buffer on each side. */
	boundary = (char *)(((unsigned long)p + SZ_1M + nsz - 1) & ~(nsz - 1));
	fill_pattern(boundary - SZ_1M, 2 * SZ_1M, 3);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, boundary - SZ_1M,
				   2 * SZ_1M, &sum));
	EXPECT_EQ(vsvm_fnv1a(boundary - SZ_1M, 2 * SZ_1M), sum);
	munmap(p, size);
}

struct adder {
	struct vsvm_dev *dev;
	uint32_t vm;
	uint64_t *words;
	size_t count;
	int iterations;
	int err;
};

static void *adder_thread(void *arg)
{
	struct adder *a = arg;
	int i;

	for (i = 0; i < a->iterations && !a->err; i++)
		a->err = vsvm_atomic_add(a->dev, a->vm, a->words, a->count, 1);
	return NULL;
}

/* The tests of devices 0 and 1 together skip with one device only. */
#define NEED_TWO_DEVICES() do { \
	if (self->dev.info.num_devices < 2) \
		SKIP(return, "one device only"); \
} while (0)

TEST_F(vsvm, two_devices_one_buffer)
{
	const size_t count = 4096;
	struct drm_vsvm_stats s0, s1;
	struct adder a0, a1;
	struct vsvm_dev dev1;
	pthread_t t0, t1;
	uint64_t *words;
	uint32_t vm1;
	size_t i;

	NEED_TWO_DEVICES();
	ASSERT_EQ(0, vsvm_open(1, &dev1));
	ASSERT_EQ(0, vsvm_vm_create(&dev1, &vm1));
	words = map_anon(count * sizeof(*words));
	ASSERT_NE(NULL, words);

	a0 = (struct adder){ &self->dev, self->vm, words, count, 50, 0 };
	a1 = (struct adder){ &dev1, vm1, words, count, 50, 0 };
	ASSERT_EQ(0, pthread_create(&t0, NULL, adder_thread, &a0));
	ASSERT_EQ(0, pthread_create(&t1, NULL, adder_thread, &a1));
	pthread_join(t0, NULL);
	pthread_join(t1, NULL);
	EXPECT_EQ(0, a0.err);
	EXPECT_EQ(0, a1.err);
	for (i = 0; i < count; i++)
		ASSERT_EQ(100, words[i]) TH_LOG("word %zu", i);

	ASSERT_EQ(0, vsvm_stats(&self->dev, self->vm, &s0));
	ASSERT_EQ(0, vsvm_stats(&dev1, vm1, &s1));
	if (self->dev.info.layout == DRM_VSVM_LAYOUT_NTO1) {
		EXPECT_EQ(s0.svm_id, s1.svm_id);
	} else {
		EXPECT_NE(s0.svm_id, s1.svm_id);
	}
	munmap(words, count * sizeof(*words));
	EXPECT_EQ(0, vsvm_vm_destroy(&dev1, vm1));
	vsvm_close(&dev1);
}

struct churner {
	struct vsvm_dev *dev;
	uint32_t vm;
	unsigned int seed;
	int err;
};

static void *churn_thread(void *arg)
{
	struct churner *c = arg;
	int i;

	for (i = 0; i < 20 && !c->err; i++) {
		size_t size = SZ_64K * (1 + (c->seed + i) % 8);
		char *p = map_anon(size);
		uint64_t sum;

		if (!p) {
			c->err = -ENOMEM;
			break;
		}
		c->err = vsvm_fill(c->dev, c->vm, p, c->seed, size);
		if (!c->err && first_diff(p, c->seed, size) >= 0)
			c->err = -EIO;
		fill_pattern(p, size, i);
		if (!c->err)
			c->err = vsvm_checksum(c->dev, c->vm, p, size, &sum);
		if (!c->err && sum != vsvm_fnv1a(p, size))
			c->err = -EILSEQ;
		munmap(p, size);
	}
	return NULL;
}

/*
 * Fixed work, not a time bound: 8 threads of 20 rounds each take about 20 s
 * on the KASAN kernel under TCG, too close to the harness's default 30 s.
 */
TEST_F_TIMEOUT(vsvm, many_threads_faulting, 120)
{
	struct churner c[8];
	pthread_t t[8];
	int i;

	for (i = 0; i < 8; i++) {
		c[i] = (struct churner){ &self->dev, self->vm, i + 1, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, churn_thread, &c[i]));
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, c[i].err) TH_LOG("thread %d", i);
	}
}

/* --- Ranges follow VMA splits; memory the GPU cannot mirror --- */

/*
 * A 2 MiB-aligned anonymous buffer of exactly 2 MiB between PROT_NONE guard
 * areas, so that its VMA is exactly the buffer and its first GPU fault
 * creates one 2 MiB range.
 */
static char *map_2m_aligned(void)
{
	char *resv = mmap(NULL, 3 * SZ_2M, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *p;

	if (resv == MAP_FAILED)
		return NULL;
	p = align_2m(resv);
	if (mmap(p, SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		return NULL;
	return p;
}

static void unmap_2m_aligned(char *p)
{
	munmap(p - SZ_2M, 3 * SZ_2M);
}

enum split_kind {
	SPLIT_MPROTECT_RO,
	SPLIT_PROT_NONE,
	SPLIT_MLOCK,
	SPLIT_MADVISE,
	SPLIT_MREMAP,
};

static const char *const split_names[] = {
	"mprotect(PROT_READ)", "mprotect(PROT_NONE)", "mlock", "madvise",
	"mremap",
};

/*
 * One GPU fill makes one 2 MiB range; then the CPU splits the VMA in the
 * middle ([1 MiB, 1 MiB + 64 KiB)). Each part must then behave exactly as
 * its own VMA says: the parts around stay writable by the GPU, the middle
 * is read-only (-EACCES on write, reads fine), inaccessible (-EPERM, as
 * for any VMA the GPU cannot mirror), unchanged (mlock, madvise) or gone
 * (mremap moved it: -EFAULT there, the data at its new address).
 */
static void check_split(struct __test_metadata *_metadata, struct vsvm_dev *dev,
			uint32_t vm, enum split_kind kind)
{
	char *p = map_2m_aligned(), *mid, *moved = NULL;
	const size_t low = SZ_1M, msize = SZ_64K;
	size_t high = SZ_2M - low - msize;
	int mid_write = 0, mid_read = 0;
	uint64_t before, sum;

	ASSERT_NE(NULL, p);
	mid = p + low;
	before = faults_of(dev, vm);
	ASSERT_EQ(0, vsvm_fill(dev, vm, p, 0x11, SZ_2M));
	ASSERT_EQ(before + 1, faults_of(dev, vm)) TH_LOG("not one 2 MiB range");

	switch (kind) {
	case SPLIT_MPROTECT_RO:
		ASSERT_EQ(0, mprotect(mid, msize, PROT_READ));
		mid_write = -EACCES;
		break;
	case SPLIT_PROT_NONE:
		ASSERT_EQ(0, mprotect(mid, msize, PROT_NONE));
		mid_write = mid_read = -EPERM;
		break;
	case SPLIT_MLOCK:
		ASSERT_EQ(0, mlock(mid, msize));
		break;
	case SPLIT_MADVISE:
		ASSERT_EQ(0, madvise(mid, msize, MADV_NOHUGEPAGE));
		break;
	case SPLIT_MREMAP:
		moved = mmap(NULL, msize, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, moved);
		ASSERT_EQ(moved, mremap(mid, msize, msize,
					MREMAP_MAYMOVE | MREMAP_FIXED, moved));
		mid_write = mid_read = -EFAULT;
		break;
	}

	/* The parts around the middle: written and read by the GPU. */
	EXPECT_EQ(0, vsvm_fill(dev, vm, p, 0x22, low)) TH_LOG("%s: low part",
							    split_names[kind]);
	EXPECT_EQ(-1, first_diff(p, 0x22, low));
	EXPECT_EQ(0, vsvm_fill(dev, vm, mid + msize, 0x33, high))
		TH_LOG("%s: high part", split_names[kind]);
	EXPECT_EQ(-1, first_diff(mid + msize, 0x33, high));
	EXPECT_EQ(0, vsvm_checksum(dev, vm, p, low, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, low), sum);

	/* The middle. */
	EXPECT_EQ(mid_write, vsvm_fill(dev, vm, mid, 0x44, msize))
		TH_LOG("%s: middle write", split_names[kind]);
	if (mid_write) {
		EXPECT_EQ((uintptr_t)mid, vsvm_last_fault_addr());
	}
	EXPECT_EQ(mid_read, vsvm_checksum(dev, vm, mid, msize, &sum))
		TH_LOG("%s: middle read", split_names[kind]);
	if (mid_read) {
		EXPECT_EQ((uintptr_t)mid, vsvm_last_fault_addr());
	}
	if (!mid_write) {
		EXPECT_EQ(-1, first_diff(mid, 0x44, msize));
	} else if (!mid_read) {
		EXPECT_EQ(-1, first_diff(mid, 0x11, msize));
	}
	if (!mid_read) {
		EXPECT_EQ(vsvm_fnv1a(mid, msize), sum);
	}

	if (kind == SPLIT_PROT_NONE) {
		ASSERT_EQ(0, mprotect(mid, msize, PROT_READ));
		EXPECT_EQ(-1, first_diff(mid, 0x11, msize));
	}
	if (moved) {
		/* The middle's data moved with it, and the GPU follows. */
		EXPECT_EQ(-1, first_diff(moved, 0x11, msize));
		EXPECT_EQ(0, vsvm_fill(dev, vm, moved, 0x55, msize));
		EXPECT_EQ(-1, first_diff(moved, 0x55, msize));
		munmap(moved, msize);
	}
	if (kind == SPLIT_MLOCK)
		munlock(mid, msize);
	unmap_2m_aligned(p);
}

TEST_F(vsvm, range_follows_vma_split_mprotect_read_only)
{
	check_split(_metadata, &self->dev, self->vm, SPLIT_MPROTECT_RO);
}

TEST_F(vsvm, range_follows_vma_split_prot_none)
{
	check_split(_metadata, &self->dev, self->vm, SPLIT_PROT_NONE);
}

TEST_F(vsvm, range_follows_vma_split_mlock)
{
	check_split(_metadata, &self->dev, self->vm, SPLIT_MLOCK);
}

TEST_F(vsvm, range_follows_vma_split_madvise)
{
	check_split(_metadata, &self->dev, self->vm, SPLIT_MADVISE);
}

TEST_F(vsvm, range_follows_vma_split_mremap)
{
	check_split(_metadata, &self->dev, self->vm, SPLIT_MREMAP);
}

/*
 * memfd_secret() memory is gone from the kernel's direct map: the GPU must
 * refuse it (the engine would touch unmapped kernel addresses), through
 * the process's memory (-EPERM) and through a userptr (-EFAULT, the
 * userptr's error for memory it cannot mirror).
 */
TEST_F(vsvm, memfd_secret_refused)
{
	int fd = syscall(SYS_memfd_secret, 0);
	uint32_t handle;
	uint64_t sum;
	char *p;

	ASSERT_LE(0, fd) TH_LOG("memfd_secret: %s (boot with secretmem.enable=1)",
				strerror(errno));
	ASSERT_EQ(0, ftruncate(fd, SZ_64K));
	p = mmap(NULL, SZ_64K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x5a, SZ_64K);

	EXPECT_EQ(-EPERM, vsvm_checksum(&self->dev, self->vm, p, SZ_64K, &sum));
	EXPECT_EQ((uintptr_t)p, vsvm_last_fault_addr());
	EXPECT_EQ(-EPERM, vsvm_fill(&self->dev, self->vm, p, 1, SZ_64K));

	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, p, SZ_64K, 0,
					 &handle));
	ASSERT_EQ(0, vsvm_userptr_bind(&self->dev, self->vm, handle,
				       (uintptr_t)p));
	EXPECT_EQ(-EFAULT, vsvm_checksum(&self->dev, self->vm, p, SZ_64K, &sum));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	EXPECT_EQ(-1, first_diff(p, 0x5a, SZ_64K));
	munmap(p, SZ_64K);
	close(fd);
}

/* The vDSO is a kernel special mapping: refused, like VM_IO memory. */
TEST_F(vsvm, vdso_refused)
{
	char *vdso = (char *)getauxval(AT_SYSINFO_EHDR);
	uint64_t sum;

	ASSERT_NE(NULL, vdso);
	EXPECT_EQ(-EPERM, vsvm_checksum(&self->dev, self->vm, vdso, SZ_4K, &sum));
	EXPECT_EQ((uintptr_t)vdso, vsvm_last_fault_addr());
	EXPECT_EQ(-EPERM, vsvm_checksum(&self->dev, self->vm, vdso - SZ_4K,
					SZ_4K, &sum));	/* [vvar] */
}

/*
 * Nine userptrs over one page, and nine VMs of one device writing one page:
 * each writes correctly, and the page is DMA-mapped once per device, not
 * nine times (DMA-API debugging reports more than eight writable mappings).
 */
TEST_F(vsvm, nine_writers_of_one_page)
{
	char *p = map_anon(SZ_4K), *va = map_anon(9 * SZ_64K);
	struct vsvm_dev dev[9];
	uint32_t handle[9], vm[9];
	int k;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, va);
	munmap(va, 9 * SZ_64K);	/* GPU VAs only: no CPU mapping there */
	for (k = 0; k < 9; k++) {
		ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, p, SZ_4K,
						 0, &handle[k]));
		ASSERT_EQ(0, vsvm_userptr_bind(&self->dev, self->vm, handle[k],
					       (uintptr_t)va + k * SZ_64K));
		ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, va + k * SZ_64K,
				       0x70 + k, SZ_4K));
		EXPECT_EQ(-1, first_diff(p, 0x70 + k, SZ_4K));
	}
	for (k = 0; k < 9; k++)
		EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle[k]));

	for (k = 0; k < 9; k++) {
		ASSERT_EQ(0, vsvm_open(0, &dev[k]));
		ASSERT_EQ(0, vsvm_vm_create(&dev[k], &vm[k]));
		ASSERT_EQ(0, vsvm_fill(&dev[k], vm[k], p, 0x80 + k, SZ_4K));
		EXPECT_EQ(-1, first_diff(p, 0x80 + k, SZ_4K));
	}
	for (k = 0; k < 9; k++) {
		EXPECT_EQ(0, vsvm_vm_destroy(&dev[k], vm[k]));
		vsvm_close(&dev[k]);
	}
	munmap(p, SZ_4K);
}

/*
 * Memory registered with userfaultfd: hmm_range_fault() cannot wait for the
 * user-space handler, so the GPU refuses it while it is registered, missing
 * or populated pages alike, and mirrors it again once unregistered.
 */
TEST_F(vsvm, userfaultfd_region_refused)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	char *p = map_anon(2 * SZ_64K);
	uint64_t sum;
	int uffd;

	ASSERT_NE(NULL, p);
	memset(p, 0x66, SZ_64K);	/* the first half is populated */
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	reg.range.start = (uintptr_t)p;
	reg.range.len = 2 * SZ_64K;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));

	EXPECT_EQ(-EPERM, vsvm_checksum(&self->dev, self->vm, p + SZ_64K,
					SZ_64K, &sum));
	EXPECT_EQ((uintptr_t)p + SZ_64K, vsvm_last_fault_addr());
	EXPECT_EQ(-EPERM, vsvm_checksum(&self->dev, self->vm, p, SZ_64K, &sum));
	EXPECT_EQ(-EPERM, vsvm_fill(&self->dev, self->vm, p, 1, SZ_64K));

	ASSERT_EQ(0, ioctl(uffd, UFFDIO_UNREGISTER, &reg.range));
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, 2 * SZ_64K, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, 2 * SZ_64K), sum);
	EXPECT_EQ(-1, first_diff(p, 0x66, SZ_64K));
	close(uffd);
	munmap(p, 2 * SZ_64K);
}

struct racer {
	struct vsvm_dev *dev;
	uint32_t vm;
	char *region;
	size_t size;
	volatile int *stop;
	long done, failed, bad_errno;
	uint64_t bad_addr;
};

/*
 * The GPU side of cpu_changes_racing_gpu_jobs. Each failure must be the one
 * the CPU's state at that moment explains: -EFAULT inside the region (it was
 * unmapped), -EACCES only for a write inside the half that mprotect() makes
 * read-only at times, and never anything else (a stale range spanning both
 * halves used to fail writes to the writable half with -EACCES).
 */
static void *gpu_racer(void *arg)
{
	struct racer *r = arg;
	uintptr_t start = (uintptr_t)r->region;

	while (!*r->stop) {
		uint64_t sum, addr;
		int err = vsvm_fill(r->dev, r->vm, r->region, 3, r->size);
		bool ok;

		if (!err) {
			err = vsvm_checksum(r->dev, r->vm, r->region, r->size, &sum);
			/* A read never meets read-only memory. */
			ok = err == -EFAULT;
		} else {
			ok = err == -EFAULT || err == -EACCES;
		}
		if (!err) {
			r->done++;
			continue;
		}
		addr = vsvm_last_fault_addr();
		if (err == -EACCES)
			ok = addr >= start && addr < start + r->size / 2;
		else if (ok)
			ok = addr >= start && addr < start + r->size;
		if (ok) {
			r->failed++;
		} else {
			r->bad_errno = err;
			r->bad_addr = addr;
		}
	}
	return NULL;
}

/*
 * The CPU keeps unmapping, remapping, protecting and discarding a region
 * while GPU jobs (two devices when present) run on it: jobs only ever fail
 * cleanly, and afterwards the GPU sees exactly what the CPU sees.
 */
TEST_F_TIMEOUT(vsvm, cpu_changes_racing_gpu_jobs, 120)
{
	const size_t size = 4 * SZ_1M;
	char *region = map_anon(size);
	struct vsvm_dev dev1;
	struct racer r[2];
	volatile int stop = 0;
	struct timespec t0, t1;
	pthread_t t[2];
	int i, n = self->dev.info.num_devices > 1 ? 2 : 1;
	uint32_t vm1 = 0;
	uint64_t sum;

	ASSERT_NE(NULL, region);
	if (n > 1) {
		ASSERT_EQ(0, vsvm_open(1, &dev1));
		ASSERT_EQ(0, vsvm_vm_create(&dev1, &vm1));
	}
	for (i = 0; i < n; i++) {
		r[i] = (struct racer){ i ? &dev1 : &self->dev, i ? vm1 : self->vm,
				       region, size, &stop, 0, 0, 0, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, gpu_racer, &r[i]));
	}
	/*
	 * 150 rounds, or as many as fit in 40 s (at least 20): the KASAN
	 * kernel is about seven times slower.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 150; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (i >= 20 && t1.tv_sec - t0.tv_sec >= 40)
			break;
		munmap(region, size);
		ASSERT_EQ(region, mmap(region, size, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		memset(region + (i % 4) * SZ_1M, i, SZ_64K);
		mprotect(region, size / 2, PROT_READ);
		mprotect(region, size / 2, PROT_READ | PROT_WRITE);
		madvise(region + SZ_1M, SZ_1M, MADV_DONTNEED);
	}
	stop = 1;
	TH_LOG("%d rounds of munmap, mmap, mprotect and madvise", i);
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, r[i].bad_errno)
			TH_LOG("device %d: %ld at offset %#lx", i, r[i].bad_errno,
			       (unsigned long)(r[i].bad_addr - (uintptr_t)region));
		TH_LOG("device %d: %ld job pairs ok, %ld failed cleanly", i,
		       r[i].done, r[i].failed);
	}
	/* Afterwards every device writes and reads the whole region. */
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, vsvm_fill(r[i].dev, r[i].vm, region, 9 + i, size));
		EXPECT_EQ(-1, first_diff(region, 9 + i, size));
	}
	fill_pattern(region, size, 7);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, vsvm_checksum(r[i].dev, r[i].vm, region, size, &sum));
		EXPECT_EQ(vsvm_fnv1a(region, size), sum);
	}
	if (n > 1) {
		EXPECT_EQ(0, vsvm_vm_destroy(&dev1, vm1));
		vsvm_close(&dev1);
	}
	munmap(region, size);
}

TEST_F(vsvm, async_submit_and_wait)
{
	char *p = map_anon(SZ_1M);
	struct drm_vsvm_job jobs[2] = {
		{ .op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)p, .size = SZ_1M, .value = 0x21 },
		{ .op = DRM_VSVM_OP_CHECKSUM, .src = (uintptr_t)p, .size = SZ_1M },
	};
	uint64_t seqno;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_submit(&self->dev, self->vm, jobs, 2, &seqno));
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno, 10000000000LL));
	EXPECT_EQ(0, jobs[0].status);
	EXPECT_EQ(0, jobs[1].status);
	EXPECT_EQ(vsvm_fnv1a(p, SZ_1M), jobs[1].result);
	EXPECT_EQ(-1, first_diff(p, 0x21, SZ_1M));
	EXPECT_EQ(-ENOENT, vsvm_wait(&self->dev, self->vm, seqno, 0));
	EXPECT_EQ(-ENOENT, vsvm_wait(&self->dev, self->vm, seqno + 100, 0));
	munmap(p, SZ_1M);
}

/* A job failing cancels the ones after it. */
TEST_F(vsvm, failed_job_cancels_rest)
{
	char *p = map_anon(SZ_64K);
	struct drm_vsvm_job jobs[3] = {
		{ .op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)p, .size = SZ_4K, .value = 1 },
		{ .op = DRM_VSVM_OP_FILL, .dst = 4096, .size = SZ_4K, .value = 2 },
		{ .op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)p, .size = SZ_4K, .value = 3 },
	};

	ASSERT_NE(NULL, p);
	EXPECT_EQ(-EFAULT, vsvm_exec(&self->dev, self->vm, jobs, 3));
	EXPECT_EQ(0, jobs[0].status);
	EXPECT_EQ(-EFAULT, jobs[1].status);
	EXPECT_EQ(4096, jobs[1].fault_addr);
	EXPECT_EQ(-ECANCELED, jobs[2].status);
	EXPECT_EQ(-1, first_diff(p, 1, SZ_4K));
	munmap(p, SZ_64K);
}

static void submit_big_jobs(struct vsvm_dev *dev, uint32_t vm, char *p,
			    size_t size)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)p, .size = size, .value = 1,
	};
	uint64_t seqno;
	int i;

	for (i = 0; i < 4; i++)
		vsvm_submit(dev, vm, &job, 1, &seqno);
}

TEST_F(vsvm, exit_close_destroy_with_jobs_in_flight)
{
	size_t size = 64 * SZ_1M;
	struct vsvm_dev dev;
	char *p = map_anon(size);
	int status;
	uint32_t vm;
	pid_t pid;

	ASSERT_NE(NULL, p);
	/* Process exit. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (vsvm_open(0, &dev) || vsvm_vm_create(&dev, &vm))
			_exit(1);
		submit_big_jobs(&dev, vm, p, size);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* File close. */
	ASSERT_EQ(0, vsvm_open(0, &dev));
	ASSERT_EQ(0, vsvm_vm_create(&dev, &vm));
	submit_big_jobs(&dev, vm, p, size);
	vsvm_close(&dev);

	/* VM destroy. */
	ASSERT_EQ(0, vsvm_open(0, &dev));
	ASSERT_EQ(0, vsvm_vm_create(&dev, &vm));
	submit_big_jobs(&dev, vm, p, size);
	EXPECT_EQ(0, vsvm_vm_destroy(&dev, vm));
	EXPECT_EQ(-ENOENT, vsvm_vm_destroy(&dev, vm));
	vsvm_close(&dev);

	/* The device still works. */
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, SZ_1M, 0x10));
	munmap(p, size);
}

TEST_F(vsvm, userptr_bound_elsewhere)
{
	char *buf = map_anon(SZ_1M), *gpu;
	uint32_t handle;
	uint64_t sum;

	ASSERT_NE(NULL, buf);
	/* A GPU VA the process has reserved but cannot touch. */
	gpu = mmap(NULL, SZ_1M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, gpu);
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, buf, SZ_1M, 0,
					 &handle));
	EXPECT_NE(0, handle);
	/* Unbound, the GPU VA is the process's PROT_NONE memory. */
	EXPECT_EQ(-EPERM, vsvm_fill(&self->dev, self->vm, gpu, 1, SZ_4K));
	ASSERT_EQ(0, vsvm_userptr_bind(&self->dev, self->vm, handle,
				       (uintptr_t)gpu));
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, gpu, 0x71, SZ_1M));
	EXPECT_EQ(-1, first_diff(buf, 0x71, SZ_1M));
	fill_pattern(buf, SZ_1M, 4);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, gpu, SZ_1M, &sum));
	EXPECT_EQ(vsvm_fnv1a(buf, SZ_1M), sum);

	/* CPU munmap of the buffer invalidates the userptr. */
	ASSERT_EQ(0, munmap(buf, SZ_1M));
	EXPECT_EQ(-EFAULT, vsvm_fill(&self->dev, self->vm, gpu, 1, SZ_4K));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	EXPECT_EQ(-ENOENT, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	munmap(gpu, SZ_1M);
}

TEST_F(vsvm, userptr_independent_of_ranges)
{
	char *buf = map_anon(SZ_2M), *gpu;
	uint32_t handle;
	uint64_t before, sum;

	ASSERT_NE(NULL, buf);
	gpu = mmap(NULL, SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, gpu);
	/* The SVM maps the buffer by its CPU address ... */
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, buf, 5, SZ_2M));
	/* ... and a userptr mirrors the same memory elsewhere. */
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, buf, SZ_2M, 0,
					 &handle));
	ASSERT_EQ(0, vsvm_userptr_bind(&self->dev, self->vm, handle,
				       (uintptr_t)gpu));
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, gpu, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(buf, SZ_2M), sum);

	/* Destroying the userptr leaves the SVM mapping alone. */
	ASSERT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	before = faults_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, buf, 6, SZ_2M));
	EXPECT_EQ(before, faults_of(&self->dev, self->vm));
	EXPECT_EQ(-1, first_diff(buf, 6, SZ_2M));

	/* And the SVM's ranges going away leaves a userptr working. */
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, buf, SZ_2M, 0,
					 &handle));
	ASSERT_EQ(0, vsvm_userptr_bind(&self->dev, self->vm, handle,
				       (uintptr_t)gpu));
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, buf, SZ_2M,
				   DRM_VSVM_ATTR_READ_ONLY, 1));
	EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, gpu, 8, SZ_2M));
	EXPECT_EQ(-1, first_diff(buf, 8, SZ_2M));
	EXPECT_EQ(-EACCES, vsvm_fill(&self->dev, self->vm, buf, 9, SZ_4K));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	munmap(buf, SZ_2M);
	munmap(gpu, SZ_2M);
}

TEST_F(vsvm, userptr_read_only)
{
	char *buf = map_anon(SZ_64K), *gpu;
	uint32_t handle;
	uint64_t sum;

	ASSERT_NE(NULL, buf);
	gpu = mmap(NULL, SZ_64K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, gpu);
	memset(buf, 0x2a, SZ_64K);
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, buf, SZ_64K,
					 DRM_VSVM_USERPTR_READ_ONLY, &handle));
	ASSERT_EQ(0, vsvm_userptr_bind(&self->dev, self->vm, handle,
				       (uintptr_t)gpu));
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, gpu, SZ_64K, &sum));
	EXPECT_EQ(vsvm_fnv1a(buf, SZ_64K), sum);
	EXPECT_EQ(-EACCES, vsvm_fill(&self->dev, self->vm, gpu, 1, SZ_64K));
	EXPECT_EQ(-1, first_diff(buf, 0x2a, SZ_64K));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	munmap(buf, SZ_64K);
	munmap(gpu, SZ_64K);
}

static int raw_ioctl(struct vsvm_dev *dev, unsigned long req, void *arg)
{
	return ioctl(dev->fd, req, arg) ? -errno : 0;
}

TEST_F(vsvm, uapi_rejects_bad_arguments)
{
	char *p = map_anon(SZ_64K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)p,
				    .size = SZ_4K };
	struct drm_vsvm_exec exec = { .vm_id = self->vm, .num_jobs = 1,
				      .jobs = (uintptr_t)&job };
	struct drm_vsvm_vm_create create = { .flags = 1 };
	struct drm_vsvm_wait wait = { .vm_id = self->vm, .flags = 1 };
	struct drm_vsvm_set_attr attr = { .vm_id = self->vm,
					  .attr = DRM_VSVM_ATTR_READ_ONLY,
					  .start = (uintptr_t)p, .size = SZ_4K };
	struct drm_vsvm_prefetch pf = { .vm_id = self->vm, .start = (uintptr_t)p,
					.size = SZ_4K };
	struct drm_vsvm_userptr_create uc = { .vm_id = self->vm,
					      .addr = (uintptr_t)p, .size = SZ_4K };
	struct drm_vsvm_stats stats = { .vm_id = self->vm, .pad = 1 };
	uint32_t handle;

	ASSERT_NE(NULL, p);
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_VM_CREATE, &create));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_WAIT, &wait));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_STATS, &stats));

	/* exec: VM, flags, counts, pointers, jobs */
	exec.vm_id = 12345;
	EXPECT_EQ(-ENOENT, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.vm_id = self->vm;
	exec.flags = 0x80;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.flags = 0;
	exec.pad = 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.pad = 0;
	exec.num_jobs = 0;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.num_jobs = self->dev.info.max_jobs + 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.num_jobs = 1;
	exec.jobs = 8;
	EXPECT_EQ(-EFAULT, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.jobs = (uintptr_t)&job;
	job.op = 77;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	job.op = DRM_VSVM_OP_FILL;
	job.value = 256;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	job.value = 0;
	job.flags = 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	job.flags = 0;
	job.dst = ~0ULL - 10;
	job.size = 100;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	job = (struct drm_vsvm_job){ .op = DRM_VSVM_OP_ATOMIC_ADD,
				     .dst = (uintptr_t)p + 4, .size = 8 };
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	job.dst = (uintptr_t)p;
	job.size = 12;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));

	/* set_attr, prefetch */
	attr.reserved = 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_SET_ATTR, &attr));
	attr.reserved = 0;
	attr.start += 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_SET_ATTR, &attr));
	attr.start -= 1;
	attr.size = 0;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_SET_ATTR, &attr));
	attr.size = ~0ULL & ~(SZ_4K - 1);
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_SET_ATTR, &attr));
	pf.devices = 1ULL << self->dev.info.num_devices;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_PREFETCH, &pf));
	pf.devices = 1ULL << 63;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_PREFETCH, &pf));
	pf.devices = 0;
	pf.region = 7;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_PREFETCH, &pf));
	pf.region = 0;
	pf.size = 100;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_PREFETCH, &pf));

	/* userptr */
	uc.flags = 2;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_USERPTR_CREATE, &uc));
	uc.flags = 0;
	uc.pad = 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_USERPTR_CREATE, &uc));
	uc.pad = 0;
	uc.addr += 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_USERPTR_CREATE, &uc));
	uc.addr -= 1;
	uc.size = 512UL << 20;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_USERPTR_CREATE, &uc));
	EXPECT_EQ(-EINVAL, vsvm_userptr_create(&self->dev, self->vm, p, 0, 0, &handle));
	EXPECT_EQ(-ENOENT, vsvm_userptr_bind(&self->dev, self->vm, 999, (uintptr_t)p));
	EXPECT_EQ(-ENOENT, vsvm_userptr_destroy(&self->dev, self->vm, 999));
	EXPECT_EQ(-ENOENT, vsvm_vm_destroy(&self->dev, 999));

	/* Nothing broke: the VM still works. */
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, SZ_64K, 0x5e));
	munmap(p, SZ_64K);
}

TEST_F(vsvm, stats_and_garbage_collection)
{
	struct drm_vsvm_stats s0, s1, s2;
	char *p = map_anon(SZ_1M);
	int i;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_stats(&self->dev, self->vm, &s0));
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 1, SZ_1M));
	ASSERT_EQ(0, vsvm_stats(&self->dev, self->vm, &s1));
	EXPECT_GT(s1.faults, s0.faults);
	EXPECT_GT(s1.pages_mapped, s0.pages_mapped);
	EXPECT_GE(s1.pages_mapped - s0.pages_mapped, SZ_1M / SZ_4K);
	EXPECT_NE(0, s1.ranges_live);
	EXPECT_GT(s1.ranges_created, s0.ranges_created);
	EXPECT_EQ(s0.jobs + 1, s1.jobs);
	EXPECT_GE(s1.bytes_moved - s0.bytes_moved, SZ_1M);

	ASSERT_EQ(0, munmap(p, SZ_1M));
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, vsvm_stats(&self->dev, self->vm, &s2));
		if (s2.gc_ranges > s1.gc_ranges)
			break;
		usleep(10000);
	}
	EXPECT_GT(s2.invalidations, s1.invalidations);
	EXPECT_GT(s2.gc_ranges, s1.gc_ranges);
	EXPECT_LT(s2.ranges_live, s1.ranges_live);
	EXPECT_LE(s2.pages_mapped, s1.pages_mapped - SZ_1M / SZ_4K);
}

#define TRACING "/sys/kernel/tracing"

TEST_F(vsvm, tracepoints)
{
	static char trace[1 << 20];
	char *p;

	mount("tracefs", TRACING, "tracefs", 0, NULL);
	if (access(TRACING "/events/vsvm/enable", W_OK))
		SKIP(return, "no tracefs vsvm events");
	ASSERT_EQ(0, sysfile_write(TRACING "/trace", ""));
	ASSERT_EQ(0, sysfile_write(TRACING "/events/vsvm/enable", "1"));
	p = map_anon(SZ_64K);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 1, SZ_64K));
	munmap(p, SZ_64K);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, data_buf, 1, SZ_4K));
	ASSERT_EQ(0, sysfile_write(TRACING "/events/vsvm/enable", "0"));
	ASSERT_GT(sysfile_read(TRACING "/trace", trace, sizeof(trace)), 0);
	EXPECT_NE(NULL, strstr(trace, "vsvm_fault:"));
	EXPECT_NE(NULL, strstr(trace, "vsvm_bind:"));
	EXPECT_NE(NULL, strstr(trace, "vsvm_invalidate:"));
	EXPECT_NE(NULL, strstr(trace, "vsvm_gc:"));
}

TEST_F(vsvm, debugfs_stats)
{
	char buf[8192];
	glob_t g;

	if (glob("/sys/kernel/debug/dri/*/vsvm_stats", 0, NULL, &g))
		SKIP(return, "no debugfs");
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, data_buf, 2, SZ_4K));
	ASSERT_GT(sysfile_read(g.gl_pathv[0], buf, sizeof(buf)), 0);
	EXPECT_NE(NULL, strstr(buf, "faults"));
	EXPECT_NE(NULL, strstr(buf, "bytes_mapped"));
	EXPECT_NE(NULL, strstr(buf, "vm "));
	globfree(&g);
}

/* ---- Device memory (VRAM): skipped when the device has none ---- */

static struct drm_vsvm_stats stats_of(struct vsvm_dev *dev, uint32_t vm)
{
	struct drm_vsvm_stats s;

	memset(&s, 0, sizeof(s));
	vsvm_stats(dev, vm, &s);
	return s;
}

#define NEED_VRAM() do { \
	if (!self->dev.info.vram_size) \
		SKIP(return, "no device memory"); \
} while (0)

TEST_F(vsvm, vram_migrate_then_cpu_access)
{
	const size_t size = 4 * SZ_1M;
	char *p = map_anon(size);
	struct drm_vsvm_stats s0, s1, s2;
	uint64_t sum;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	fill_pattern(p, size, 11);
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GE(s1.vram_pages_in - s0.vram_pages_in, size / SZ_4K);
	EXPECT_GE(s1.vram_used, size);
	/* The device works on its VRAM copy... */
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x5d, size));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s1.vram_pages_out, s2.vram_pages_out);
	/* ... and a CPU touch brings the data back. */
	EXPECT_EQ(-1, first_diff(p, 0x5d, size));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_GE(s2.vram_pages_out - s1.vram_pages_out, size / SZ_4K);
	fill_pattern(p, size, 12);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, size), sum);
	munmap(p, size);
}

/*
 * A prefetch moves what it names: one page of a 2 MiB region goes to VRAM
 * alone, not the chunk around it, so the CPU writes its neighbours in system
 * memory without invalidating its GPU mapping, and the GPU's write takes no
 * fault. (With the 2 MiB range around the page, the neighbours moved too,
 * and the CPU's write brought them back, invalidating the range: the xe
 * matrix's malloc_prefetch cases faulted so now and then, when the heap's
 * thread control block, read at every return to user space, was in the
 * 64 KiB chunk around their buffer.)
 */
TEST_F(vsvm, vram_prefetch_moves_only_its_interval)
{
	char *resv = map_anon(2 * SZ_2M), *p, *page;
	struct drm_vsvm_stats s0, s1, s2;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	p = align_2m(resv);
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_NOHUGEPAGE));
	memset(p, 3, SZ_2M);
	page = p + SZ_64K + SZ_4K;
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, page, SZ_4K,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(1, s1.vram_pages_in - s0.vram_pages_in);
	EXPECT_EQ(s0.vram_used + SZ_4K, s1.vram_used);
	page[-1] = 4;
	page[SZ_4K] = 4;
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s1.vram_pages_out, s2.vram_pages_out);
	EXPECT_EQ(s1.invalidations, s2.invalidations);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, page, 5, SZ_4K));
	EXPECT_EQ(s1.faults, faults_of(&self->dev, self->vm));
	EXPECT_EQ(-1, first_diff(page, 5, SZ_4K));
	EXPECT_EQ(-1, first_diff(p, 3, SZ_64K + SZ_4K - 1));
	EXPECT_EQ(4, page[-1]);
	EXPECT_EQ(4, page[SZ_4K]);
	EXPECT_EQ(-1, first_diff(page + SZ_4K + 1, 3,
				 SZ_2M - SZ_64K - 2 * SZ_4K - 1));
	munmap(resv, 2 * SZ_2M);
}

/*
 * A prefetch inside a range a GPU fault made keeps that range and moves it
 * whole: no new range, all 512 pages in VRAM, and the next GPU access of the
 * 2 MiB takes no fault. (Passing the prefetch's interval as the bounds of
 * drm_gpusvm_range_find_or_insert() retired the range instead: a 4 KiB one
 * replaced it, and the rest faulted again.)
 */
TEST_F(vsvm, vram_prefetch_inside_faulted_range_moves_it_whole)
{
	char *resv = map_anon(2 * SZ_2M), *p;
	struct drm_vsvm_stats s0, s1, s2;
	uint64_t sum;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	p = align_2m(resv);
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_NOHUGEPAGE));
	fill_pattern(p, SZ_2M, 41);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, SZ_2M), sum);
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p + SZ_64K + SZ_4K,
				   SZ_4K, DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s0.ranges_created, s1.ranges_created);
	EXPECT_EQ(SZ_2M / SZ_4K, s1.vram_pages_in - s0.vram_pages_in);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s1.faults, s2.faults);
	EXPECT_EQ(s1.ranges_created, s2.ranges_created);
	EXPECT_EQ(vsvm_fnv1a(p, SZ_2M), sum);
	munmap(resv, 2 * SZ_2M);
}

TEST_F(vsvm, vram_preferred_location_on_fault)
{
	char *p = map_anon(SZ_2M);
	struct drm_vsvm_stats s0, s1;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	memset(p, 1, SZ_2M);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, SZ_2M,
				   DRM_VSVM_ATTR_PREFERRED_LOC, DRM_VSVM_LOC_DEVICE));
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 2, SZ_2M));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GE(s1.vram_pages_in - s0.vram_pages_in, SZ_2M / SZ_4K);
	EXPECT_EQ(-1, first_diff(p, 2, SZ_2M));
	munmap(p, SZ_2M);
}

/*
 * A GPU refault on data already in VRAM migrates nothing and allocates no
 * VRAM: with VRAM full, an allocation would have to evict something.
 */
TEST_F_TIMEOUT(vsvm, vram_resident_refault_moves_nothing, 300)
{
	size_t size = self->dev.info.vram_size + 4 * SZ_1M;
	struct drm_vsvm_stats s1, s2;
	char *p, *tail;
	uint64_t sum;

	NEED_VRAM();
	p = map_anon(size);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC, DRM_VSVM_LOC_DEVICE));
	/* Fills VRAM (and evicts the start of the buffer). */
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 7, size));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GT(s1.vram_evictions, 0);
	/* The tail, written last, is resident: drop only its GPU mapping. */
	tail = (char *)(((unsigned long)p + size - 8 * SZ_1M) & ~(SZ_2M - 1));
	ASSERT_EQ(0, mprotect(tail, 4 * SZ_1M, PROT_READ));
	ASSERT_EQ(0, mprotect(tail, 4 * SZ_1M, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, tail, 4 * SZ_1M, &sum));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_GT(s2.faults, s1.faults);
	EXPECT_EQ(s1.vram_pages_in, s2.vram_pages_in);
	EXPECT_EQ(s1.vram_evictions, s2.vram_evictions);
	EXPECT_EQ(s1.vram_pages_out, s2.vram_pages_out);
	EXPECT_EQ(-1, first_diff(tail, 7, 4 * SZ_1M));
	munmap(p, size);
}

TEST_F(vsvm, vram_fork)
{
	const size_t size = SZ_2M;
	char *p = map_anon(size), *ref = malloc(size);
	int status;
	pid_t pid;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	fill_pattern(p, size, 21);
	memcpy(ref, p, size);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (memcmp(p, ref, size))
			_exit(1);
		memset(p, 'c', size);
		_exit(first_diff(p, 'c', size) >= 0 ? 2 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, memcmp(p, ref, size));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, size, 0x22));
	free(ref);
	munmap(p, size);
}

/*
 * A prefetch to VRAM of memory a live child shares copy-on-write: the
 * parent's write breaks the sharing, and the parent's own copy ends in VRAM
 * (all 16 pages), while the child keeps the old data in system memory.
 */
TEST_F(vsvm, vram_prefetch_of_cow_shared_memory_moves_own_copy)
{
	const size_t size = SZ_64K;
	struct drm_vsvm_stats s0, s1;
	int to_child[2], status;
	char *p = map_anon(size), c;
	pid_t pid;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	memset(p, 0x5a, size);
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (read(to_child[0], &c, 1) != 1)
			_exit(10);
		_exit(first_diff(p, 0x5a, size) >= 0 ? 11 : 0);
	}
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s0.vram_used + size, s1.vram_used);
	/* The parent's copy, written by its GPU, in VRAM. */
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0xa5, size));
	EXPECT_EQ(s1.faults, stats_of(&self->dev, self->vm).faults);
	EXPECT_EQ(-1, first_diff(p, 0xa5, size));
	ASSERT_EQ(1, write(to_child[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(to_child[0]);
	close(to_child[1]);
	munmap(p, size);
}

/*
 * A page shared copy-on-write after fork() is one page in every process
 * mapping it: migrating it for one process (its prefetch to VRAM) unmaps it
 * from all of them, so the other process's GPU mapping of it is invalidated
 * and its next access faults, with the right data.
 */
TEST_F(vsvm, vram_migrating_cow_page_invalidates_other_process)
{
	int to_child[2], to_parent[2], status;
	char *p = map_anon(SZ_4K), c;
	pid_t pid;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	fill_pattern(p, SZ_4K, 59);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct drm_vsvm_stats s0, s1;
		struct vsvm_dev dev;
		uint64_t sum, want = vsvm_fnv1a(p, SZ_4K);
		uint32_t vm;
		int ret = 0;

		/* The child's own VM mirrors the child: map the shared page. */
		if (vsvm_open(0, &dev) || vsvm_vm_create(&dev, &vm) ||
		    vsvm_checksum(&dev, vm, p, SZ_4K, &sum) || sum != want)
			_exit(10);
		s0 = stats_of(&dev, vm);
		if (write(to_parent[1], "m", 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(11);
		/* The parent migrated the page meanwhile. */
		s1 = stats_of(&dev, vm);
		if (s1.invalidations - s0.invalidations != 1 || s1.pages_mapped)
			ret = 12;
		else if (vsvm_checksum(&dev, vm, p, SZ_4K, &sum) || sum != want)
			ret = 13;
		else if (stats_of(&dev, vm).faults - s1.faults != 1)
			ret = 14;
		vsvm_vm_destroy(&dev, vm);
		vsvm_close(&dev);
		_exit(ret);
	}
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, SZ_4K,
				   DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(1, write(to_child[1], "p", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	munmap(p, SZ_4K);
}

/* Forks until told to stop; each child exits at once. */
static void *forker_thread(void *arg)
{
	volatile bool *stop = arg;
	unsigned long n = 0;

	while (!*stop) {
		pid_t pid = fork();

		if (!pid)
			_exit(0);
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			return NULL;
		n++;
	}
	return (void *)n;
}

/*
 * GPU writes to VRAM-preferred memory while another thread forks: each fork()
 * write-protects the VRAM pages (copy-on-write), so a GPU write fault finds
 * read-only device pages, brings them back to system memory and breaks COW
 * there. A fork() landing after that, while the fault moved the pages to
 * VRAM again, used to make the write fail with -EACCES on writable memory.
 */
TEST_F(vsvm, vram_gpu_writes_while_forking)
{
	const size_t size = SZ_2M;
	volatile bool stop = false;
	char *p = map_anon(size);
	struct timespec t0, t1 = { 0 };
	int i, err, last = 0;
	void *forks = NULL;
	pthread_t t;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	memset(p, 0, size);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC, DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(0, pthread_create(&t, NULL, forker_thread, (void *)&stop));
	/* 40 fills, or 5 s: the unfixed driver failed within the first few. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i <= 40; i++) {
		err = vsvm_fill(&self->dev, self->vm, p, i, size);
		if (err) {
			TH_LOG("fill %d: %s at %#lx", i, strerror(-err),
			       (unsigned long)vsvm_last_fault_addr());
			break;
		}
		last = i;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec >= 5)
			break;
	}
	stop = true;
	pthread_join(t, &forks);
	TH_LOG("%d fills, %lu forks in %ld s", last, (unsigned long)forks,
	       (long)(t1.tv_sec - t0.tv_sec));
	EXPECT_EQ(0, err);
	EXPECT_GT((unsigned long)forks, 0);
	if (!err)
		EXPECT_EQ(-1, first_diff(p, last, size));
	munmap(p, size);
}

TEST_F(vsvm, vram_munmap_frees_it)
{
	const size_t size = 4 * SZ_1M;
	char *p = map_anon(size);
	struct drm_vsvm_stats s0, s1, s2;
	int i;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	memset(p, 3, size);
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GE(s1.vram_used - s0.vram_used, size);
	ASSERT_EQ(0, munmap(p, size));
	for (i = 0; i < 100; i++) {
		s2 = stats_of(&self->dev, self->vm);
		if (s2.vram_used <= s0.vram_used)
			break;
		usleep(10000);
	}
	EXPECT_LE(s2.vram_used, s0.vram_used);
	EXPECT_EQ(-EFAULT, vsvm_fill(&self->dev, self->vm, p, 1, SZ_4K));
	ASSERT_EQ(p, mmap(p, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	EXPECT_EQ(-1, first_diff(p, 0, size));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, size, 4));
	munmap(p, size);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25	/* Linux 6.1; glibc 2.36 does not name it */
#endif

/*
 * A THP collapse (MADV_COLLAPSE here, or khugepaged) swaps in every
 * non-present entry of the 2 MiB it collapses, device-private ones included:
 * do_swap_page() calls migrate_to_ram(), a CPU access by the kernel. The
 * prefetched pages come back to system memory in the huge page, the GPU
 * mapping goes, and the next GPU access faults and sees exact data.
 * khugepaged does it on its own to a 2 MiB with at most 64 non-present and
 * at least 256 recently used pages (its defaults): a heap, say.
 */
TEST_F(vsvm, vram_thp_collapse_brings_pages_back)
{
	const size_t size = 16 * SZ_4K;
	char *resv = map_anon(2 * SZ_2M), *p, *ref = malloc(size);
	struct drm_vsvm_stats sb, s0, s1, s2;
	uint64_t sum;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	ASSERT_NE(NULL, ref);
	p = align_2m(resv);
	/* Small pages first: no huge page at the first touch. */
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_NOHUGEPAGE));
	fill_pattern(p, size, 31);
	memcpy(ref, p, size);
	/* A collapse needs one present, writable page in the 2 MiB. */
	p[SZ_1M] = 1;
	/* An attribute of its own: a range of these 16 pages, not 2 MiB. */
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_DEVICE));
	sb = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	s0 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(size / SZ_4K, s0.vram_pages_in - sb.vram_pages_in);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s0.faults, s1.faults);	/* the prefetch mapped it */
	EXPECT_EQ(s0.vram_pages_out, s1.vram_pages_out);

	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_HUGEPAGE));
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_COLLAPSE))
		TH_LOG("MADV_COLLAPSE: %s", strerror(errno));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(size / SZ_4K, s2.vram_pages_out - s1.vram_pages_out);
	EXPECT_LT(s1.invalidations, s2.invalidations);
	EXPECT_EQ(0, s2.pages_mapped);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, size), sum);
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_LT(s1.faults, s2.faults);
	EXPECT_EQ(0, memcmp(p, ref, size));
	free(ref);
	munmap(resv, 2 * SZ_2M);
}

TEST_F(vsvm, vram_mprotect)
{
	char *p = map_anon(SZ_2M);
	uint64_t sum;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	memset(p, 0x4c, SZ_2M);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, SZ_2M,
				   DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(0, mprotect(p, SZ_2M, PROT_READ));
	EXPECT_EQ(-EACCES, vsvm_fill(&self->dev, self->vm, p, 1, SZ_2M));
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	EXPECT_EQ(-1, first_diff(p, 0x4c, SZ_2M));
	EXPECT_EQ(vsvm_fnv1a(p, SZ_2M), sum);
	ASSERT_EQ(0, mprotect(p, SZ_2M, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, p, SZ_2M, 5));
	munmap(p, SZ_2M);
}

TEST_F_TIMEOUT(vsvm, vram_exhaustion_evicts, 300)
{
	size_t size = self->dev.info.vram_size + 16 * SZ_1M, off;
	struct drm_vsvm_stats s0, s1;
	char *p;
	int bad = 0;

	NEED_VRAM();
	p = map_anon(size);
	ASSERT_NE(NULL, p);
	for (off = 0; off < size; off += SZ_4K)
		*(uint64_t *)(p + off) = off;
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GT(s1.vram_evictions, s0.vram_evictions);
	EXPECT_LE(s1.vram_used, self->dev.info.vram_size);
	for (off = 0; off < size; off += SZ_4K)
		bad += *(uint64_t *)(p + off) != off;
	EXPECT_EQ(0, bad);
	munmap(p, size);
}

TEST_F(vsvm, vram_partly_populated_vma)
{
	char *resv = map_anon(2 * SZ_2M), *p, *ref;
	struct drm_vsvm_stats s0, s1;
	uint64_t sum;
	size_t off;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	p = align_2m(resv);
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_NOHUGEPAGE));
	/* Every other 64 KiB written by the CPU, the rest never touched. */
	for (off = 0; off < SZ_2M; off += 2 * SZ_64K)
		fill_pattern(p + off, SZ_64K, off >> 16);
	ref = malloc(SZ_2M);
	ASSERT_NE(NULL, ref);
	memset(ref, 0, SZ_2M);
	for (off = 0; off < SZ_2M; off += 2 * SZ_64K)
		fill_pattern(ref + off, SZ_64K, off >> 16);
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, SZ_2M,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(SZ_2M / SZ_4K, s1.vram_pages_in - s0.vram_pages_in);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, SZ_2M), sum);
	EXPECT_EQ(0, memcmp(p, ref, SZ_2M));
	free(ref);
	munmap(resv, 2 * SZ_2M);
}

struct migrator {
	struct vsvm_dev *dev;
	uint32_t vm;
	char *p;
	size_t size;
	int err;
};

static void *migrate_thread(void *arg)
{
	struct migrator *m = arg;
	int i;

	for (i = 0; i < 30 && !m->err; i++)
		m->err = vsvm_prefetch(m->dev, m->vm, m->p, m->size,
				       DRM_VSVM_LOC_DEVICE);
	return NULL;
}

TEST_F_TIMEOUT(vsvm, vram_cpu_faults_race_migration, 120)
{
	const size_t size = 4 * SZ_1M;
	struct migrator m;
	char *p = map_anon(size);
	pthread_t t;
	size_t off;
	uint64_t sum;
	int iter, bad = 0;

	NEED_VRAM();
	ASSERT_NE(NULL, p);
	m = (struct migrator){ &self->dev, self->vm, p, size, 0 };
	ASSERT_EQ(0, pthread_create(&t, NULL, migrate_thread, &m));
	for (iter = 0; iter < 20; iter++)
		for (off = 0; off < size; off += SZ_4K)
			*(uint64_t *)(p + off) = iter + off;
	pthread_join(t, NULL);
	EXPECT_EQ(0, m.err);
	for (off = 0; off < size; off += SZ_4K)
		bad += *(uint64_t *)(p + off) != 19 + off;
	EXPECT_EQ(0, bad);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, size), sum);
	munmap(p, size);
}

/* Device 1 reading what device 0 wrote into its VRAM gets the new data. */
TEST_F(vsvm, vram_other_device_never_stale)
{
	char *p = map_anon(SZ_2M), *ref = malloc(SZ_2M);
	struct vsvm_dev dev1;
	uint64_t sum;
	uint32_t vm1;

	NEED_VRAM();
	NEED_TWO_DEVICES();
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_open(1, &dev1));
	ASSERT_EQ(0, vsvm_vm_create(&dev1, &vm1));
	memset(p, 1, SZ_2M);
	ASSERT_EQ(0, vsvm_checksum(&dev1, vm1, p, SZ_2M, &sum));
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, SZ_2M,
				   DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x77, SZ_2M));
	memset(ref, 0x77, SZ_2M);
	ASSERT_EQ(0, vsvm_checksum(&dev1, vm1, p, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, SZ_2M), sum);
	/* Device 1 writes, device 0 (whose VRAM had it) reads. */
	ASSERT_EQ(0, vsvm_fill(&dev1, vm1, p, 0x78, SZ_2M));
	memset(ref, 0x78, SZ_2M);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, SZ_2M), sum);
	EXPECT_EQ(-1, first_diff(p, 0x78, SZ_2M));
	EXPECT_EQ(0, vsvm_vm_destroy(&dev1, vm1));
	vsvm_close(&dev1);
	free(ref);
	munmap(p, SZ_2M);
}

/* --- Devices 0 and 1 sharing one buffer: peer access, prefetch for both --- */

/*
 * Whether devices 0 and 1 are on one interconnect (vsvm's interconnect
 * parameter has both bits).
 */
static bool devices_0_1_on_interconnect(void)
{
	char param[32];

	return read_param("interconnect", param, sizeof(param)) > 0 &&
	       (strtoul(param, NULL, 0) & 3) == 3;
}

/*
 * What the tests of devices 0 and 1 sharing one buffer set up alike, so that
 * each shows only its own scenario: device 1 beside the fixture's device 0,
 * and the buffer.
 */
struct two_devices {
	struct vsvm_dev dev1;
	uint32_t vm1;		/* a VM on device 1, if has_vm1 */
	bool has_vm1;
	char *p;		/* 2 MiB, 2 MiB-aligned: one range */
	char *ref;		/* a copy of its pattern */
	uint64_t want;		/* the checksum of its pattern */
};

/*
 * Open device 1, with a VM there if @make_vm1 (else the test makes its own),
 * and map the buffer without THP (its 512 pages move one by one), holding
 * fill_pattern(@seed).
 */
static void two_devices_setup(struct __test_metadata *_metadata,
			      struct two_devices *t, unsigned int seed,
			      bool make_vm1)
{
	memset(t, 0, sizeof(*t));
	t->ref = malloc(SZ_2M);
	ASSERT_NE(NULL, t->ref);
	t->p = map_2m_aligned();
	ASSERT_NE(NULL, t->p);
	ASSERT_EQ(0, madvise(t->p, SZ_2M, MADV_NOHUGEPAGE));
	fill_pattern(t->p, SZ_2M, seed);
	memcpy(t->ref, t->p, SZ_2M);
	t->want = vsvm_fnv1a(t->p, SZ_2M);
	ASSERT_EQ(0, vsvm_open(1, &t->dev1));
	if (make_vm1) {
		ASSERT_EQ(0, vsvm_vm_create(&t->dev1, &t->vm1));
		t->has_vm1 = true;
	}
}

/* Undo two_devices_setup(): its VM on device 1 must go cleanly. */
static void two_devices_teardown(struct __test_metadata *_metadata,
				 struct two_devices *t)
{
	if (t->has_vm1)
		EXPECT_EQ(0, vsvm_vm_destroy(&t->dev1, t->vm1));
	vsvm_close(&t->dev1);
	free(t->ref);
	unmap_2m_aligned(t->p);
}

/*
 * Devices 0 and 1 on one interconnect (vsvm's interconnect=3) share a page
 * owner: device 1 maps device 0's VRAM directly (peer access) and reads and
 * writes it there. Nothing migrates until the CPU touches the pages, and
 * each device sees the other's writes. Skipped unless the module was loaded
 * so (make check loads it so for this test in each layout).
 */
TEST_F(vsvm, peer_access_maps_vram_directly)
{
	const size_t size = SZ_2M;
	struct drm_vsvm_stats a0, a1, b0, b1;
	struct two_devices t;
	uint64_t sum;

	NEED_VRAM();
	NEED_TWO_DEVICES();
	if (!devices_0_1_on_interconnect())
		SKIP(return, "devices 0 and 1 are not on one interconnect");
	two_devices_setup(_metadata, &t, 43, true);
	/* One 2 MiB range, all of it in device 0's VRAM. */
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, t.p, size,
				   DRM_VSVM_LOC_DEVICE));
	a0 = stats_of(&self->dev, self->vm);
	b0 = stats_of(&t.dev1, t.vm1);

	/* Device 1 reads device 0's VRAM, then writes it. */
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, t.vm1, t.p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(t.ref, size), sum);
	ASSERT_EQ(0, vsvm_fill(&t.dev1, t.vm1, t.p, 0x3c, size));
	memset(t.ref, 0x3c, size);
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(a0.vram_pages_out, a1.vram_pages_out);
	EXPECT_EQ(a0.vram_used, a1.vram_used);
	EXPECT_EQ(b0.vram_pages_in, b1.vram_pages_in);
	EXPECT_LT(b0.faults, b1.faults);

	/* Device 0 reads what device 1 wrote, in its own VRAM. */
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, t.p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(t.ref, size), sum);
	a1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(a0.vram_pages_out, a1.vram_pages_out);

	/* The CPU brings the 512 pages back, with device 1's data. */
	EXPECT_EQ(-1, first_diff(t.p, 0x3c, size));
	a1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(size / SZ_4K, a1.vram_pages_out - a0.vram_pages_out);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(0, b1.pages_mapped);
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, t.vm1, t.p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(t.ref, size), sum);

	two_devices_teardown(_metadata, &t);
}

/*
 * Devices 0 and 1 on one interconnect: pages in device 0's VRAM move VRAM to
 * VRAM on a prefetch to device 1. A GPU fault of device 1, which prefers its
 * own VRAM, maps them where they are first (two devices preferring their own
 * VRAM must not move a shared buffer at every fault); its explicit prefetch
 * then takes all 512 pages with no trip through system memory: device 0
 * copies nothing out, its VRAM is left empty, and the CPU reads the data
 * back from device 1's.
 */
TEST_F(vsvm, peer_prefetch_migrates_vram_to_vram)
{
	const size_t size = SZ_2M;
	struct drm_vsvm_stats a0, a1, b0, b1;
	struct two_devices t;
	uint64_t sum;

	NEED_VRAM();
	NEED_TWO_DEVICES();
	if (!devices_0_1_on_interconnect())
		SKIP(return, "devices 0 and 1 are not on one interconnect");
	two_devices_setup(_metadata, &t, 47, true);
	ASSERT_EQ(0, vsvm_set_attr(&t.dev1, t.vm1, t.p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, t.p, size,
				   DRM_VSVM_LOC_DEVICE));
	a0 = stats_of(&self->dev, self->vm);
	b0 = stats_of(&t.dev1, t.vm1);

	/* A GPU fault of device 1 reads device 0's VRAM where it is. */
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, t.vm1, t.p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(t.ref, size), sum);
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(b0.vram_pages_in, b1.vram_pages_in);
	EXPECT_EQ(a0.vram_pages_out, a1.vram_pages_out);
	EXPECT_EQ(a0.vram_used, a1.vram_used);

	/* The prefetch to device 1 moves all of it, VRAM to VRAM. */
	ASSERT_EQ(0, vsvm_prefetch(&t.dev1, t.vm1, t.p, size,
				   DRM_VSVM_LOC_DEVICE));
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(size / SZ_4K, b1.vram_pages_in - b0.vram_pages_in);
	EXPECT_EQ(a0.vram_pages_out, a1.vram_pages_out);
	EXPECT_EQ(0, a1.vram_used);
	EXPECT_EQ(size, b1.vram_used - b0.vram_used);

	/* Both devices read it there; device 0 does not take it back. */
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, t.vm1, t.p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(t.ref, size), sum);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, t.p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(t.ref, size), sum);
	a1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(a0.vram_pages_in, a1.vram_pages_in);
	EXPECT_EQ(0, a1.vram_used);

	/* The CPU brings the 512 pages back from device 1's VRAM. */
	EXPECT_EQ(0, memcmp(t.p, t.ref, size));
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(a0.vram_pages_out, a1.vram_pages_out);
	EXPECT_EQ(size / SZ_4K, b1.vram_pages_out - b0.vram_pages_out);

	two_devices_teardown(_metadata, &t);
}

/*
 * Devices 0 and 1 on no interconnect: device 1 cannot reach device 0's
 * VRAM, so its prefetch of pages there faults them back to system memory
 * (device 0 copies all 512 out) and migrates them from there into its own
 * VRAM (512 in); device 0's VRAM is left empty, the data intact.
 */
TEST_F(vsvm, prefetch_moves_vram_through_ram_without_interconnect)
{
	const size_t size = SZ_2M;
	struct drm_vsvm_stats a0, a1, b0, b1;
	struct two_devices t;

	NEED_VRAM();
	NEED_TWO_DEVICES();
	if (devices_0_1_on_interconnect())
		SKIP(return, "devices 0 and 1 are on one interconnect");
	two_devices_setup(_metadata, &t, 53, true);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, t.p, size,
				   DRM_VSVM_LOC_DEVICE));
	a0 = stats_of(&self->dev, self->vm);
	b0 = stats_of(&t.dev1, t.vm1);

	ASSERT_EQ(0, vsvm_prefetch(&t.dev1, t.vm1, t.p, size,
				   DRM_VSVM_LOC_DEVICE));
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(size / SZ_4K, a1.vram_pages_out - a0.vram_pages_out);
	EXPECT_EQ(size / SZ_4K, b1.vram_pages_in - b0.vram_pages_in);
	EXPECT_EQ(0, a1.vram_used);
	EXPECT_EQ(size, b1.vram_used - b0.vram_used);
	EXPECT_EQ(0, memcmp(t.p, t.ref, size));

	two_devices_teardown(_metadata, &t);
}

/* --- Prefetch for several devices --- */

/*
 * A prefetch naming devices 0 and 1 (N:1) faults the interval once, maps it
 * for both and binds it in every VM the process has on them: two VMs on
 * device 1 then read it without a GPU fault. Each device's mapping goes on
 * its own: when the VMs of device 1 go, device 0 keeps its mapping (no
 * invalidation, no fault). In the 1:1 layout a VM's GPU SVM serves one
 * device only.
 */
TEST_F(vsvm, prefetch_maps_for_several_devices)
{
	const size_t size = SZ_2M;
	struct drm_vsvm_stats a0, a1, b0, b1, c1;
	struct two_devices t;
	uint32_t vm1, vm1b;
	uint64_t sum;

	NEED_TWO_DEVICES();
	/* The VMs on device 1 are the test's: none at first. */
	two_devices_setup(_metadata, &t, 47, false);
	if (self->dev.info.layout != DRM_VSVM_LAYOUT_NTO1) {
		EXPECT_EQ(-EINVAL, vsvm_prefetch_devices(&self->dev, self->vm,
							 t.p, size,
							 DRM_VSVM_LOC_SYSTEM,
							 3));
		two_devices_teardown(_metadata, &t);
		return;
	}
	/* No VM of this process on device 1 yet. */
	EXPECT_EQ(-ENOENT, vsvm_prefetch_devices(&self->dev, self->vm, t.p,
						 size, DRM_VSVM_LOC_SYSTEM, 2));
	ASSERT_EQ(0, vsvm_vm_create(&t.dev1, &vm1));
	ASSERT_EQ(0, vsvm_vm_create(&t.dev1, &vm1b));
	a0 = stats_of(&self->dev, self->vm);

	ASSERT_EQ(0, vsvm_prefetch_devices(&self->dev, self->vm, t.p, size,
					   DRM_VSVM_LOC_SYSTEM, 3));
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, vm1);
	c1 = stats_of(&t.dev1, vm1b);
	EXPECT_EQ(1, a1.ranges_created - a0.ranges_created);
	EXPECT_EQ(size / SZ_4K, a1.pages_mapped);
	EXPECT_EQ(size / SZ_4K, b1.pages_mapped);
	EXPECT_EQ(size / SZ_4K, c1.pages_mapped);

	/* Both VMs of device 1 read it without faulting. */
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, vm1, t.p, size, &sum));
	EXPECT_EQ(t.want, sum);
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, vm1b, t.p, size, &sum));
	EXPECT_EQ(t.want, sum);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, t.p, size, &sum));
	EXPECT_EQ(t.want, sum);
	EXPECT_EQ(b1.faults, stats_of(&t.dev1, vm1).faults);
	EXPECT_EQ(c1.faults, stats_of(&t.dev1, vm1b).faults);
	EXPECT_EQ(a1.faults, stats_of(&self->dev, self->vm).faults);

	/* Device 1's VMs go: device 0's mapping stays, still no fault. */
	EXPECT_EQ(0, vsvm_vm_destroy(&t.dev1, vm1));
	EXPECT_EQ(0, vsvm_vm_destroy(&t.dev1, vm1b));
	b0 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(size / SZ_4K, b0.pages_mapped);
	EXPECT_EQ(a1.invalidations, b0.invalidations);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, t.p, size, &sum));
	EXPECT_EQ(t.want, sum);
	EXPECT_EQ(a1.faults, stats_of(&self->dev, self->vm).faults);

	/* A new VM on device 1 faults the interval in anew. */
	ASSERT_EQ(0, vsvm_vm_create(&t.dev1, &vm1));
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, vm1, t.p, size, &sum));
	EXPECT_EQ(t.want, sum);
	EXPECT_LT(0, stats_of(&t.dev1, vm1).faults);
	EXPECT_EQ(0, vsvm_vm_destroy(&t.dev1, vm1));
	two_devices_teardown(_metadata, &t);
}

/*
 * A prefetch to device 0's VRAM naming device 1 too: with the two on one
 * interconnect the pages move to device 0's VRAM only, and device 1 maps
 * them there (no fault, nothing in its own VRAM); otherwise device 1 could
 * not reach them: -EOPNOTSUPP, and nothing moves.
 */
TEST_F(vsvm, prefetch_to_vram_for_peer_devices)
{
	const size_t size = SZ_2M;
	struct drm_vsvm_stats a0, a1, b0, b1;
	struct two_devices t;
	uint64_t sum;

	NEED_VRAM();
	NEED_TWO_DEVICES();
	if (self->dev.info.layout != DRM_VSVM_LAYOUT_NTO1)
		SKIP(return, "several devices per prefetch: N:1 layout only");
	two_devices_setup(_metadata, &t, 53, true);
	a0 = stats_of(&self->dev, self->vm);
	b0 = stats_of(&t.dev1, t.vm1);

	if (!devices_0_1_on_interconnect()) {
		EXPECT_EQ(-EOPNOTSUPP,
			  vsvm_prefetch_devices(&self->dev, self->vm, t.p, size,
						DRM_VSVM_LOC_DEVICE, 3));
		a1 = stats_of(&self->dev, self->vm);
		EXPECT_EQ(a0.vram_pages_in, a1.vram_pages_in);
		EXPECT_EQ(0, a1.pages_mapped);
		goto out;
	}
	ASSERT_EQ(0, vsvm_prefetch_devices(&self->dev, self->vm, t.p, size,
					   DRM_VSVM_LOC_DEVICE, 3));
	a1 = stats_of(&self->dev, self->vm);
	b1 = stats_of(&t.dev1, t.vm1);
	EXPECT_EQ(size / SZ_4K, a1.vram_pages_in - a0.vram_pages_in);
	EXPECT_EQ(b0.vram_pages_in, b1.vram_pages_in);
	EXPECT_EQ(size / SZ_4K, b1.pages_mapped);
	ASSERT_EQ(0, vsvm_checksum(&t.dev1, t.vm1, t.p, size, &sum));
	EXPECT_EQ(t.want, sum);
	EXPECT_EQ(b1.faults, stats_of(&t.dev1, t.vm1).faults);
out:
	two_devices_teardown(_metadata, &t);
}

/* --- VRAM allocator and prefetch to system --- */

/*
 * Prefetch to system memory brings the device's own VRAM pages back and maps
 * system pages for the GPU: VRAM is freed, a CPU read migrates nothing, and a
 * CPU write is seen by the GPU without a fault.
 */
TEST_F(vsvm, vram_prefetch_to_system_moves_pages_out)
{
	const size_t size = 4 * SZ_1M;
	char *resv = map_anon(size + SZ_2M), *ref = malloc(size), *p;
	struct drm_vsvm_stats s0, s1, s2, s3;
	uint64_t sum;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	ASSERT_NE(NULL, ref);
	p = align_2m(resv);
	ASSERT_EQ(0, madvise(p, size, MADV_NOHUGEPAGE));
	fill_pattern(p, size, 41);
	memcpy(ref, p, size);
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	s1 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(size / SZ_4K, s1.vram_pages_in - s0.vram_pages_in);
	ASSERT_EQ(s0.vram_used + size, s1.vram_used);

	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_SYSTEM));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s0.vram_used, s2.vram_used);
	EXPECT_EQ(size / SZ_4K, s2.vram_pages_out - s1.vram_pages_out);
	/* The GPU has it mapped: no fault. */
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, size), sum);
	/* In system memory: the CPU reads it in place. */
	EXPECT_EQ(0, memcmp(p, ref, size));
	s3 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s2.faults, s3.faults);
	EXPECT_EQ(s2.vram_pages_out, s3.vram_pages_out);
	/* The same pages for both: the GPU sees a CPU write, no fault. */
	fill_pattern(p, size, 42);
	fill_pattern(ref, size, 42);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, size), sum);
	s3 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s2.faults, s3.faults);
	EXPECT_EQ(s2.vram_pages_out, s3.vram_pages_out);
	free(ref);
	munmap(resv, size + SZ_2M);
}

/*
 * An explicit prefetch to system memory wins over a preferred location of
 * DEVICE: the data leaves VRAM and stays out until the next GPU fault.
 */
TEST_F(vsvm, vram_prefetch_to_system_beats_preferred_location)
{
	const size_t size = SZ_2M;
	char *resv = map_anon(size + SZ_2M), *p;
	struct drm_vsvm_stats s0, s1, s2;
	uint64_t sum;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	p = align_2m(resv);
	fill_pattern(p, size, 43);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_DEVICE));
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	s1 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(s0.vram_used + size, s1.vram_used);	/* by the attribute */

	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_SYSTEM));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s0.vram_used, s2.vram_used);
	EXPECT_EQ(size / SZ_4K, s2.vram_pages_out - s1.vram_pages_out);
	EXPECT_EQ(0, vsvm_checksum(&self->dev, self->vm, p, size, &sum));
	EXPECT_EQ(vsvm_fnv1a(p, size), sum);
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s2.faults, s1.faults);
	EXPECT_EQ(s2.vram_pages_out, s1.vram_pages_out);
	munmap(resv, size + SZ_2M);
}

/*
 * The driver reloaded with vram_size=4 (two 2 MiB blocks per device), so that
 * a few processes evict each other all the time; the teardown reloads it with
 * the parameters it had.
 */
#define SMALL_VRAM_MB	4
#define RACE_PROCS	6	/* spread over the devices */
#define RACE_BUFS	3	/* 2 MiB buffers per process */
#define RACE_ROUNDS	4

FIXTURE(small_vram)
{
	char restore[256];
	bool reloaded;
};

FIXTURE_SETUP(small_vram)
{
	char vram[16];

	ASSERT_GT(read_param("vram_size", vram, sizeof(vram)), 0);
	if (!strcmp(vram, "0"))
		return;
	ASSERT_EQ(0, vsvm_reload_vram(SMALL_VRAM_MB, self->restore,
				      sizeof(self->restore)));
	self->reloaded = true;
}

FIXTURE_TEARDOWN(small_vram)
{
	if (self->reloaded)
		EXPECT_EQ(0, vsvm_reload_restore(self->restore));
}

/* Shared by the racing processes and the test. */
struct race_state {
	int ready, go, done, check;
	int err[RACE_PROCS];
	long bad[RACE_PROCS];
};

static void race_wait(int *flag, int value)
{
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < value)
		usleep(1000);
}

/*
 * One racing process: prefetch its buffers to the device round after round,
 * then, once every process is done, check every byte on the CPU.
 */
static void race_proc(struct race_state *st, unsigned int id,
		      unsigned int index)
{
	char *resv = map_anon((RACE_BUFS + 1) * SZ_2M), *ref = malloc(SZ_2M), *p;
	struct vsvm_dev dev;
	unsigned int b, r;
	uint32_t vm;
	long off;
	int err;

	st->bad[id] = -1;
	if (!resv || !ref) {
		err = -ENOMEM;
		goto out;
	}
	p = align_2m(resv);
	err = madvise(p, RACE_BUFS * SZ_2M, MADV_NOHUGEPAGE) ? -errno : 0;
	if (!err)
		err = vsvm_open(index, &dev);
	if (err)
		goto out;
	err = vsvm_vm_create(&dev, &vm);
	for (b = 0; b < RACE_BUFS; b++)
		fill_pattern(p + b * SZ_2M, SZ_2M, id * RACE_BUFS + b);
	__atomic_add_fetch(&st->ready, 1, __ATOMIC_RELEASE);
	race_wait(&st->go, 1);
	for (r = 0; r < RACE_ROUNDS && !err; r++)
		for (b = 0; b < RACE_BUFS && !err; b++)
			err = vsvm_prefetch(&dev, vm, p + b * SZ_2M, SZ_2M,
					    DRM_VSVM_LOC_DEVICE);
	st->err[id] = err;
	__atomic_add_fetch(&st->done, 1, __ATOMIC_RELEASE);
	race_wait(&st->check, 1);
	for (b = 0; b < RACE_BUFS && st->bad[id] < 0; b++) {
		fill_pattern(ref, SZ_2M, id * RACE_BUFS + b);
		for (off = 0; off < (long)SZ_2M; off++) {
			if (p[b * SZ_2M + off] != ref[off]) {
				st->bad[id] = b * SZ_2M + off;
				break;
			}
		}
	}
	vsvm_close(&dev);
	return;
out:
	/* Do not leave the others waiting. */
	st->err[id] = err;
	__atomic_add_fetch(&st->ready, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&st->done, 1, __ATOMIC_RELEASE);
}

/*
 * Processes on every device prefetch their buffers to VRAM concurrently, with
 * VRAM much smaller than their sum: every prefetch succeeds, every byte is
 * exact, and the counters add up. An eviction only ever takes a block whose
 * migration finished, and moves all of it: pages out = evictions * 512; what
 * came in either went out or is resident; once the CPU has read everything,
 * VRAM is empty and every page came out once.
 */
TEST_F_TIMEOUT(small_vram, vram_concurrent_prefetch_small_vram, 300)
{
	const uint64_t block_pages = SZ_2M / SZ_4K;
	struct race_state *st;
	struct vsvm_dev dev[2];
	struct drm_vsvm_stats s;
	unsigned int ndev, d, i;
	pid_t pid[RACE_PROCS];
	uint32_t vm[2];
	int status;

	if (!self->reloaded)
		SKIP(return, "no device memory");
	ASSERT_EQ(0, vsvm_open(0, &dev[0]));
	ASSERT_EQ((uint64_t)SMALL_VRAM_MB << 20, dev[0].info.vram_size);
	ndev = dev[0].info.num_devices < 2 ? 1 : 2;
	if (ndev > 1)
		ASSERT_EQ(0, vsvm_open(1, &dev[1]));
	for (d = 0; d < ndev; d++)
		ASSERT_EQ(0, vsvm_vm_create(&dev[d], &vm[d]));
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	memset(st, 0, sizeof(*st));

	for (i = 0; i < RACE_PROCS; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (!pid[i]) {
			race_proc(st, i, i % ndev);
			_exit(0);
		}
	}
	race_wait(&st->ready, RACE_PROCS);
	__atomic_store_n(&st->go, 1, __ATOMIC_RELEASE);
	race_wait(&st->done, RACE_PROCS);

	for (d = 0; d < ndev; d++) {
		ASSERT_EQ(0, vsvm_stats(&dev[d], vm[d], &s));
		TH_LOG("device %u: in %llu out %llu evictions %llu used %llu",
		       d, s.vram_pages_in, s.vram_pages_out, s.vram_evictions,
		       s.vram_used);
		EXPECT_GT(s.vram_evictions, 0);
		EXPECT_LE(s.vram_used, (uint64_t)SMALL_VRAM_MB << 20);
		EXPECT_EQ(s.vram_evictions * block_pages, s.vram_pages_out);
		EXPECT_EQ(s.vram_pages_in, s.vram_pages_out + s.vram_used / SZ_4K);
	}

	__atomic_store_n(&st->check, 1, __ATOMIC_RELEASE);
	for (i = 0; i < RACE_PROCS; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		EXPECT_EQ(0, status);
		EXPECT_EQ(0, st->err[i]) TH_LOG("process %u", i);
		EXPECT_EQ(-1, st->bad[i]) TH_LOG("process %u", i);
	}
	for (d = 0; d < ndev; d++) {
		ASSERT_EQ(0, vsvm_stats(&dev[d], vm[d], &s));
		EXPECT_EQ(0, s.vram_used);
		EXPECT_EQ(s.vram_pages_in, s.vram_pages_out);
		EXPECT_EQ(0, vsvm_vm_destroy(&dev[d], vm[d]));
		vsvm_close(&dev[d]);
	}
	munmap(st, sizeof(*st));
}

/* Write @value to the debugfs file @name of every vsvm device. */
static int set_debugfs_u32(const char *name, unsigned int value)
{
	char pattern[96];
	glob_t g;
	size_t i;
	int err = 0;

	snprintf(pattern, sizeof(pattern), "/sys/kernel/debug/dri/*/%s", name);
	if (glob(pattern, 0, NULL, &g))
		return -ENOENT;
	for (i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "w");

		if (!f || fprintf(f, "%u\n", value) < 0)
			err = -EIO;
		if (f && fclose(f))
			err = -EIO;
	}
	globfree(&g);
	return err;
}

/* Set debugfs vram_evict_delay_ms of every vsvm device. */
static int set_evict_delay(unsigned int ms)
{
	return set_debugfs_u32("vram_evict_delay_ms", ms);
}

/* Discard page 5 of the buffer @arg half a second from now. */
static void *dontneed_later(void *arg)
{
	usleep(500000);
	madvise((char *)arg + 5 * SZ_4K, SZ_4K, MADV_DONTNEED);
	return NULL;
}

/*
 * A prefetch of pages that another process is evicting waits for the
 * eviction, and the data is exact, even when the eviction takes longer than
 * HMM's retry timeout (1 s) and the pages change meanwhile: the prefetch
 * used to fail with -EBUSY then (seen with KASAN, where evictions are slow
 * and a prefetch can start while one unmaps its pages). With debugfs, each
 * eviction sleeps 2 s with its pages under migration; a thread discards one
 * page of the buffer during the wait (MADV_DONTNEED: it reads zeros then).
 * (A GPU fault does not wait so: its job fails with -EBUSY, the engine
 * serving every VM meanwhile.)
 */
TEST_F_TIMEOUT(small_vram, vram_prefetch_waits_for_slow_eviction, 120)
{
	pthread_t thread;
	char *resv = map_anon(3 * SZ_2M), *ref = malloc(SZ_2M), *p;
	struct vsvm_dev dev;
	struct drm_vsvm_stats s;
	struct timespec t0, t1;
	int sync[2], status;
	uint64_t sum = 0;
	double ms;
	uint32_t vm;
	pid_t pid;
	char c;

	if (!self->reloaded)
		SKIP(return, "no device memory");
	ASSERT_NE(NULL, resv);
	ASSERT_NE(NULL, ref);
	p = align_2m(resv);
	ASSERT_EQ(0, madvise(p, 2 * SZ_2M, MADV_NOHUGEPAGE));
	fill_pattern(p, SZ_2M, 1);
	fill_pattern(p + SZ_2M, SZ_2M, 2);
	fill_pattern(ref, SZ_2M, 1);
	ASSERT_EQ(0, vsvm_open(0, &dev));
	ASSERT_EQ(0, vsvm_vm_create(&dev, &vm));
	/* Both blocks of VRAM: p's first, the least recently used. */
	ASSERT_EQ(0, vsvm_prefetch(&dev, vm, p, SZ_2M, DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(0, vsvm_prefetch(&dev, vm, p + SZ_2M, SZ_2M,
				   DRM_VSVM_LOC_DEVICE));
	ASSERT_EQ(0, vsvm_stats(&dev, vm, &s));
	ASSERT_EQ((uint64_t)SMALL_VRAM_MB << 20, s.vram_used);
	ASSERT_EQ(0, set_evict_delay(2000));
	ASSERT_EQ(0, pipe(sync));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Another process wants VRAM: it evicts p's block. */
		char *cres = map_anon(2 * SZ_2M), *cp;
		struct vsvm_dev cdev;
		uint32_t cvm;

		cp = align_2m(cres);
		memset(cp, 3, SZ_2M);
		if (vsvm_open(0, &cdev) || vsvm_vm_create(&cdev, &cvm))
			_exit(2);
		if (write(sync[1], "g", 1) != 1)
			_exit(3);
		_exit(vsvm_prefetch(&cdev, cvm, cp, SZ_2M,
				    DRM_VSVM_LOC_DEVICE) ? 1 : 0);
	}
	ASSERT_EQ(1, read(sync[0], &c, 1));
	usleep(300000);		/* the eviction is under way */
	memset(ref + 5 * SZ_4K, 0, SZ_4K);
	ASSERT_EQ(0, pthread_create(&thread, NULL, dontneed_later, p));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT_EQ(0, vsvm_prefetch(&dev, vm, p, SZ_2M, DRM_VSVM_LOC_SYSTEM));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	TH_LOG("the prefetch waited %.0f ms for the eviction", ms);
	EXPECT_EQ(0, vsvm_checksum(&dev, vm, p, SZ_2M, &sum));
	EXPECT_EQ(vsvm_fnv1a(ref, SZ_2M), sum);
	EXPECT_LE(1000, ms);	/* it did wait past HMM's timeout */
	EXPECT_GT(10000, ms);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(0, set_evict_delay(0));
	EXPECT_EQ(0, memcmp(p, ref, SZ_2M));
	EXPECT_EQ(0, vsvm_stats(&dev, vm, &s));
	EXPECT_LE(1, s.vram_evictions);
	vsvm_close(&dev);
	close(sync[0]);
	close(sync[1]);
	free(ref);
	munmap(resv, 3 * SZ_2M);
}

/*
 * Last: unloading the driver with process memory in its VRAM moves the data
 * back and leaves no device page and no device memory region behind; then the
 * driver is loaded again with the same parameters.
 */
TEST(vram_unload_leaves_nothing)
{
	char layout[16], nsz[32], vram[16], ndev[16], cmd[256], iomem[1 << 16];
	const size_t size = 8 * SZ_1M;
	struct vsvm_dev dev;
	char *p = map_anon(size);
	uint32_t vm;
	size_t off;
	int bad = 0;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_open(0, &dev));
	if (!dev.info.vram_size) {
		vsvm_close(&dev);
		SKIP(return, "no device memory");
	}
	ASSERT_EQ(0, vsvm_vm_create(&dev, &vm));
	for (off = 0; off < size; off += SZ_4K)
		*(uint64_t *)(p + off) = ~off;
	ASSERT_EQ(0, vsvm_prefetch(&dev, vm, p, size, DRM_VSVM_LOC_DEVICE));
	vsvm_close(&dev);

	ASSERT_GT(read_param("layout", layout, sizeof(layout)), 0);
	ASSERT_GT(read_param("notifier_size", nsz, sizeof(nsz)), 0);
	ASSERT_GT(read_param("vram_size", vram, sizeof(vram)), 0);
	ASSERT_GT(read_param("num_devices", ndev, sizeof(ndev)), 0);
	ASSERT_GT(sysfile_read("/proc/iomem", iomem, sizeof(iomem)), 0);
	EXPECT_NE(NULL, strstr(iomem, "vsvm"));

	ASSERT_EQ(0, system("modprobe -r vsvm"));
	/* The data came back; no region is left. */
	for (off = 0; off < size; off += SZ_4K)
		bad += *(uint64_t *)(p + off) != ~off;
	EXPECT_EQ(0, bad);
	ASSERT_GT(sysfile_read("/proc/iomem", iomem, sizeof(iomem)), 0);
	EXPECT_EQ(NULL, strstr(iomem, "vsvm"));

	snprintf(cmd, sizeof(cmd),
		 "modprobe vsvm layout=%s notifier_size=%s vram_size=%s num_devices=%s",
		 layout, nsz, vram, ndev);
	ASSERT_EQ(0, system(cmd));
	munmap(p, size);
}

/* --- Lifetime: VM destroy racing ioctls --- */

/*
 * Racers call one ioctl on a VM again and again while the main thread
 * destroys the VM; every round has a new VM. The destroy takes effect at one
 * point in time, so each call's result is given by when it ran: a call that
 * returned before the destroy began succeeds; a call that began after the
 * destroy returned, or after any call of the round returned -ENOENT, fails
 * with -ENOENT; a call overlapping the destroy succeeds if it comes before
 * that point and fails with -ENOENT after it. No other result is possible.
 */
enum race_op {
	RACE_SET_ATTR,
	RACE_PREFETCH,
	RACE_USERPTR_CREATE,
	RACE_USERPTR_BIND,
	RACE_STATS,
};

#define RACE_THREADS		2
#define RACE_NSEC		(2 * 1000000000LL)
#define RACE_MAX_HANDLES	4096
/* A VM holds at most this many userptrs: USERPTR_CREATE -ENOSPC beyond. */
#define VM_MAX_USERPTRS		1024

struct race {
	struct vsvm_dev dev;
	enum race_op op;
	char *buf;			/* SZ_64K the ioctls work on */
	char *gpu;			/* SZ_64K PROT_NONE VA to bind at */
	pthread_barrier_t start, end;
	volatile int quit;
	/* The round: */
	volatile uint32_t vm;
	uint32_t handle;		/* USERPTR_BIND: the VM's userptr */
	uint64_t svm_id;		/* STATS: the VM's GPU SVM */
	volatile int phase;		/* 0 before the destroy, 1 in it, 2 after */
	volatile int enoent;		/* a call returned -ENOENT */
	volatile int full;		/* a USERPTR_CREATE returned -ENOSPC */
	volatile int calls;
	long overlap_ok, overlap_enoent;	/* calls overlapping a destroy */
	pthread_mutex_t lock;		/* protects the fields below */
	uint32_t handles[RACE_MAX_HANDLES];	/* USERPTR_CREATE results */
	unsigned int num_handles;
	char error[160];		/* the first violation */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void race_fail(struct race *r, const char *what, int err)
{
	pthread_mutex_lock(&r->lock);
	if (!r->error[0])
		snprintf(r->error, sizeof(r->error), "%s (returned %d)", what,
			 err);
	pthread_mutex_unlock(&r->lock);
}

static int race_call(struct race *r, uint32_t vm, int n, uint32_t *handle)
{
	struct drm_vsvm_stats s;
	int err;

	switch (r->op) {
	case RACE_SET_ATTR:
		return vsvm_set_attr(&r->dev, vm, r->buf, SZ_64K,
				     DRM_VSVM_ATTR_READ_ONLY, n & 1);
	case RACE_PREFETCH:
		return vsvm_prefetch(&r->dev, vm, r->buf, SZ_64K,
				     DRM_VSVM_LOC_SYSTEM);
	case RACE_USERPTR_CREATE:
		return vsvm_userptr_create(&r->dev, vm, r->buf, SZ_64K, 0,
					   handle);
	case RACE_USERPTR_BIND:
		return vsvm_userptr_bind(&r->dev, vm, r->handle,
					 (uintptr_t)r->gpu);
	case RACE_STATS:
		err = vsvm_stats(&r->dev, vm, &s);
		if (!err && (s.vm_id != vm || s.svm_id != r->svm_id))
			return -EILSEQ;	/* read a VM or GPU SVM freed under it */
		return err;
	}
	return -EINVAL;
}

static void *race_thread(void *arg)
{
	struct race *r = arg;
	int n;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (r->quit)
			return NULL;
		for (n = 0;; n++) {
			int before = r->phase, enoent_before = r->enoent;
			uint32_t handle = 0;
			int err = race_call(r, r->vm, n, &handle);
			int after = r->phase;

			__sync_fetch_and_add(&r->calls, 1);
			if (err == -ENOENT)
				r->enoent = 1;
			/*
			 * A fast kernel may create the VM's last userptr
			 * before the destroy lands: the round checks there
			 * are exactly 1024. After the destroy, -ENOENT only.
			 */
			if (err == -ENOSPC && r->op == RACE_USERPTR_CREATE &&
			    before < 2) {
				r->full = 1;
				continue;
			}
			if (before < 2 && after > 0)
				__sync_fetch_and_add(err ? &r->overlap_enoent :
						     &r->overlap_ok, 1);
			if (err && err != -ENOENT)
				race_fail(r, "neither 0 nor -ENOENT", err);
			else if (err && after == 0)
				race_fail(r, "-ENOENT before the destroy", err);
			else if (!err && before == 2)
				race_fail(r, "success after the destroy", err);
			else if (!err && enoent_before)
				race_fail(r, "success after an -ENOENT", err);
			if (!err && r->op == RACE_USERPTR_CREATE) {
				pthread_mutex_lock(&r->lock);
				if (r->num_handles < RACE_MAX_HANDLES)
					r->handles[r->num_handles++] = handle;
				pthread_mutex_unlock(&r->lock);
			}
			if (before == 2)
				break;
		}
		pthread_barrier_wait(&r->end);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One round; returns 0 or why it failed (in r->error). */
static int race_round(struct race *r, int round)
{
	struct drm_vsvm_stats s;
	uint32_t vm;
	unsigned int i;
	int err;

	err = vsvm_vm_create(&r->dev, &vm);
	if (!err && r->op == RACE_USERPTR_BIND)
		err = vsvm_userptr_create(&r->dev, vm, r->buf, SZ_64K, 0,
					  &r->handle);
	if (!err && r->op == RACE_STATS) {
		err = vsvm_stats(&r->dev, vm, &s);
		r->svm_id = s.svm_id;
	}
	if (err) {
		race_fail(r, "round setup failed", err);
		return err;
	}
	r->vm = vm;
	r->phase = 0;
	r->enoent = 0;
	r->full = 0;
	r->calls = 0;
	r->num_handles = 0;
	pthread_barrier_wait(&r->start);
	/* Destroy after 0 to 3 calls: different points of the calls. */
	while (r->calls < round % 4)
		sched_yield();
	r->phase = 1;
	err = vsvm_vm_destroy(&r->dev, vm);
	r->phase = 2;
	pthread_barrier_wait(&r->end);
	if (err)
		race_fail(r, "VM_DESTROY failed", err);

	/* -ENOSPC only once the VM holds its 1024 userptrs. */
	if (r->full && r->num_handles != VM_MAX_USERPTRS)
		race_fail(r, "USERPTR_CREATE -ENOSPC before the cap, at",
			  r->num_handles);
	/* A fresh VM's userptr handles are 1, 2, ... in creation order. */
	qsort(r->handles, r->num_handles, sizeof(r->handles[0]), cmp_u32);
	for (i = 0; i < r->num_handles; i++)
		if (r->handles[i] != i + 1)
			race_fail(r, "USERPTR_CREATE gave a wrong handle",
				  r->handles[i]);
	return r->error[0] ? -EIO : 0;
}

/* Run rounds of @op for RACE_NSEC; returns the number of rounds or -errno. */
static int race_run(struct race *r, enum race_op op)
{
	pthread_t t[RACE_THREADS];
	int64_t end = now_ns() + RACE_NSEC;
	int i, rounds = 0, err = 0;

	r->op = op;
	r->buf = map_anon(SZ_64K);
	r->gpu = mmap(NULL, SZ_64K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (!r->buf || r->gpu == MAP_FAILED || vsvm_open(0, &r->dev))
		return -ENOMEM;
	memset(r->buf, 1, SZ_64K);
	pthread_mutex_init(&r->lock, NULL);
	pthread_barrier_init(&r->start, NULL, RACE_THREADS + 1);
	pthread_barrier_init(&r->end, NULL, RACE_THREADS + 1);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_create(&t[i], NULL, race_thread, r);
	while (!err && now_ns() < end)
		err = race_round(r, rounds++);
	r->quit = 1;
	pthread_barrier_wait(&r->start);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	vsvm_close(&r->dev);
	/*
	 * No notifier may be left behind: its invalidation would run against
	 * a freed VM here (and at exit).
	 */
	munmap(r->buf, SZ_64K);
	munmap(r->gpu, SZ_64K);
	return err ? err : rounds;
}

static void race_test(struct __test_metadata *_metadata, enum race_op op)
{
	static struct race r;
	int rounds = race_run(&r, op);

	EXPECT_LT(0, rounds) TH_LOG("%s", r.error);
	TH_LOG("%d rounds; calls overlapping the destroy: %ld succeeded, %ld -ENOENT",
	       rounds, r.overlap_ok, r.overlap_enoent);
}

TEST_F(vsvm, lifetime_destroy_vs_set_attr)
{
	race_test(_metadata, RACE_SET_ATTR);
}

TEST_F(vsvm, lifetime_destroy_vs_prefetch)
{
	race_test(_metadata, RACE_PREFETCH);
}

TEST_F(vsvm, lifetime_destroy_vs_userptr_create)
{
	race_test(_metadata, RACE_USERPTR_CREATE);
}

TEST_F(vsvm, lifetime_destroy_vs_userptr_bind)
{
	race_test(_metadata, RACE_USERPTR_BIND);
}

TEST_F(vsvm, lifetime_destroy_vs_stats)
{
	race_test(_metadata, RACE_STATS);
}

/*
 * debugfs lists every VM of the device with its GPU SVM while VMs are
 * destroyed: each line shows a VM (and its GPU SVM) that exists, never one
 * freed under the reader.
 */
#define DEBUGFS_VMS	32

struct debugfs_race {
	const char *path;
	uint32_t vms[DEBUGFS_VMS + 1];	/* the last is the fixture's */
	uint64_t svms[DEBUGFS_VMS + 1];
	struct vsvm_dev *dev;
	volatile int next, stop;
	long lines;
	char bad[160];
};

static void *debugfs_reader(void *arg)
{
	static char buf[1 << 16];	/* one reader thread */
	struct debugfs_race *d = arg;

	while (!d->stop && !d->bad[0]) {
		char *line = buf;

		if (sysfile_read(d->path, buf, sizeof(buf)) <= 0) {
			snprintf(d->bad, sizeof(d->bad), "cannot read %s",
				 d->path);
			break;
		}
		while ((line = strstr(line, "\nvm "))) {
			unsigned long long svm;
			unsigned int vm, i;

			line++;
			if (sscanf(line, "vm %u svm %llu", &vm, &svm) != 2)
				continue;
			for (i = 0; i <= DEBUGFS_VMS; i++)
				if (d->vms[i] == vm && d->svms[i] == svm)
					break;
			if (i > DEBUGFS_VMS)
				snprintf(d->bad, sizeof(d->bad),
					 "no such VM: %.60s", line);
			d->lines++;
		}
	}
	return NULL;
}

static void *debugfs_destroyer(void *arg)
{
	struct debugfs_race *d = arg;
	int i;

	while ((i = __sync_fetch_and_add(&d->next, 1)) < DEBUGFS_VMS)
		if (vsvm_vm_destroy(d->dev, d->vms[i]))
			snprintf(d->bad, sizeof(d->bad), "destroy failed");
	return NULL;
}

TEST_F(vsvm, lifetime_destroy_vs_debugfs)
{
	static struct debugfs_race d;
	int64_t end = now_ns() + RACE_NSEC;
	struct drm_vsvm_stats s;
	struct vsvm_dev dev;
	char buf[64], *path = NULL;
	pthread_t reader, destroyer;
	int rounds = 0, i;
	size_t k;
	glob_t g;

	if (glob("/sys/kernel/debug/dri/*/vsvm_stats", 0, NULL, &g))
		SKIP(return, "no debugfs");
	for (k = 0; k < g.gl_pathc && !path; k++)
		if (sysfile_read(g.gl_pathv[k], buf, sizeof(buf)) > 0 &&
		    !strncmp(buf, "device 0 ", 9))
			path = g.gl_pathv[k];
	ASSERT_NE(NULL, path);
	d.path = path;
	d.dev = &dev;
	ASSERT_EQ(0, vsvm_stats(&self->dev, self->vm, &s));
	d.vms[DEBUGFS_VMS] = self->vm;
	d.svms[DEBUGFS_VMS] = s.svm_id;
	ASSERT_EQ(0, vsvm_open(0, &dev));
	while (!d.bad[0] && now_ns() < end) {
		for (i = 0; i < DEBUGFS_VMS; i++) {
			ASSERT_EQ(0, vsvm_vm_create(&dev, &d.vms[i]));
			ASSERT_EQ(0, vsvm_stats(&dev, d.vms[i], &s));
			d.svms[i] = s.svm_id;
		}
		d.next = 0;
		d.stop = 0;
		ASSERT_EQ(0, pthread_create(&reader, NULL, debugfs_reader, &d));
		ASSERT_EQ(0, pthread_create(&destroyer, NULL, debugfs_destroyer,
					    &d));
		debugfs_destroyer(&d);
		pthread_join(destroyer, NULL);
		d.stop = 1;
		pthread_join(reader, NULL);
		rounds++;
	}
	EXPECT_EQ(0, d.bad[0]) TH_LOG("%s", d.bad);
	TH_LOG("%d rounds, %ld VM lines read", rounds, d.lines);
	vsvm_close(&dev);
	globfree(&g);
}

/*
 * Ids are published last: threads create VMs (or userptrs) while others
 * destroy guessed ids. With at most one object per creator alive, ids are
 * the lowest free ones, 1 to the number of creators; each object is
 * destroyed exactly once, by its creator or by a guesser.
 */
#define ID_CREATORS	3
#define ID_GUESSERS	3

struct id_race {
	struct vsvm_dev dev;
	uint32_t vm;			/* userptr race: the VM */
	bool userptr;
	char *buf;			/* userptr race: SZ_4K to mirror */
	volatile int stop;
	long created, destroyed;	/* atomically */
	char bad[160];
};

static int id_create(struct id_race *r, uint32_t *id)
{
	if (r->userptr)
		return vsvm_userptr_create(&r->dev, r->vm, r->buf, SZ_4K, 0,
					   id);
	return vsvm_vm_create(&r->dev, id);
}

static int id_destroy(struct id_race *r, uint32_t id)
{
	if (r->userptr)
		return vsvm_userptr_destroy(&r->dev, r->vm, id);
	return vsvm_vm_destroy(&r->dev, id);
}

static void id_count_destroy(struct id_race *r, int err)
{
	if (!err)
		__sync_fetch_and_add(&r->destroyed, 1);
	else if (err != -ENOENT)
		snprintf(r->bad, sizeof(r->bad), "destroy returned %d", err);
}

static void *id_creator(void *arg)
{
	struct id_race *r = arg;
	uint32_t id;
	int err;

	while (!r->stop && !r->bad[0]) {
		err = id_create(r, &id);
		if (err) {
			snprintf(r->bad, sizeof(r->bad), "create returned %d",
				 err);
			break;
		}
		__sync_fetch_and_add(&r->created, 1);
		if (id < 1 || id > ID_CREATORS)
			snprintf(r->bad, sizeof(r->bad), "created id %#x", id);
		id_count_destroy(r, id_destroy(r, id));
	}
	return NULL;
}

static void *id_guesser(void *arg)
{
	struct id_race *r = arg;
	uint32_t id = 0;

	while (!r->stop && !r->bad[0])
		id_count_destroy(r, id_destroy(r, id++ % ID_CREATORS + 1));
	return NULL;
}

static void id_race_run(struct __test_metadata *_metadata, struct id_race *r)
{
	pthread_t t[ID_CREATORS + ID_GUESSERS];
	uint32_t id;
	int i;

	for (i = 0; i < ID_CREATORS + ID_GUESSERS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL,
					    i < ID_CREATORS ? id_creator :
							      id_guesser, r));
	usleep(RACE_NSEC / 1000);
	r->stop = 1;
	for (i = 0; i < ID_CREATORS + ID_GUESSERS; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, r->bad[0]) TH_LOG("%s", r->bad);
	EXPECT_LT(0, r->created);
	EXPECT_EQ(r->created, r->destroyed);
	for (id = 1; id <= ID_CREATORS; id++)
		EXPECT_EQ(-ENOENT, id_destroy(r, id));
	TH_LOG("%ld created and destroyed", r->created);
}

TEST(lifetime_vm_id_published_last)
{
	static struct id_race r;

	ASSERT_EQ(0, vsvm_open(0, &r.dev));
	id_race_run(_metadata, &r);
	vsvm_close(&r.dev);
}

TEST(lifetime_userptr_handle_published_last)
{
	static struct id_race r = { .userptr = true };

	r.buf = map_anon(SZ_4K);
	ASSERT_NE(NULL, r.buf);
	ASSERT_EQ(0, vsvm_open(0, &r.dev));
	ASSERT_EQ(0, vsvm_vm_create(&r.dev, &r.vm));
	id_race_run(_metadata, &r);
	EXPECT_EQ(0, vsvm_vm_destroy(&r.dev, r.vm));
	vsvm_close(&r.dev);
	munmap(r.buf, SZ_4K);
}

/* USERPTR_DESTROY is a memory ioctl: only the VM's process may use it. */
TEST_F(vsvm, lifetime_userptr_destroy_other_process)
{
	char *buf = map_anon(SZ_4K);
	uint32_t handle;
	int status;
	pid_t pid;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, buf, SZ_4K, 0,
					 &handle));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)	/* the inherited file, another process */
		_exit(-vsvm_userptr_destroy(&self->dev, self->vm, handle));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(EACCES, WEXITSTATUS(status));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, handle));
	munmap(buf, SZ_4K);
}

/* Unbinding a device with open files through sysfs is not possible. */
TEST(lifetime_no_sysfs_bind_unbind)
{
	const char *drv = "/sys/bus/platform/drivers/vsvm";
	char path[128];

	ASSERT_EQ(0, access(drv, F_OK));
	snprintf(path, sizeof(path), "%s/unbind", drv);
	EXPECT_EQ(-1, access(path, F_OK));
	EXPECT_EQ(ENOENT, errno);
	snprintf(path, sizeof(path), "%s/bind", drv);
	EXPECT_EQ(-1, access(path, F_OK));
	EXPECT_EQ(ENOENT, errno);
}

/* --- Resource bounds --- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The pt_leaves of a VM, from debugfs (the line of its GPU SVM id). */
static long pt_leaves_of(struct vsvm_dev *dev, uint32_t vm)
{
	struct drm_vsvm_stats st;
	char buf[65536], key[64];
	long leaves = -1;
	glob_t g;
	size_t i;

	if (vsvm_stats(dev, vm, &st) ||
	    glob("/sys/kernel/debug/dri/*/vsvm_stats", 0, NULL, &g))
		return -1;
	snprintf(key, sizeof(key), "vm %u svm %llu ", vm,
		 (unsigned long long)st.svm_id);
	for (i = 0; i < g.gl_pathc && leaves < 0; i++) {
		char *line;

		if (sysfile_read(g.gl_pathv[i], buf, sizeof(buf)) <= 0)
			continue;
		line = strstr(buf, key);
		if (line && strstr(line, "pt_leaves "))
			leaves = strtol(strstr(line, "pt_leaves ") + 10, NULL, 10);
	}
	globfree(&g);
	return leaves;
}

/* A /proc/meminfo field in KiB, -1 if it is missing. */
static long meminfo_kb(const char *field)
{
	char buf[8192], *line;
	size_t n = strlen(field);

	if (sysfile_read("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return -1;
	for (line = buf; line; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (!strncmp(line, field, n) && line[n] == ':')
			return strtol(line + n + 1, NULL, 10);
	}
	return -1;
}

/*
 * Shrink every slab cache: empty slabs go back to the page allocator and, on a
 * KASAN kernel, the cache's objects leave KASAN's quarantine (which keeps
 * freed objects, up to 1/32 of RAM, in slab until then).
 */
static void shrink_slabs(void)
{
	glob_t g;
	size_t i;

	if (glob("/sys/kernel/slab/*/shrink", 0, NULL, &g))
		return;
	for (i = 0; i < g.gl_pathc; i++) {
		int fd = open(g.gl_pathv[i], O_WRONLY);

		if (fd < 0)
			continue;
		if (write(fd, "1", 1) != 1)
			perror(g.gl_pathv[i]);
		close(fd);
	}
	globfree(&g);
}

/*
 * GPU page-table leaves go with the ranges that needed them: cycles of a GPU
 * fault in a fresh 2 MiB slot, then munmap, leave as many leaves as before
 * (plus the one of the buffer that runs the garbage collector), where every
 * cycle used to leave one more, and unreclaimable slab flat (a leaked leaf
 * is 4 KiB, a leaked range more; measured with the caches shrunk, see
 * shrink_slabs()). 500 cycles; $VSVM_PT_CYCLES sets another
 * count (make check-full: 10000).
 */
TEST_F_TIMEOUT(vsvm, page_table_follows_munmap, 3600)
{
	const char *env = getenv("VSVM_PT_CYCLES");
	const unsigned long slots = env ? strtoul(env, NULL, 0) : 500;
	char *resv = mmap(NULL, (slots + 1) * SZ_2M, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	long before, after, slab_before, slab_after;
	char *base, *other = map_anon(SZ_4K);
	double t0 = now_s();
	unsigned long i;

	ASSERT_LT(0, slots);
	ASSERT_NE(MAP_FAILED, resv);
	ASSERT_NE(NULL, other);
	base = align_2m(resv);
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, other, 1, SZ_4K));
	before = pt_leaves_of(&self->dev, self->vm);
	ASSERT_LE(0, before);
	shrink_slabs();
	slab_before = meminfo_kb("SUnreclaim");
	ASSERT_LE(0, slab_before);
	for (i = 0; i < slots; i++) {
		char *p = base + i * SZ_2M;

		ASSERT_EQ(p, mmap(p, SZ_2M, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, i, SZ_4K));
		ASSERT_EQ(p, mmap(p, SZ_2M, PROT_NONE, MAP_PRIVATE |
				  MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0));
	}
	/* One more fault runs the garbage collector for the last slot. */
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, other, 2, SZ_4K));
	after = pt_leaves_of(&self->dev, self->vm);
	shrink_slabs();
	slab_after = meminfo_kb("SUnreclaim");
	EXPECT_EQ(before, after) TH_LOG("%ld leaves before, %ld after %lu slots",
					before, after, slots);
	/* Slack for unrelated slab users: 4 MiB plus 256 bytes a cycle. */
	EXPECT_LE(slab_after - slab_before, 4096 + (long)slots / 4);
	TH_LOG("%lu fault-munmap cycles in %.1f s; unreclaimable slab %ld -> %ld KiB",
	       slots, now_s() - t0, slab_before, slab_after);
	munmap(other, SZ_4K);
	munmap(resv, (slots + 1) * SZ_2M);
}

/* A file holds at most 64 VMs, a VM at most 1024 userptrs: -ENOSPC beyond. */
TEST_F_TIMEOUT(vsvm, caps_on_vms_and_userptrs, 120)
{
	char *p = map_anon(SZ_4K);
	uint32_t vms[64], handle, first = 0;
	struct vsvm_dev dev;
	int i;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vsvm_open(0, &dev));
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, vsvm_vm_create(&dev, &vms[i])) TH_LOG("VM %d", i);
	EXPECT_EQ(-ENOSPC, vsvm_vm_create(&dev, &handle));
	EXPECT_EQ(0, vsvm_vm_destroy(&dev, vms[10]));
	EXPECT_EQ(0, vsvm_vm_create(&dev, &vms[10]));
	for (i = 0; i < 64; i++)
		EXPECT_EQ(0, vsvm_vm_destroy(&dev, vms[i]));
	vsvm_close(&dev);

	for (i = 0; i < 1024; i++) {
		ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, p, SZ_4K,
						 0, &handle)) TH_LOG("userptr %d", i);
		if (!first)
			first = handle;
	}
	EXPECT_EQ(-ENOSPC, vsvm_userptr_create(&self->dev, self->vm, p, SZ_4K,
					       0, &handle));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, first));
	EXPECT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, p, SZ_4K, 0,
					 &handle));
	munmap(p, SZ_4K);	/* the VM's teardown destroys the userptrs */
}


/*
 * A process killed in the middle of a long PREFETCH (64 GiB of read-only
 * memory, which maps the zero page and would take minutes) is gone within a
 * second.
 */
TEST_F_TIMEOUT(vsvm, killed_during_long_prefetch_exits, 60)
{
	const size_t size = 64UL << 30;
	double t0, t1;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct vsvm_dev dev;
		uint32_t vm;
		char *p = mmap(NULL, size, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED || vsvm_open(0, &dev) ||
		    vsvm_vm_create(&dev, &vm))
			_exit(2);
		vsvm_prefetch(&dev, vm, p, size, DRM_VSVM_LOC_SYSTEM);
		_exit(3);	/* finished: it was not long enough */
	}
	usleep(500 * 1000);
	t0 = now_s();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	t1 = now_s();
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("child exited %d", WEXITSTATUS(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	EXPECT_GT(1.0, t1 - t0) TH_LOG("exit took %.3f s", t1 - t0);
}

/* --- UAPI rules --- */

#define UNKNOWN_VM	0xdead

static int exec_jobs(struct vsvm_dev *dev, uint32_t vm,
		     struct drm_vsvm_job *jobs, unsigned int num_jobs)
{
	struct drm_vsvm_exec exec = { .vm_id = vm, .num_jobs = num_jobs,
				      .jobs = (uintptr_t)jobs };

	return raw_ioctl(dev, DRM_IOCTL_VSVM_EXEC, &exec);
}

/*
 * A field a job's operation does not use must be zero: -EINVAL, and nothing
 * runs (the second job, a fill that would run first, leaves memory alone).
 */
TEST_F(vsvm, uapi_job_unused_fields_rejected)
{
	uint64_t *p = map_anon(SZ_4K);
	struct drm_vsvm_job bad[] = {
		{ .op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)p, .size = 8,
		  .src = (uintptr_t)p },
		{ .op = DRM_VSVM_OP_ATOMIC_ADD, .dst = (uintptr_t)p, .size = 8,
		  .src = (uintptr_t)p },
		{ .op = DRM_VSVM_OP_COPY, .dst = (uintptr_t)p, .size = 8,
		  .src = (uintptr_t)(p + 1), .value = 1 },
		{ .op = DRM_VSVM_OP_CHECKSUM, .src = (uintptr_t)p, .size = 8,
		  .dst = (uintptr_t)p },
		{ .op = DRM_VSVM_OP_CHECKSUM, .src = (uintptr_t)p, .size = 8,
		  .value = 1 },
	};
	struct drm_vsvm_job jobs[2];
	unsigned int i;

	ASSERT_NE(NULL, p);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		jobs[0] = (struct drm_vsvm_job){ .op = DRM_VSVM_OP_FILL,
						 .dst = (uintptr_t)p, .size = 8,
						 .value = 0x77 };
		jobs[1] = bad[i];
		EXPECT_EQ(-EINVAL, exec_jobs(&self->dev, self->vm, jobs, 2))
			TH_LOG("case %u", i);
		EXPECT_EQ(0, p[0]) TH_LOG("case %u ran a job", i);
	}
	/* The same jobs without the unused field run. */
	bad[0].src = 0;
	bad[1].src = 0;
	bad[2].value = 0;
	bad[3].dst = 0;
	bad[4].value = 0;
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(0, vsvm_exec(&self->dev, self->vm, &bad[i], 1))
			TH_LOG("case %u", i);
	munmap(p, SZ_4K);
}

/* Out fields are ignored on input: stale results do not fail a job. */
TEST_F(vsvm, uapi_out_fields_ignored)
{
	uint64_t *p = map_anon(SZ_4K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = 8,
				    .value = 3, .status = -EFAULT,
				    .fault_addr = 1, .result = 1 };
	struct drm_vsvm_stats stats;

	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, vsvm_exec(&self->dev, self->vm, &job, 1));
	EXPECT_EQ(0x0303030303030303ULL, p[0]);
	memset(&stats, 0xff, sizeof(stats));
	stats.vm_id = self->vm;
	stats.pad = 0;
	memset(stats.reserved, 0, sizeof(stats.reserved));
	EXPECT_EQ(0, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_STATS, &stats));
	munmap(p, SZ_4K);
}

/*
 * Argument errors come before the lookups: -EINVAL (or -EFAULT for an
 * unreadable pointer) for an unknown VM, never -ENOENT.
 */
TEST_F(vsvm, uapi_argument_errors_before_lookup)
{
	char *p = map_anon(SZ_4K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = 8 };
	struct drm_vsvm_exec exec = { .vm_id = UNKNOWN_VM, .num_jobs = 1,
				      .jobs = (uintptr_t)&job };
	struct drm_vsvm_vm_destroy destroy = { .vm_id = UNKNOWN_VM, .pad = 1 };
	struct drm_vsvm_wait wait = { .vm_id = UNKNOWN_VM, .flags = 1 };
	struct drm_vsvm_set_attr attr = { .vm_id = UNKNOWN_VM,
					  .attr = DRM_VSVM_ATTR_READ_ONLY,
					  .start = (uintptr_t)p, .size = SZ_4K,
					  .reserved = 1 };
	struct drm_vsvm_prefetch pf = { .vm_id = UNKNOWN_VM,
					.start = (uintptr_t)p, .size = SZ_4K,
					.devices = 1ULL << 63 };
	struct drm_vsvm_userptr_create uc = { .vm_id = UNKNOWN_VM, .flags = 2,
					      .addr = (uintptr_t)p,
					      .size = SZ_4K };
	struct drm_vsvm_userptr_bind ub = { .vm_id = UNKNOWN_VM, .handle = 1,
					    .gpu_va = (uintptr_t)p,
					    .reserved = 1 };
	struct drm_vsvm_stats stats = { .vm_id = UNKNOWN_VM,
					.reserved[1] = 1 };

	ASSERT_NE(NULL, p);
	EXPECT_EQ(-ENOENT, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.flags = 1u << 31;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.flags = 0;
	exec.jobs = 8;
	EXPECT_EQ(-EFAULT, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	exec.jobs = (uintptr_t)&job;
	job.pad = 1;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	job.pad = 0;
	job.src = (uintptr_t)p;
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC, &exec));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_VM_DESTROY,
				     &destroy));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_WAIT, &wait));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_SET_ATTR,
				     &attr));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_PREFETCH, &pf));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_USERPTR_CREATE,
				     &uc));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_USERPTR_BIND,
				     &ub));
	EXPECT_EQ(-EINVAL, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_STATS, &stats));
	munmap(p, SZ_4K);
}

/* A malformed job from another process: -EINVAL, not -EACCES. */
TEST_F(vsvm, uapi_argument_errors_before_process_check)
{
	uint64_t *p = map_anon(SZ_4K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = 8 };
	int status;
	pid_t pid;

	ASSERT_NE(NULL, p);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {	/* the inherited file, another process */
		job.value = 256;
		_exit(-exec_jobs(&self->dev, self->vm, &job, 1));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(EINVAL, WEXITSTATUS(status));
	munmap(p, SZ_4K);
}

/*
 * Extension chains (VM_CREATE, EXEC): a chain naming an extension the ioctl
 * does not know (@unknown; VM_CREATE knows none) fails, -EINVAL (-EFAULT
 * when unreadable), before the call does anything: no VM is created, no job
 * runs.
 */
static void check_extensions(struct __test_metadata *_metadata,
			     int (*call)(void *ctx, uint64_t extensions),
			     void *ctx, uint32_t unknown)
{
	struct drm_vsvm_user_extension ext[2] = {
		{ .name = 0 }, { .name = unknown },
	};
	/* A readable page of zeros, then an inaccessible one. */
	char *ro = mmap(NULL, 2 * SZ_4K, PROT_READ,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, mprotect(ro + SZ_4K, SZ_4K, PROT_NONE));
	EXPECT_EQ(-EINVAL, call(ctx, (uintptr_t)&ext[0]));
	EXPECT_EQ(-EINVAL, call(ctx, (uintptr_t)&ext[1]));
	ext[0].name = 0xffffffff;
	EXPECT_EQ(-EINVAL, call(ctx, (uintptr_t)&ext[0]));
	ext[0] = (struct drm_vsvm_user_extension){ .pad = 1 };
	EXPECT_EQ(-EINVAL, call(ctx, (uintptr_t)&ext[0]));
	ext[0] = (struct drm_vsvm_user_extension){
		.next_extension = (uintptr_t)&ext[1] };
	EXPECT_EQ(-EINVAL, call(ctx, (uintptr_t)&ext[0]));
	EXPECT_EQ(-EINVAL, call(ctx, (uintptr_t)ro));	/* readable zeros */
	EXPECT_EQ(-EFAULT, call(ctx, 8));
	EXPECT_EQ(-EFAULT, call(ctx, (uintptr_t)ro + SZ_4K - 8));
	EXPECT_EQ(-EFAULT, call(ctx, 0xffff888000000000ULL));
	EXPECT_EQ(-EFAULT, call(ctx, 0x8000000000000000ULL));
	munmap(ro, 2 * SZ_4K);
}

static int vm_create_ext(void *ctx, uint64_t extensions)
{
	struct drm_vsvm_vm_create create = { .extensions = extensions };

	return raw_ioctl(ctx, DRM_IOCTL_VSVM_VM_CREATE, &create);
}

TEST_F(vsvm, uapi_vm_create_extensions)
{
	uint32_t vm;

	check_extensions(_metadata, vm_create_ext, &self->dev, 1);
	/* No failed call used an id: the next VM gets the next one. */
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &vm));
	EXPECT_EQ(self->vm + 1, vm);
	EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, vm));
}

struct exec_ext_ctx {
	struct vsvm_dev *dev;
	uint32_t vm;
	uint64_t *p;
};

static int exec_ext(void *ctx, uint64_t extensions)
{
	struct exec_ext_ctx *c = ctx;
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)c->p, .size = 8,
				    .value = 1 };
	struct drm_vsvm_exec exec = { .vm_id = c->vm, .num_jobs = 1,
				      .jobs = (uintptr_t)&job,
				      .extensions = extensions };

	return raw_ioctl(c->dev, DRM_IOCTL_VSVM_EXEC, &exec);
}

TEST_F(vsvm, uapi_exec_extensions)
{
	struct exec_ext_ctx c = { &self->dev, self->vm, map_anon(SZ_4K) };

	ASSERT_NE(NULL, c.p);
	check_extensions(_metadata, exec_ext, &c, DRM_VSVM_EXT_EXEC_SYNCS + 1);
	EXPECT_EQ(0, c.p[0]);	/* no job ran */
	EXPECT_EQ(0, exec_ext(&c, 0));
	EXPECT_EQ(0x0101010101010101ULL, c.p[0]);
	munmap(c.p, SZ_4K);
}

/* GET_INFO tells the UAPI version. */
TEST_F(vsvm, uapi_info_version)
{
	EXPECT_EQ(DRM_VSVM_UAPI_VERSION, self->dev.info.version);
}

/*
 * Binaries built before EXEC grew its extensions field pass the shorter
 * struct (another ioctl number, same nr): it still works, seqno included.
 */
struct drm_vsvm_exec_v0 {
	__u32 vm_id;
	__u32 flags;
	__u32 num_jobs;
	__u32 pad;
	__u64 jobs;
	__u64 seqno;
};

#define DRM_IOCTL_VSVM_EXEC_V0 \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VSVM_EXEC, struct drm_vsvm_exec_v0)

TEST_F(vsvm, uapi_exec_old_layout)
{
	uint64_t *p = map_anon(SZ_4K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = 8,
				    .value = 2 };
	struct drm_vsvm_exec_v0 exec = { .vm_id = self->vm, .num_jobs = 1,
					 .jobs = (uintptr_t)&job };

	ASSERT_NE(NULL, p);
	ASSERT_NE(DRM_IOCTL_VSVM_EXEC, DRM_IOCTL_VSVM_EXEC_V0);
	EXPECT_EQ(0, raw_ioctl(&self->dev, DRM_IOCTL_VSVM_EXEC_V0, &exec));
	EXPECT_EQ(0x0202020202020202ULL, p[0]);
	EXPECT_NE(0, exec.seqno);
	munmap(p, SZ_4K);
}

/*
 * Handles are never 0, also after a USERPTR_DESTROY of handle 0 (found by
 * vsvm_fuzz: xa_erase() of index 0 made it allocatable).
 */
TEST_F(vsvm, uapi_userptr_handle_zero)
{
	char *p = map_anon(SZ_4K);
	uint32_t h1, h2;

	ASSERT_NE(NULL, p);
	EXPECT_EQ(-ENOENT, vsvm_userptr_destroy(&self->dev, self->vm, 0));
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, p, SZ_4K, 0,
					 &h1));
	EXPECT_NE(0, h1);
	EXPECT_EQ(-ENOENT, vsvm_userptr_destroy(&self->dev, self->vm, 0));
	ASSERT_EQ(0, vsvm_userptr_create(&self->dev, self->vm, p, SZ_4K, 0,
					 &h2));
	EXPECT_NE(0, h2);
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, h1));
	EXPECT_EQ(0, vsvm_userptr_destroy(&self->dev, self->vm, h2));
	munmap(p, SZ_4K);
}

/*
 * The GPU scheduler: syncobjs, fairness between VMs, job timeout, kill and
 * destroy during long jobs.
 */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int64_t abs_timeout_ns(int64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec + ns;
}

static int syncobj_create(struct vsvm_dev *dev, uint32_t *handle)
{
	struct drm_syncobj_create args = {};
	int err = raw_ioctl(dev, DRM_IOCTL_SYNCOBJ_CREATE, &args);

	*handle = args.handle;
	return err;
}

/* DRM_IOCTL_SYNCOBJ_WAIT (point 0) or _TIMELINE_WAIT of one syncobj. */
static int syncobj_wait(struct vsvm_dev *dev, uint32_t handle, uint64_t point,
			int64_t timeout_ns)
{
	struct drm_syncobj_timeline_wait tw = {
		.handles = (uintptr_t)&handle, .points = (uintptr_t)&point,
		.timeout_nsec = abs_timeout_ns(timeout_ns), .count_handles = 1,
	};
	struct drm_syncobj_wait w = {
		.handles = (uintptr_t)&handle,
		.timeout_nsec = abs_timeout_ns(timeout_ns), .count_handles = 1,
	};

	if (point)
		return raw_ioctl(dev, DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT, &tw);
	return raw_ioctl(dev, DRM_IOCTL_SYNCOBJ_WAIT, &w);
}

/* sw_sync (debugfs): a timeline whose fences the test signals. */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};

#define SW_SYNC_IOC_CREATE_FENCE \
	_IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC		_IOW('W', 1, __u32)
#define SW_SYNC_PATH		"/sys/kernel/debug/sync/sw_sync"

/*
 * A kernel without CONFIG_SW_SYNC (Debian's) has no sw_sync node: the
 * user-signalled fences these tests need do not exist there.
 */
#define NEED_SW_SYNC(fd) do { \
	if ((fd) < 0 && errno == ENOENT) \
		SKIP(return, "no %s: the kernel has no CONFIG_SW_SYNC", SW_SYNC_PATH); \
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", SW_SYNC_PATH, strerror(errno)); \
} while (0)

/*
 * Put a fence user space signals (sw_sync timeline @timeline, value 1) into
 * a new binary syncobj.
 */
static int syncobj_user_fence(struct vsvm_dev *dev, int timeline,
			      uint32_t *handle)
{
	struct sw_sync_create_fence_data f = { .value = 1, .name = "test" };
	struct drm_syncobj_handle imp = {
		.flags = DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE,
	};
	int err;

	if (ioctl(timeline, SW_SYNC_IOC_CREATE_FENCE, &f))
		return -errno;
	err = syncobj_create(dev, handle);
	imp.handle = *handle;
	imp.fd = f.fence;
	if (!err)
		err = raw_ioctl(dev, DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE, &imp);
	close(f.fence);
	return err;
}

static int sw_sync_signal(int timeline)
{
	__u32 one = 1;

	return ioctl(timeline, SW_SYNC_IOC_INC, &one) ? -errno : 0;
}

/* Open the test's sw_sync timeline (its next fence signals at 1). */
static int open_timeline(FIXTURE_DATA(vsvm) *self)
{
	self->timeline = open(SW_SYNC_PATH, O_RDWR);
	return self->timeline;
}

/*
 * Close the test's timeline, its fences signalled first (the teardown does
 * it for a failed test). Closing a timeline signals the fences left with an
 * error, but under the timeline's lock (6.1's sw_sync_debugfs_release()):
 * when that drops a fence's last reference, as the GPU scheduler's
 * dependency callback does for a job still waiting when its process exits,
 * the fence's release takes the lock again and the CPU deadlocks.
 * SW_SYNC_IOC_INC holds a reference while it signals.
 */
static void close_timeline(FIXTURE_DATA(vsvm) *self)
{
	if (self->timeline < 0)
		return;
	sw_sync_signal(self->timeline);
	close(self->timeline);
	self->timeline = -1;
}

#define BIG_BUF		(32 * SZ_1M)

/*
 * Fill jobs over a BIG_BUF buffer (faulted in here) keeping the engine busy
 * for about @ms: the number of them, at most @max.
 */
static unsigned int big_fill_jobs(struct vsvm_dev *dev, uint32_t vm,
				  char *buf, struct drm_vsvm_job *jobs,
				  unsigned int max, double ms)
{
	double t0, one;
	unsigned int i, n;

	if (vsvm_fill(dev, vm, buf, 1, BIG_BUF))
		return 0;
	t0 = now_ms();
	if (vsvm_fill(dev, vm, buf, 2, BIG_BUF))
		return 0;
	one = now_ms() - t0;
	n = ms / (one > 0.1 ? one : 0.1) + 1;
	n = n < 2 ? 2 : n > max ? max : n;
	for (i = 0; i < n; i++)
		jobs[i] = (struct drm_vsvm_job){
			.op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)buf,
			.size = BIG_BUF, .value = 0x10 + i % 0x40,
		};
	return n;
}

/* An exec waiting for a syncobj runs only once user space signalled it. */
TEST_F(vsvm, sched_syncobj_wait_user_signal)
{
	uint64_t *p = map_anon(SZ_4K), seqno;
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = SZ_4K,
				    .value = 0x5a };
	struct drm_vsvm_sync sync = { .flags = DRM_VSVM_SYNC_WAIT };
	int timeline = open_timeline(self);

	ASSERT_NE(NULL, p);
	NEED_SW_SYNC(timeline);
	ASSERT_EQ(0, syncobj_user_fence(&self->dev, timeline, &sync.handle));
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, self->vm, &job, 1,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &seqno));
	usleep(200000);
	EXPECT_EQ(-ETIME, vsvm_wait(&self->dev, self->vm, seqno, 0));
	EXPECT_EQ(0, p[0]);	/* not run */
	ASSERT_EQ(0, sw_sync_signal(timeline));
	job.status = 1;	/* the wait writes the result */
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno, 10000000000LL));
	EXPECT_EQ(0, job.status);
	EXPECT_EQ(-1, first_diff(p, 0x5a, SZ_4K));
	close_timeline(self);
	munmap(p, SZ_4K);
}

/* An exec signals a binary syncobj and a timeline point when it is done. */
TEST_F(vsvm, sched_syncobj_signal_binary_and_timeline)
{
	char *p = map_anon(SZ_1M);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = SZ_1M,
				    .value = 0x33 };
	struct drm_vsvm_sync syncs[2] = {
		{ .flags = DRM_VSVM_SYNC_SIGNAL },
		{ .flags = DRM_VSVM_SYNC_SIGNAL, .timeline_point = 7 },
	};
	struct drm_syncobj_timeline_array query = {
		.count_handles = 1,
	};
	uint64_t seqno, point = 0;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, syncobj_create(&self->dev, &syncs[0].handle));
	ASSERT_EQ(0, syncobj_create(&self->dev, &syncs[1].handle));
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, self->vm, &job, 1,
				     DRM_VSVM_EXEC_ASYNC, syncs, 2, &seqno));
	ASSERT_EQ(0, syncobj_wait(&self->dev, syncs[0].handle, 0,
				  10000000000LL));
	EXPECT_EQ(-1, first_diff(p, 0x33, SZ_1M));
	ASSERT_EQ(0, syncobj_wait(&self->dev, syncs[1].handle, 7,
				  10000000000LL));
	query.handles = (uintptr_t)&syncs[1].handle;
	query.points = (uintptr_t)&point;
	ASSERT_EQ(0, raw_ioctl(&self->dev, DRM_IOCTL_SYNCOBJ_QUERY, &query));
	EXPECT_EQ(7, point);
	EXPECT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno, 0));
	EXPECT_EQ(0, job.status);
	munmap(p, SZ_1M);
}

/*
 * Two VMs chained through a syncobj: the second VM's checksum runs after
 * the first VM's long fill, and sees all of it.
 */
TEST_F(vsvm, sched_syncobj_chain_two_vms)
{
	static struct drm_vsvm_job jobs[64];
	char *buf = map_anon(BIG_BUF);
	struct drm_vsvm_job sum = { .op = DRM_VSVM_OP_CHECKSUM,
				    .size = BIG_BUF };
	struct drm_vsvm_sync sync = { .flags = DRM_VSVM_SYNC_SIGNAL };
	uint64_t seq1, seq2;
	unsigned int n;
	uint32_t vm2;
	char *want;

	ASSERT_NE(NULL, buf);
	want = malloc(BIG_BUF);
	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &vm2));
	n = big_fill_jobs(&self->dev, self->vm, buf, jobs, 64, 1000);
	ASSERT_LE(2, n);
	ASSERT_EQ(0, vsvm_fill(&self->dev, vm2, buf, 3, BIG_BUF));
	memset(want, jobs[n - 1].value, BIG_BUF);
	sum.src = (uintptr_t)buf;

	ASSERT_EQ(0, syncobj_create(&self->dev, &sync.handle));
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, self->vm, jobs, n,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &seq1));
	sync.flags = DRM_VSVM_SYNC_WAIT;
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, vm2, &sum, 1,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &seq2));
	EXPECT_EQ(-ETIME, vsvm_wait(&self->dev, vm2, seq2, 0));
	ASSERT_EQ(0, vsvm_wait(&self->dev, vm2, seq2, 60000000000LL));
	EXPECT_EQ(0, vsvm_wait(&self->dev, self->vm, seq1, 0));
	EXPECT_EQ(0, vsvm_jobs_status(jobs, n));
	EXPECT_EQ(0, sum.status);
	EXPECT_EQ(vsvm_fnv1a(want, BIG_BUF), sum.result);
	EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, vm2));
	free(want);
	munmap(buf, BIG_BUF);
}

static int exec_syncs_raw(struct vsvm_dev *dev, uint32_t vm, uint64_t *p,
			  struct drm_vsvm_ext_exec_syncs *ext)
{
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = 8,
				    .value = 1 };
	struct drm_vsvm_exec exec = { .vm_id = vm, .num_jobs = 1,
				      .jobs = (uintptr_t)&job,
				      .extensions = (uintptr_t)ext };

	return raw_ioctl(dev, DRM_IOCTL_VSVM_EXEC, &exec);
}

/*
 * Malformed syncs fail with -EINVAL before the VM lookup, unknown handles
 * with -ENOENT, a wait for a fence nobody submitted with -EINVAL; a failed
 * exec runs nothing and signals no syncobj.
 */
TEST_F(vsvm, sched_syncobj_bad_arguments)
{
	uint64_t *p = map_anon(SZ_4K);
	struct drm_vsvm_sync syncs[VSVM_TEST_MAX_SYNCS + 1] = {};
	struct drm_vsvm_ext_exec_syncs ext = {
		.base.name = DRM_VSVM_EXT_EXEC_SYNCS, .num_syncs = 1,
		.syncs = (uintptr_t)syncs,
	}, ext2 = ext;
	uint32_t bin, tl, vms[2] = { self->vm, 0 };
	unsigned int i;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, syncobj_create(&self->dev, &bin));
	ASSERT_EQ(0, syncobj_create(&self->dev, &tl));
	for (i = 0; i < 2; i++) {
		struct vsvm_dev *d = &self->dev;

		syncs[0] = (struct drm_vsvm_sync){ .handle = bin };
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		syncs[0].flags = DRM_VSVM_SYNC_WAIT | DRM_VSVM_SYNC_SIGNAL;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		syncs[0].flags = 1u << 2;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		syncs[0].flags = DRM_VSVM_SYNC_SIGNAL;
		syncs[0].reserved = 1;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		syncs[0].reserved = 0;
		ext.pad = 1;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		ext.pad = 0;
		ext.base.pad = 1;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		ext.base.pad = 0;
		ext.num_syncs = 0;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		ext.num_syncs = VSVM_TEST_MAX_SYNCS + 1;
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		ext.num_syncs = 1;
		ext.base.next_extension = (uintptr_t)&ext2;	/* twice */
		EXPECT_EQ(-EINVAL, exec_syncs_raw(d, vms[i], p, &ext));
		ext.base.next_extension = 0;
		ext.syncs = 8;
		EXPECT_EQ(-EFAULT, exec_syncs_raw(d, vms[i], p, &ext));
		ext.syncs = (uintptr_t)syncs;
	}
	/* Well-formed: now the handles count. */
	syncs[0] = (struct drm_vsvm_sync){ .handle = 0xdead,
					   .flags = DRM_VSVM_SYNC_WAIT };
	EXPECT_EQ(-ENOENT, exec_syncs_raw(&self->dev, self->vm, p, &ext));
	syncs[0].flags = DRM_VSVM_SYNC_SIGNAL;
	EXPECT_EQ(-ENOENT, exec_syncs_raw(&self->dev, self->vm, p, &ext));
	/* No fence to wait for: not submitted yet. */
	syncs[0] = (struct drm_vsvm_sync){ .handle = bin,
					   .flags = DRM_VSVM_SYNC_WAIT };
	EXPECT_EQ(-EINVAL, exec_syncs_raw(&self->dev, self->vm, p, &ext));
	syncs[0] = (struct drm_vsvm_sync){ .handle = tl, .timeline_point = 3,
					   .flags = DRM_VSVM_SYNC_WAIT };
	EXPECT_EQ(-EINVAL, exec_syncs_raw(&self->dev, self->vm, p, &ext));
	/* Failing after the lookups: the syncobj to signal stays empty. */
	syncs[0] = (struct drm_vsvm_sync){ .handle = bin,
					   .flags = DRM_VSVM_SYNC_SIGNAL };
	syncs[1] = (struct drm_vsvm_sync){ .handle = 0xdead,
					   .flags = DRM_VSVM_SYNC_WAIT };
	ext.num_syncs = 2;
	EXPECT_EQ(-ENOENT, exec_syncs_raw(&self->dev, self->vm, p, &ext));
	EXPECT_EQ(-EINVAL, syncobj_wait(&self->dev, bin, 0, 0));
	EXPECT_EQ(0, p[0]);	/* no job ran */
	/* And the same exec with a good handle works. */
	syncs[1].handle = tl;
	syncs[1].flags = DRM_VSVM_SYNC_SIGNAL;
	syncs[1].timeline_point = 1;
	EXPECT_EQ(0, exec_syncs_raw(&self->dev, self->vm, p, &ext));
	EXPECT_EQ(0x0101010101010101ULL, p[0]);
	EXPECT_EQ(0, syncobj_wait(&self->dev, bin, 0, 0));
	EXPECT_EQ(0, syncobj_wait(&self->dev, tl, 1, 0));
	munmap(p, SZ_4K);
}

/*
 * Fairness: another VM's small job submitted while a VM's long submission
 * runs completes long before it, not after it.
 */
TEST_F_TIMEOUT(vsvm, sched_fair_between_vms, 120)
{
	static struct drm_vsvm_job jobs[1024];
	char *buf = map_anon(BIG_BUF), *small = map_anon(SZ_64K);
	double t0, t_small, t_big;
	uint64_t seqno;
	unsigned int n;
	uint32_t vm2;
	int running;

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, small);
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &vm2));
	n = big_fill_jobs(&self->dev, self->vm, buf, jobs, 1024, 4000);
	ASSERT_LE(2, n);

	t0 = now_ms();
	ASSERT_EQ(0, vsvm_submit(&self->dev, self->vm, jobs, n, &seqno));
	usleep(200000);
	ASSERT_EQ(0, vsvm_fill(&self->dev, vm2, small, 0x42, SZ_64K));
	t_small = now_ms() - t0 - 200;
	running = vsvm_wait(&self->dev, self->vm, seqno, 0);
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno, 120000000000LL));
	t_big = now_ms() - t0;
	TH_LOG("%u fills of 32 MiB: %.0f ms; 64 KiB fill of another VM: %.1f ms",
	       n, t_big, t_small);
	EXPECT_EQ(-ETIME, running);	/* the big one was still running */
	EXPECT_LT(t_small * 4, t_big);
	EXPECT_EQ(0, vsvm_jobs_status(jobs, n));
	EXPECT_EQ(-1, first_diff(small, 0x42, SZ_64K));
	EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, vm2));
	munmap(small, SZ_64K);
	munmap(buf, BIG_BUF);
}

#define JOB_TIMEOUT_PARAM	"/sys/module/vsvm/parameters/job_timeout_ms"

/*
 * A submission longer than job_timeout_ms is cancelled: its running job
 * ends with -ETIME, the later ones with -ECANCELED; the VM still works.
 */
TEST_F_TIMEOUT(vsvm, sched_job_timeout, 120)
{
	static struct drm_vsvm_job jobs[1024];
	char *buf = map_anon(BIG_BUF), old[32];
	unsigned int n, i, first_err = 0;
	double t0, elapsed;
	int err;

	ASSERT_NE(NULL, buf);
	ASSERT_GT(read_param("job_timeout_ms", old, sizeof(old)), 0);
	n = big_fill_jobs(&self->dev, self->vm, buf, jobs, 1024, 5000);
	ASSERT_LE(2, n);

	ASSERT_EQ(0, sysfile_write(JOB_TIMEOUT_PARAM, "500"));
	t0 = now_ms();
	err = vsvm_exec(&self->dev, self->vm, jobs, n);
	elapsed = now_ms() - t0;
	ASSERT_EQ(0, sysfile_write(JOB_TIMEOUT_PARAM, old));
	TH_LOG("%u fills of 32 MiB (about 5 s) timed out after %.0f ms", n,
	       elapsed);
	EXPECT_EQ(-ETIME, err);
	for (i = 0; i < n && !jobs[i].status; i++)
		;
	first_err = i;
	ASSERT_LT(first_err, n);
	EXPECT_EQ(-ETIME, jobs[first_err].status);
	for (i = first_err + 1; i < n; i++)
		EXPECT_EQ(-ECANCELED, jobs[i].status);
	EXPECT_LE(500, elapsed);
	EXPECT_GT(2500, elapsed);
	/* The VM still runs jobs. */
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, buf, SZ_1M, 0x61));
	munmap(buf, BIG_BUF);
}

/*
 * SIGKILL during a long job, queued while another VM's long job runs: the
 * process exits within a second, without waiting for either job.
 */
TEST_F_TIMEOUT(vsvm, sched_killed_during_long_job_exits, 120)
{
	static struct drm_vsvm_job pjobs[1024];
	char *pbuf = map_anon(BIG_BUF), c;
	int ready[2], go[2], status;
	double t0, exit_ms;
	unsigned int pn;
	uint64_t seqno;
	pid_t pid;

	ASSERT_NE(NULL, pbuf);
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		static struct drm_vsvm_job jobs[1024];
		char *buf = map_anon(BIG_BUF);
		struct vsvm_dev dev;
		unsigned int n;
		uint32_t vm;

		if (!buf || vsvm_open(0, &dev) || vsvm_vm_create(&dev, &vm))
			_exit(1);
		/* Minutes of work (job_timeout_ms is 30 s: one job is less). */
		n = big_fill_jobs(&dev, vm, buf, jobs, 1024, 1e6);
		if (write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		vsvm_exec(&dev, vm, jobs, n);
		_exit(2);
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	/* This VM's long job runs when the child submits its own. */
	pn = big_fill_jobs(&self->dev, self->vm, pbuf, pjobs, 1024, 3000);
	ASSERT_LE(2, pn);
	ASSERT_EQ(0, vsvm_submit(&self->dev, self->vm, pjobs, pn, &seqno));
	ASSERT_EQ(1, write(go[1], "x", 1));
	usleep(300000);
	t0 = now_ms();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	exit_ms = now_ms() - t0;
	TH_LOG("killed during its job, exited in %.1f ms", exit_ms);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_GT(1000, exit_ms);
	EXPECT_EQ(-ETIME, vsvm_wait(&self->dev, self->vm, seqno, 0));
	close(ready[0]);
	close(go[1]);

	/* The other job completes, the device still works. */
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno, 60000000000LL));
	EXPECT_EQ(0, vsvm_jobs_status(pjobs, pn));
	EXPECT_EQ(0, roundtrip(&self->dev, self->vm, data_buf, SZ_64K, 0x22));
	munmap(pbuf, BIG_BUF);
}

struct long_exec {
	struct vsvm_dev *dev;
	uint32_t vm;
	struct drm_vsvm_job *jobs;
	unsigned int n;
	int ret;
	double end_ms;
};

static void *long_exec_thread(void *arg)
{
	struct long_exec *le = arg;
	struct drm_vsvm_exec exec = { .vm_id = le->vm, .num_jobs = le->n,
				      .jobs = (uintptr_t)le->jobs };

	le->ret = raw_ioctl(le->dev, DRM_IOCTL_VSVM_EXEC, &exec);
	le->end_ms = now_ms();
	return NULL;
}

/*
 * VM_DESTROY of a VM with a long job, running while another VM's long job
 * runs, returns at once; the exec waiting for the job returns with it
 * cancelled. A VM whose job waits for a fence nobody signals is destroyed at
 * once too.
 */
TEST_F_TIMEOUT(vsvm, sched_destroy_during_long_job, 120)
{
	static struct drm_vsvm_job jobs[1024], pjobs[1024];
	char *buf = map_anon(BIG_BUF), *pbuf = map_anon(BIG_BUF);
	struct long_exec le = { .dev = &self->dev, .jobs = jobs };
	struct drm_vsvm_sync sync = { .flags = DRM_VSVM_SYNC_WAIT };
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL, .size = SZ_4K };
	double t0, destroy_ms, exec_ms;
	int timeline = open_timeline(self);
	unsigned int i, pn, ran = 0;
	uint64_t seqno, pseqno;
	pthread_t thread;
	uint32_t vm3;

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, pbuf);
	NEED_SW_SYNC(timeline);
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &le.vm));
	le.n = big_fill_jobs(&self->dev, le.vm, buf, jobs, 1024, 20000);
	ASSERT_LE(2, le.n);
	pn = big_fill_jobs(&self->dev, self->vm, pbuf, pjobs, 1024, 3000);
	ASSERT_LE(2, pn);
	ASSERT_EQ(0, vsvm_submit(&self->dev, self->vm, pjobs, pn, &pseqno));
	ASSERT_EQ(0, pthread_create(&thread, NULL, long_exec_thread, &le));
	usleep(300000);
	t0 = now_ms();
	ASSERT_EQ(0, vsvm_vm_destroy(&self->dev, le.vm));
	destroy_ms = now_ms() - t0;
	ASSERT_EQ(0, pthread_join(thread, NULL));
	exec_ms = le.end_ms - t0;
	TH_LOG("destroy took %.1f ms, the exec returned %.1f ms after it",
	       destroy_ms, exec_ms);
	EXPECT_GT(200, destroy_ms);
	EXPECT_GT(1000, exec_ms);
	EXPECT_EQ(0, le.ret);
	for (i = 0; i < le.n; i++) {
		if (!jobs[i].status) {
			ran++;
			continue;
		}
		EXPECT_EQ(-ECANCELED, jobs[i].status);
	}
	EXPECT_GT(le.n, ran);
	EXPECT_EQ(-ETIME, vsvm_wait(&self->dev, self->vm, pseqno, 0));
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, pseqno, 60000000000LL));
	EXPECT_EQ(0, vsvm_jobs_status(pjobs, pn));

	/* A job held back by a fence user space never signals. */
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &vm3));
	ASSERT_EQ(0, syncobj_user_fence(&self->dev, timeline, &sync.handle));
	job.dst = (uintptr_t)buf;
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, vm3, &job, 1,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &seqno));
	t0 = now_ms();
	ASSERT_EQ(0, vsvm_vm_destroy(&self->dev, vm3));
	destroy_ms = now_ms() - t0;
	TH_LOG("destroy with a job waiting for a fence took %.1f ms",
	       destroy_ms);
	EXPECT_GT(200, destroy_ms);
	close_timeline(self);	/* lets vm3's job go */
	munmap(pbuf, BIG_BUF);
	munmap(buf, BIG_BUF);
}

/* A synchronous exec of one 4 KiB fill, from a thread of its own. */
struct sync_fill {
	struct vsvm_dev *dev;
	uint32_t vm;
	char *dst;
	pid_t tid;
	int ret;
	bool done;
};

static void *sync_fill_thread(void *arg)
{
	struct sync_fill *f = arg;

	__atomic_store_n(&f->tid, gettid(), __ATOMIC_RELEASE);
	f->ret = vsvm_fill(f->dev, f->vm, f->dst, 0x22, SZ_4K);
	__atomic_store_n(&f->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Whether the thread of @f returned within @ms. */
static bool sync_fill_returns(struct sync_fill *f, double ms)
{
	double end = now_ms() + ms;

	while (!__atomic_load_n(&f->done, __ATOMIC_ACQUIRE)) {
		if (now_ms() > end)
			return false;
		usleep(10000);
	}
	return true;
}

/* 'D' in /proc/self/task/TID/stat: asleep and not interruptible. */
static bool task_blocked(pid_t tid)
{
	char path[64], stat[512], *end;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if (sysfile_read(path, stat, sizeof(stat)) <= 0)
		return false;
	end = strrchr(stat, ')');
	return end && end[1] == ' ' && end[2] == 'D';
}

/*
 * Wait until the threads of @f sit in their exec's killable wait (state D
 * on two looks 50 ms apart), for at most 20 s. Return: true if they do,
 * false at the deadline or as soon as one of them returned.
 */
static bool sync_fills_blocked(struct sync_fill *f, unsigned int n)
{
	double end = now_ms() + 20000;
	unsigned int i, steady = 0;

	while (steady < 2 && now_ms() < end) {
		usleep(50000);
		for (i = 0; i < n; i++) {
			pid_t tid = __atomic_load_n(&f[i].tid, __ATOMIC_ACQUIRE);

			if (__atomic_load_n(&f[i].done, __ATOMIC_ACQUIRE))
				return false;
			if (!tid || !task_blocked(tid))
				break;
		}
		steady = i == n ? steady + 1 : 0;
	}
	return steady == 2;
}

/*
 * A VM's submissions are bounded: 64 queued or running, synchronous ones
 * included, and max_inflight asynchronous ones not yet waited for; an exec
 * beyond either fails with -EBUSY, takes no seqno, and leaves the accepted
 * ones to run. A job waiting for a user fence holds the VM's queue here.
 */
TEST_F_TIMEOUT(vsvm, sched_submissions_bounded, 120)
{
	enum { PENDING = 64 };
	char *buf = map_anon(2 * PENDING * SZ_4K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL, .size = SZ_4K,
				    .value = 0x22 };
	struct drm_vsvm_sync sync = { .flags = DRM_VSVM_SYNC_WAIT };
	int timeline = open_timeline(self);
	unsigned int i, inflight = self->dev.info.max_inflight;
	static struct sync_fill f[PENDING];
	pthread_t threads[PENDING];
	uint64_t first, seqno[PENDING];

	ASSERT_NE(NULL, buf);
	NEED_SW_SYNC(timeline);
	ASSERT_EQ(16, inflight);

	/* 1 asynchronous submission held by the fence, 63 synchronous. */
	ASSERT_EQ(0, syncobj_user_fence(&self->dev, timeline, &sync.handle));
	job.dst = (uintptr_t)buf;
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, self->vm, &job, 1,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &first));
	for (i = 0; i < PENDING - 1; i++) {
		f[i] = (struct sync_fill){ .dev = &self->dev, .vm = self->vm,
					   .dst = buf + (i + 1) * SZ_4K };
		ASSERT_EQ(0, pthread_create(&threads[i], NULL,
					    sync_fill_thread, &f[i]));
	}
	ASSERT_TRUE(sync_fills_blocked(f, PENDING - 1));
	/*
	 * 64 pending, 1 in flight: the 64 bound, not max_inflight. The
	 * synchronous exec runs in a thread: accepted, it would wait for the
	 * fence.
	 */
	job.dst = (uintptr_t)(buf + PENDING * SZ_4K);
	ASSERT_EQ(-EBUSY, vsvm_submit(&self->dev, self->vm, &job, 1,
				      &seqno[0]));
	f[PENDING - 1] = (struct sync_fill){ .dev = &self->dev,
					     .vm = self->vm,
					     .dst = buf + PENDING * SZ_4K };
	ASSERT_EQ(0, pthread_create(&threads[PENDING - 1], NULL,
				    sync_fill_thread, &f[PENDING - 1]));
	EXPECT_TRUE(sync_fill_returns(&f[PENDING - 1], 10000));
	EXPECT_EQ(0, buf[0]);
	ASSERT_EQ(0, sw_sync_signal(timeline));
	ASSERT_EQ(0, pthread_join(threads[PENDING - 1], NULL));
	EXPECT_EQ(-EBUSY, f[PENDING - 1].ret);
	for (i = 0; i < PENDING - 1; i++) {
		ASSERT_EQ(0, pthread_join(threads[i], NULL));
		EXPECT_EQ(0, f[i].ret);
	}
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, first, 10000000000LL));
	EXPECT_EQ(-1, first_diff(buf, 0x22, PENDING * SZ_4K));
	EXPECT_EQ(-1, first_diff(buf + PENDING * SZ_4K, 0, SZ_4K));

	/* max_inflight asynchronous ones, the first held by a fence. */
	close_timeline(self);
	timeline = open_timeline(self);	/* fences at 1 again */
	ASSERT_LE(0, timeline);
	ASSERT_EQ(0, syncobj_user_fence(&self->dev, timeline, &sync.handle));
	job.dst = (uintptr_t)(buf + PENDING * SZ_4K);	/* a WAIT rewrote it */
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, self->vm, &job, 1,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &seqno[0]));
	EXPECT_EQ(first + PENDING, seqno[0]);	/* none for the refusals */
	for (i = 1; i < inflight; i++) {
		job.dst = (uintptr_t)(buf + (PENDING + i) * SZ_4K);
		ASSERT_EQ(0, vsvm_submit(&self->dev, self->vm, &job, 1,
					 &seqno[i]));
	}
	ASSERT_EQ(-EBUSY, vsvm_submit(&self->dev, self->vm, &job, 1,
				      &seqno[inflight]));
	/* A synchronous one is still accepted: 16 of 64 are pending. */
	f[0] = (struct sync_fill){ .dev = &self->dev, .vm = self->vm,
				   .dst = buf + (PENDING + inflight) * SZ_4K };
	ASSERT_EQ(0, pthread_create(&threads[0], NULL, sync_fill_thread,
				    &f[0]));
	ASSERT_TRUE(sync_fills_blocked(f, 1));
	ASSERT_EQ(0, sw_sync_signal(timeline));
	ASSERT_EQ(0, pthread_join(threads[0], NULL));
	EXPECT_EQ(0, f[0].ret);
	/* Done but not waited for: still counted. */
	EXPECT_EQ(-EBUSY, vsvm_submit(&self->dev, self->vm, &job, 1,
				      &seqno[inflight]));
	ASSERT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno[0],
			       10000000000LL));
	job.dst = (uintptr_t)(buf + (PENDING + inflight + 1) * SZ_4K);
	EXPECT_EQ(0, vsvm_submit(&self->dev, self->vm, &job, 1,
				 &seqno[0]));
	for (i = 0; i < inflight; i++) {
		job.status = 1;	/* the wait writes the result */
		EXPECT_EQ(0, vsvm_wait(&self->dev, self->vm, seqno[i],
				       10000000000LL));
		EXPECT_EQ(0, job.status);
	}
	EXPECT_EQ(-1, first_diff(buf, 0x22, (PENDING + inflight + 2) * SZ_4K));
	close_timeline(self);
	munmap(buf, 2 * PENDING * SZ_4K);
}

static void wait_interrupted(int sig)
{
	(void)sig;
}

struct wait_call {
	struct vsvm_dev *dev;
	uint32_t vm;
	uint64_t seqno;
	int ret;
	double ms;
	bool done;
};

static void *wait_thread(void *arg)
{
	struct wait_call *w = arg;
	struct drm_vsvm_wait args = { .vm_id = w->vm, .seqno = w->seqno,
				      .timeout_ns = 10000000000LL };
	double t0 = now_ms();

	/* Not libdrm's drmIoctl(), which restarts on EINTR. */
	w->ret = raw_ioctl(w->dev, DRM_IOCTL_VSVM_WAIT, &args);
	w->ms = now_ms() - t0;
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * WAIT sleeps interruptibly: a signal whose handler does not ask for
 * restarts ends a 10 s wait at once with -EINTR, and the submission stays
 * there to be waited for again.
 */
TEST_F(vsvm, sched_wait_interrupted_by_signal)
{
	uint64_t *p = map_anon(SZ_4K);
	struct drm_vsvm_job job = { .op = DRM_VSVM_OP_FILL,
				    .dst = (uintptr_t)p, .size = SZ_4K,
				    .value = 0x5a };
	struct drm_vsvm_sync sync = { .flags = DRM_VSVM_SYNC_WAIT };
	struct sigaction sa = { .sa_handler = wait_interrupted }, old;
	struct wait_call w = { .dev = &self->dev, .vm = self->vm };
	int timeline = open_timeline(self);
	pthread_t thread;
	unsigned int i;

	ASSERT_NE(NULL, p);
	NEED_SW_SYNC(timeline);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, &old));	/* no SA_RESTART */
	ASSERT_EQ(0, syncobj_user_fence(&self->dev, timeline, &sync.handle));
	ASSERT_EQ(0, vsvm_exec_syncs(&self->dev, self->vm, &job, 1,
				     DRM_VSVM_EXEC_ASYNC, &sync, 1, &w.seqno));
	ASSERT_EQ(0, pthread_create(&thread, NULL, wait_thread, &w));
	/* Again and again: a signal before the wait began interrupts none. */
	for (i = 0; i < 50 && !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE);
	     i++) {
		usleep(100000);
		ASSERT_EQ(0, pthread_kill(thread, SIGUSR1));
	}
	EXPECT_EQ(0, p[0]);
	/* Not interrupted, it returns when the job ran. */
	ASSERT_EQ(0, sw_sync_signal(timeline));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(-EINTR, w.ret);
	EXPECT_GT(5000, w.ms);
	job.status = 1;	/* the wait writes the result */
	EXPECT_EQ(0, vsvm_wait(&self->dev, self->vm, w.seqno, 10000000000LL));
	EXPECT_EQ(0, job.status);
	EXPECT_EQ(-1, first_diff(p, 0x5a, SZ_4K));
	ASSERT_EQ(0, sigaction(SIGUSR1, &old, NULL));
	close_timeline(self);
	munmap(p, SZ_4K);
}

/*
 * The dmirror personality (/dev/vsvm_dmirrorN, the ioctls of the kernel's
 * test_hmm; hmm-tests runs on it in make check): what hmm-tests does not
 * try. The ABI is lib/test_hmm_uapi.h's, defined again here.
 */
struct dmirror_cmd {
	uint64_t addr;
	uint64_t ptr;
	uint64_t npages;
	uint64_t cpages;
	uint64_t faults;
};

#define DMIRROR_READ		_IOWR('H', 0x00, struct dmirror_cmd)
#define DMIRROR_WRITE		_IOWR('H', 0x01, struct dmirror_cmd)
#define DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct dmirror_cmd)
#define DMIRROR_EXCLUSIVE	_IOWR('H', 0x05, struct dmirror_cmd)
#define DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct dmirror_cmd)

static int dmirror(int fd, unsigned long op, void *addr, void *ptr,
		   uint64_t npages, struct dmirror_cmd *out)
{
	struct dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};

	if (ioctl(fd, op, &cmd))
		return -errno;
	if (out)
		*out = cmd;
	return 0;
}

#define VRAM_TIMESLICE_PARAM	"/sys/module/vsvm/parameters/vram_timeslice_ms"

/*
 * A page the GPU and the CPU take turns on (ping-pong): the GPU's fault
 * migrates 16 pages to VRAM (preferred location), the CPU's read brings them
 * back. With vram_timeslice_ms = 200 no CPU read gets them back before they
 * have been in VRAM 200 ms; without a timeslice the CPU does not wait.
 */
TEST_F_TIMEOUT(vsvm, vram_timeslice_bounds_ping_pong, 120)
{
	const size_t size = 16 * SZ_4K;
	const int rounds = 5, slice_ms = 200;
	double min_on = 1e9, max_on = 0, min_off = 1e9, t;
	struct drm_vsvm_stats s0, s1;
	char *p, old[32];
	int pass, r;

	NEED_VRAM();
	p = map_2m_aligned();
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_NOHUGEPAGE));
	memset(p, 0, size);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_DEVICE));
	ASSERT_GT(read_param("vram_timeslice_ms", old, sizeof(old)), 0);
	EXPECT_EQ(-EINVAL, sysfile_write(VRAM_TIMESLICE_PARAM, "251"));

	for (pass = 0; pass < 2 && _metadata->passed; pass++) {
		EXPECT_EQ(0, sysfile_write(VRAM_TIMESLICE_PARAM,
					 pass ? "0" : "200"));
		for (r = 1; r <= rounds && _metadata->passed; r++) {
			s0 = stats_of(&self->dev, self->vm);
			t = now_ms();
			EXPECT_EQ(0, vsvm_fill(&self->dev, self->vm, p, r, size));
			EXPECT_EQ(r, *(volatile char *)p);
			t = now_ms() - t;
			s1 = stats_of(&self->dev, self->vm);
			EXPECT_EQ(size / SZ_4K, s1.vram_pages_in - s0.vram_pages_in);
			EXPECT_EQ(size / SZ_4K,
				  s1.vram_pages_out - s0.vram_pages_out);
			EXPECT_EQ(-1, first_diff(p, r, size));
			if (pass) {
				min_off = t < min_off ? t : min_off;
			} else {
				min_on = t < min_on ? t : min_on;
				max_on = t > max_on ? t : max_on;
			}
		}
	}
	EXPECT_EQ(0, sysfile_write(VRAM_TIMESLICE_PARAM, old));
	TH_LOG("GPU write + CPU read of 16 pages: %.0f-%.0f ms with a %d ms timeslice, from %.0f ms without",
	       min_on, max_on, slice_ms, min_off);
	/* A jiffy of slack: the timeslice starts on a jiffy. */
	EXPECT_LE(slice_ms - 10, min_on);
	EXPECT_GT(slice_ms + 2000, max_on);
	EXPECT_GT(min_on - slice_ms / 2, min_off);
	unmap_2m_aligned(p);
}

/*
 * Whether the running kernel has the function @name (/proc/kallsyms lists
 * names even where it hides addresses).
 */
static bool kernel_has_symbol(const char *name)
{
	char line[256], sym[128];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %127s", sym) == 1 && !strcmp(sym, name);
	fclose(f);
	return found;
}

/*
 * Device-exclusive access (make_device_exclusive_range()) comes with
 * device-private memory; without it (Debian's kernel) EXCLUSIVE fails with
 * -EOPNOTSUPP once its arguments are checked.
 */
static bool kernel_has_device_exclusive(void)
{
	return kernel_has_symbol("make_device_exclusive_range");
}

/*
 * Bits of the user address space: 56 with 5-level page tables (a kernel
 * with X86_5LEVEL on a CPU with LA57 maps above 47 bits when asked), 47
 * without.
 */
static unsigned int user_va_bits(void)
{
	void *hint = (void *)(1UL << 48);
	void *p = mmap(hint, SZ_4K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return 47;
	munmap(p, SZ_4K);
	return p == hint ? 56 : 47;
}

/* Every malformed request fails cleanly, with test_hmm's errno. */
TEST(dmirror_bad_input)
{
	size_t size = 16 * SZ_4K;
	char *buf = map_anon(size), *mirror = map_anon(size);
	/* Past the user address space. */
	uint64_t max_pages = (1ULL << user_va_bits()) / SZ_4K;
	/* What an EXCLUSIVE of valid arguments fails with, when it fails. */
	int excl_err = kernel_has_device_exclusive() ? -EFAULT : -EOPNOTSUPP;
	struct dmirror_cmd cmd = {};
	int fd, status;
	pid_t pid;

	fd = open("/dev/vsvm_dmirror0", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, mirror);
	memset(buf, 0x5a, size);

	/* No pages, unaligned, wrapping, beyond user space: -EINVAL. */
	EXPECT_EQ(-EINVAL, dmirror(fd, DMIRROR_READ, buf, mirror, 0, NULL));
	EXPECT_EQ(-EINVAL, dmirror(fd, DMIRROR_READ, buf + 1, mirror, 1,
				   NULL));
	EXPECT_EQ(-EINVAL, dmirror(fd, DMIRROR_READ, (void *)-SZ_4K, mirror,
				   2, NULL));
	EXPECT_EQ(-EINVAL, dmirror(fd, DMIRROR_READ, buf, mirror, ~0ULL,
				   NULL));
	EXPECT_EQ(-EINVAL, dmirror(fd, DMIRROR_EXCLUSIVE, buf, mirror,
				   max_pages, NULL));
	/* An unknown command: -EINVAL, as test_hmm's. */
	EXPECT_EQ(-EINVAL, dmirror(fd, _IOWR('H', 0x3f, struct dmirror_cmd),
				   buf, mirror, 1, NULL));
	/* A valid range too big for a bounce buffer: -ENOMEM, no warning. */
	EXPECT_EQ(-ENOMEM, dmirror(fd, DMIRROR_READ, (void *)SZ_4K, mirror,
				   max_pages - 2, NULL));
	EXPECT_EQ(-ENOMEM, dmirror(fd, DMIRROR_EXCLUSIVE, (void *)SZ_4K,
				   mirror, max_pages - 2, NULL));
	/* The argument or the user buffer unmapped: -EFAULT. */
	EXPECT_EQ(-1, ioctl(fd, DMIRROR_READ, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-EFAULT, dmirror(fd, DMIRROR_READ, buf, (void *)SZ_4K, 16,
				   NULL));
	EXPECT_EQ(-EFAULT, dmirror(fd, DMIRROR_WRITE, buf, (void *)SZ_4K, 16,
				   NULL));
	EXPECT_EQ(excl_err, dmirror(fd, DMIRROR_EXCLUSIVE, buf, (void *)SZ_4K,
				    16, NULL));
	/* Nothing mapped there: -EFAULT. */
	EXPECT_EQ(-EFAULT, dmirror(fd, DMIRROR_READ, (void *)SZ_4K, mirror,
				   1, NULL));
	EXPECT_EQ(excl_err, dmirror(fd, DMIRROR_EXCLUSIVE, (void *)SZ_4K,
				    mirror, 1, NULL));
	/* Exclusive access is write access: read-only memory is -EFAULT. */
	ASSERT_EQ(0, mprotect(buf, size, PROT_READ));
	EXPECT_EQ(excl_err, dmirror(fd, DMIRROR_EXCLUSIVE, buf, mirror, 16,
				    NULL));
	EXPECT_EQ(0, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE, buf, NULL, 16,
			     NULL));
	ASSERT_EQ(0, mprotect(buf, size, PROT_READ | PROT_WRITE));

	/* Another process (a child) may not use the mirror: -EINVAL. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(dmirror(fd, DMIRROR_READ, buf, mirror, 16, NULL) ==
		      -EINVAL ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* After all that, the mirror still works and the data is intact. */
	memset(mirror, 0, size);
	ASSERT_EQ(0, dmirror(fd, DMIRROR_READ, buf, mirror, 16, &cmd));
	EXPECT_EQ(16, cmd.cpages);
	EXPECT_EQ(-1, first_diff(mirror, 0x5a, size));
	EXPECT_EQ(-1, first_diff(buf, 0x5a, size));
	close(fd);
	munmap(buf, size);
	munmap(mirror, size);
}

/*
 * Exclusive access again over pages the device holds already (no retrying
 * forever), overlapping passes, revocation by munmap() of part of them, and
 * by a device READ, which faults through hmm_range_fault() as a CPU access
 * does. The file's exclusive map goes with the file (kmemleak).
 */
TEST(dmirror_exclusive_again_and_revoked)
{
	size_t size = 200 * SZ_4K;
	char *buf = map_anon(size), *mirror = map_anon(size);
	char *want = map_anon(size);
	struct dmirror_cmd cmd = {};
	int fd, i;

	if (!kernel_has_device_exclusive())
		SKIP(return, "no device-exclusive access in this kernel (no DEVICE_PRIVATE)");
	fd = open("/dev/vsvm_dmirror0", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, mirror);
	ASSERT_NE(NULL, want);
	/* 6.1 cannot make the pages of a THP exclusive: none here. */
	ASSERT_EQ(0, madvise(buf, size, MADV_NOHUGEPAGE));
	fill_pattern(buf, size, 7);
	fill_pattern(want, size, 7);

	for (i = 0; i < 3; i++) {
		memset(mirror, 0, size);
		ASSERT_EQ(0, dmirror(fd, DMIRROR_EXCLUSIVE, buf, mirror, 200,
				     &cmd));
		EXPECT_EQ(200, cmd.cpages);
		EXPECT_EQ(0, memcmp(want, mirror, size));
	}
	ASSERT_EQ(0, dmirror(fd, DMIRROR_EXCLUSIVE, buf + 50 * SZ_4K, mirror,
			     100, &cmd));
	EXPECT_EQ(0, memcmp(want + 50 * SZ_4K, mirror, 100 * SZ_4K));
	EXPECT_EQ(-EPERM, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE, buf, NULL, 200,
				  NULL));

	/* munmap() of pages 0..99 revokes them, not the others. */
	ASSERT_EQ(0, munmap(buf, 100 * SZ_4K));
	EXPECT_EQ(0, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE, buf, NULL, 100,
			     NULL));
	EXPECT_EQ(-EPERM, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE,
				  buf + 100 * SZ_4K, NULL, 1, NULL));
	EXPECT_EQ(-EPERM, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE,
				  buf + 199 * SZ_4K, NULL, 1, NULL));

	/*
	 * A device READ of pages 100..149 revokes those (and the rest of the
	 * GPU SVM range holding page 149, at most 64 KiB: not page 199).
	 */
	memset(mirror, 0, size);
	ASSERT_EQ(0, dmirror(fd, DMIRROR_READ, buf + 100 * SZ_4K, mirror, 50,
			     &cmd));
	EXPECT_EQ(0, memcmp(want + 100 * SZ_4K, mirror, 50 * SZ_4K));
	EXPECT_EQ(0, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE, buf + 100 * SZ_4K,
			     NULL, 50, NULL));
	EXPECT_EQ(-EPERM, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE,
				  buf + 199 * SZ_4K, NULL, 1, NULL));

	/* The CPU reads what it wrote, which revokes the rest. */
	EXPECT_EQ(0, memcmp(want + 150 * SZ_4K, buf + 150 * SZ_4K,
			    50 * SZ_4K));
	EXPECT_EQ(0, dmirror(fd, DMIRROR_CHECK_EXCLUSIVE, buf + 100 * SZ_4K,
			     NULL, 100, NULL));
	close(fd);
	munmap(buf + 100 * SZ_4K, 100 * SZ_4K);
	munmap(mirror, size);
	munmap(want, size);
}

/*
 * A writable private file mapping migrates to VRAM: the written pages and
 * the ones only read (page cache) or never touched alike, since the
 * migration write-faults each page first, which makes it a private
 * anonymous copy. The file never sees the device's data. A read-only
 * private mapping and a shared one stay in system memory: MIGRATE_TO_DEV
 * fails with -ENOENT, as test_hmm's read-back does.
 */
TEST_F(vsvm, dmirror_migrate_file_private)
{
	size_t size = 16 * SZ_4K;
	char path[] = "/tmp/vsvm-dmirror-XXXXXX";
	char *p, *ro, *shared, *mirror = map_anon(size);
	struct dmirror_cmd cmd = {};
	ssize_t got;
	int fd, file;

	fd = open("/dev/vsvm_dmirror0", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, mirror);
	file = mkstemp(path);
	ASSERT_LE(0, file);
	unlink(path);
	memset(mirror, 0x11, size);
	ASSERT_EQ(size, write(file, mirror, size));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
	ro = mmap(NULL, size, PROT_READ, MAP_PRIVATE, file, 0);
	shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, shared);
	if (!self->dev.info.vram_size) {
		EXPECT_EQ(-EOPNOTSUPP, dmirror(fd, DMIRROR_MIGRATE_TO_DEV, p,
					       mirror, 16, NULL));
		SKIP(return, "no device memory");
	}
	EXPECT_EQ(0x11, p[0]);			/* page 0 read */
	memset(p + 8 * SZ_4K, 0x3c, 8 * SZ_4K);	/* pages 8..15 written */

	memset(mirror, 0, size);
	ASSERT_EQ(0, dmirror(fd, DMIRROR_MIGRATE_TO_DEV, p, mirror, 16, &cmd));
	EXPECT_EQ(16, cmd.cpages);
	EXPECT_EQ(-1, first_diff(mirror, 0x11, 8 * SZ_4K));
	EXPECT_EQ(-1, first_diff(mirror + 8 * SZ_4K, 0x3c, 8 * SZ_4K));
	/* The CPU faults it back; the file never saw the writes. */
	EXPECT_EQ(-1, first_diff(p, 0x11, 8 * SZ_4K));
	EXPECT_EQ(-1, first_diff(p + 8 * SZ_4K, 0x3c, 8 * SZ_4K));
	got = pread(file, mirror, size, 0);
	EXPECT_EQ(size, got);
	EXPECT_EQ(-1, first_diff(mirror, 0x11, size));
	EXPECT_EQ(-1, first_diff(ro, 0x11, size));

	EXPECT_EQ(-ENOENT, dmirror(fd, DMIRROR_MIGRATE_TO_DEV, ro, mirror, 16,
				   NULL));
	EXPECT_EQ(-ENOENT, dmirror(fd, DMIRROR_MIGRATE_TO_DEV, shared, mirror,
				   16, NULL));
	EXPECT_EQ(-1, first_diff(shared, 0x11, size));
	munmap(p, size);
	munmap(ro, size);
	munmap(shared, size);
	close(file);
	close(fd);
	munmap(mirror, size);
}

/*
 * The CPU agent: DRM_IOCTL_VSVM_VM_READ reads a VM's memory as a CPU access
 * would see it, through a pages object without a DMA device.
 */

static int vm_read_raw(struct vsvm_dev *dev, struct drm_vsvm_vm_read *args)
{
	return ioctl(dev->fd, DRM_IOCTL_VSVM_VM_READ, args) ? -errno : 0;
}

/*
 * Read @size bytes at @src into a buffer with guard bytes around it and
 * compare with @expect. Return the read's error, -EIO on a wrong byte,
 * -EOVERFLOW when the read wrote outside its @size bytes.
 */
static int vm_read_check(struct vsvm_dev *dev, uint32_t vm, const void *src,
			 const void *expect, size_t size)
{
	const size_t guard = 64;
	char *buf = malloc(size + 2 * guard);
	int err;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0xee, size + 2 * guard);
	err = vsvm_vm_read(dev, vm, src, buf + guard, size);
	if (!err && memcmp(buf + guard, expect, size))
		err = -EIO;
	if (!err && (first_diff(buf, 0xee, guard) >= 0 ||
		     first_diff(buf + guard + size, 0xee, guard) >= 0))
		err = -EOVERFLOW;
	free(buf);
	return err;
}

/* Odd offsets and sizes, every kind of page: the CPU's bytes, exactly. */
TEST_F(vsvm, vm_read_matches_cpu_bytes)
{
	const size_t size = 3 * SZ_1M + 123;
	char *heap = malloc(size), *ref = malloc(size);
	char *resv = map_anon(2 * SZ_2M), *thp, *ro, *fresh;
	char zeros[SZ_4K * 3] = { 0 };

	ASSERT_NE(NULL, heap);
	ASSERT_NE(NULL, ref);
	ASSERT_NE(NULL, resv);
	fill_pattern(heap, size, 51);
	memcpy(ref, heap, size);
	/* Across pages, across the kernel's passes, up to the largest read. */
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, heap + 4093,
				   ref + 4093, SZ_1M - 77));
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, heap + 1, ref + 1,
				   DRM_VSVM_VM_READ_MAX_SIZE));
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, heap + size - 1,
				   ref + size - 1, 1));
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, heap + SZ_4K - 3,
				   ref + SZ_4K - 3, 6));
	/* The reader wrote nothing. */
	EXPECT_EQ(0, memcmp(heap, ref, size));

	/* A huge page (where the kernel gives one), read inside. */
	thp = align_2m(resv);
	madvise(thp, SZ_2M, MADV_HUGEPAGE);
	fill_pattern(thp, SZ_2M, 52);
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, thp + SZ_1M - 5000,
				   thp + SZ_1M - 5000, SZ_1M - 1));

	/* Memory never touched reads as zeroes. */
	fresh = map_anon(sizeof(zeros));
	ASSERT_NE(NULL, fresh);
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, fresh + 7, zeros,
				   sizeof(zeros) - 7));

	/* Read-only memory is readable. */
	ro = map_anon(SZ_64K);
	ASSERT_NE(NULL, ro);
	fill_pattern(ro, SZ_64K, 53);
	memcpy(ref, ro, SZ_64K);
	ASSERT_EQ(0, mprotect(ro, SZ_64K, PROT_READ));
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, ro + 9, ref + 9,
				   SZ_64K - 9));

	munmap(ro, SZ_64K);
	munmap(fresh, sizeof(zeros));
	munmap(resv, 2 * SZ_2M);
	free(ref);
	free(heap);
}

/* Every CPU change is seen by the next read: writes, remaps, munmap. */
TEST_F(vsvm, vm_read_follows_cpu_changes)
{
	const size_t size = SZ_64K;
	char *p = map_anon(size), *ref = malloc(size);
	char *buf = malloc(size);

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, ref);
	ASSERT_NE(NULL, buf);
	fill_pattern(p, size, 61);
	memcpy(ref, p, size);
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, p + 3, ref + 3,
				   size - 5));

	/* A CPU write. */
	fill_pattern(p, size, 62);
	memcpy(ref, p, size);
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, p + 3, ref + 3,
				   size - 5));

	/* A device write. */
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x5c, size));
	ASSERT_EQ(0, vsvm_vm_read(&self->dev, self->vm, p, buf, size));
	EXPECT_EQ(-1, first_diff(buf, 0x5c, size));

	/* munmap, then a new mapping with other content at the address. */
	ASSERT_EQ(0, munmap(p, size));
	ASSERT_EQ(p, mmap(p, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill_pattern(p, size, 63);
	memcpy(ref, p, size);
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, p + 3, ref + 3,
				   size - 5));

	/* A mapping replaced in place (MAP_FIXED over it). */
	ASSERT_EQ(p, mmap(p, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill_pattern(p, size, 64);
	memcpy(ref, p, size);
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, p, ref, size));

	/* munmap without a new mapping: a hole, at any byte of the read. */
	ASSERT_EQ(0, munmap(p + SZ_4K, SZ_4K));
	memset(buf, 0xee, size);
	EXPECT_EQ(-EFAULT, vsvm_vm_read(&self->dev, self->vm, p, buf, size));
	EXPECT_EQ(-EFAULT, vsvm_vm_read(&self->dev, self->vm, p + SZ_4K + 5,
					buf, 1));
	EXPECT_EQ(0, vm_read_check(&self->dev, self->vm, p + SZ_4K - 1,
				   ref + SZ_4K - 1, 1));
	ASSERT_EQ(0, munmap(p, size));
	EXPECT_EQ(-EFAULT, vsvm_vm_read(&self->dev, self->vm, p, buf, size));
	free(buf);
	free(ref);
}

/*
 * The remapper: replaces the whole interval again and again by a mapping
 * whose every 4 KiB page holds one 32-bit value, the mapping's version,
 * filled before it is mapped there: a page is never half written while it
 * is mapped there. Most versions are one of a few memfds mapped over it
 * (MAP_FIXED); every fourth is anonymous memory moved in (mremap), so the
 * pages it replaces are freed. A memfd's pages stay mapped at a second
 * address, where they are poisoned (no page of the poison is uniform) as
 * soon as the next version replaced them at the interval, and filled again
 * before they are mapped there again. Nothing may read them in between: a
 * reader that copied a page after the invalidation that took it away would
 * see the poison. @next is the version about to be mapped, @mapped the
 * last one mapped.
 */
#define VM_READ_MEMFDS	4

struct vm_read_remapper {
	uint32_t *target;
	size_t size;
	uint32_t next;
	uint32_t mapped;
	int stop;
	int err;
	int fd[VM_READ_MEMFDS];
	uint32_t *alias[VM_READ_MEMFDS];
	unsigned int pause_us;
};

static void vm_read_fill(uint32_t *p, size_t size, uint32_t v)
{
	size_t i;

	for (i = 0; i < size / sizeof(*p); i++)
		p[i] = v;
}

/* Map version @v at the interval. Return the memfd used, or -1. */
static int vm_read_map_version(struct vm_read_remapper *r, uint32_t v)
{
	int m = v % VM_READ_MEMFDS;
	void *s, *got;

	if (v % 4 == 3) {
		s = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s == MAP_FAILED) {
			r->err = errno;
			return -1;
		}
		vm_read_fill(s, r->size, v);
		__atomic_store_n(&r->next, v, __ATOMIC_SEQ_CST);
		got = mremap(s, r->size, r->size, MREMAP_MAYMOVE | MREMAP_FIXED,
			     r->target);
		m = -1;
	} else {
		/* Replaced (and poisoned) at least one version ago. */
		vm_read_fill(r->alias[m], r->size, v);
		__atomic_store_n(&r->next, v, __ATOMIC_SEQ_CST);
		got = mmap(r->target, r->size, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_FIXED, r->fd[m], 0);
	}
	if (got != r->target)
		r->err = errno ? errno : EIO;
	__atomic_store_n(&r->mapped, v, __ATOMIC_SEQ_CST);
	return m;
}

static void *vm_read_remap_thread(void *arg)
{
	struct vm_read_remapper *r = arg;
	uint32_t v = __atomic_load_n(&r->mapped, __ATOMIC_SEQ_CST);
	uint32_t *poison = malloc(r->size);
	int m, prev = -1;
	size_t i;

	if (!poison) {
		r->err = ENOMEM;
		return NULL;
	}
	for (i = 0; i < r->size / sizeof(*poison); i++)
		poison[i] = 0xdead0000 | (i & 0xffff);
	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST) && !r->err) {
		m = vm_read_map_version(r, ++v);
		/*
		 * The previous version is gone from the interval: poison it
		 * at once, from its end, to meet a reader copying from its
		 * start.
		 */
		if (prev >= 0)
			for (i = r->size; i; i -= SZ_4K)
				memcpy((char *)r->alias[prev] + i - SZ_4K,
				       (char *)poison + i - SZ_4K, SZ_4K);
		prev = m;
		if (r->pause_us)
			usleep(r->pause_us);
	}
	free(poison);
	return NULL;
}

/*
 * Reads of VM @vm racing a thread that keeps replacing the memory, pausing
 * @pause_us after each version: every page read is one version, whole, and
 * one that was mapped during the read (not a page the process let go, being
 * reused or poisoned).
 */
static void vm_read_race(struct __test_metadata *_metadata,
			 struct vsvm_dev *dev, uint32_t vm,
			 unsigned int pause_us)
{
	const size_t size = 64 * SZ_4K;
	const unsigned int npages = size / SZ_4K;
	struct vm_read_remapper r = { .size = size, .mapped = 1, .next = 1,
				      .pause_us = pause_us };
	uint32_t *buf = malloc(size);
	unsigned long reads = 0, bad = 0;
	double t0 = now_ms();
	unsigned int i;
	pthread_t t;

	ASSERT_NE(NULL, buf);
	for (i = 0; i < VM_READ_MEMFDS; i++) {
		r.fd[i] = memfd_create("vm_read", 0);
		ASSERT_LE(0, r.fd[i]);
		ASSERT_EQ(0, ftruncate(r.fd[i], size));
		r.alias[i] = mmap(NULL, size, PROT_READ | PROT_WRITE,
				  MAP_SHARED, r.fd[i], 0);
		ASSERT_NE(MAP_FAILED, r.alias[i]);
		vm_read_fill(r.alias[i], size, 0);
	}
	r.target = map_anon(size);
	ASSERT_NE(NULL, r.target);
	vm_read_fill(r.target, size, 1);
	ASSERT_EQ(0, pthread_create(&t, NULL, vm_read_remap_thread, &r));
	while (now_ms() - t0 < 2000) {
		uint32_t lo = __atomic_load_n(&r.mapped, __ATOMIC_SEQ_CST), hi;
		int err = vsvm_vm_read(dev, vm, r.target, buf,
				       size);

		hi = __atomic_load_n(&r.next, __ATOMIC_SEQ_CST);
		ASSERT_EQ(0, err);
		reads++;
		for (i = 0; i < npages; i++) {
			const uint32_t *pg = buf + i * (SZ_4K / sizeof(*pg));

			/* Uniform: each word equals the next. */
			if (!memcmp(pg, pg + 1, SZ_4K - sizeof(*pg)) &&
			    pg[0] >= lo && pg[0] <= hi)
				continue;
			if (bad++ < 4)
				TH_LOG("read %lu page %u: [0] %#x, [1023] %#x, versions %u..%u",
				       reads, i, pg[0], pg[1023], lo, hi);
		}
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	EXPECT_EQ(0, r.err);
	EXPECT_EQ(0, bad);
	/* It did race: many versions went by during the reads. */
	EXPECT_GE(r.mapped, 10);
	EXPECT_GE(reads, 10);
	TH_LOG("%lu reads, %u versions", reads, r.mapped);
	for (i = 0; i < VM_READ_MEMFDS; i++) {
		munmap(r.alias[i], size);
		close(r.fd[i]);
	}
	munmap(r.target, size);
	free(buf);
}

/* Reads racing remaps as fast as they come. */
TEST_F(vsvm, vm_read_races_remap)
{
	vm_read_race(_metadata, &self->dev, self->vm, 0);
}

/*
 * The same with the agent waiting 300 us between its fault and its copy
 * (debugfs cpu_agent_delay_us), and a remap every millisecond or so: many
 * remaps land in that window, and a copy that did not check the mapping is
 * still valid, or made it without the notifier lock, reads a poisoned or
 * freed page.
 */
TEST_F(vsvm, vm_read_races_remap_wide_window)
{
	ASSERT_EQ(0, set_debugfs_u32("cpu_agent_delay_us", 300));
	vm_read_race(_metadata, &self->dev, self->vm, 1000);
	EXPECT_EQ(0, set_debugfs_u32("cpu_agent_delay_us", 0));
}

/*
 * Data in VRAM: the reader migrates it back to system memory, as a CPU
 * access would, and reads it there.
 */
TEST_F(vsvm, vm_read_brings_vram_back)
{
	const size_t size = SZ_1M;
	char *resv = map_anon(2 * SZ_2M), *p, *buf = malloc(size);
	struct drm_vsvm_stats s0, s1, s2, s3;

	NEED_VRAM();
	ASSERT_NE(NULL, resv);
	ASSERT_NE(NULL, buf);
	p = align_2m(resv);
	/* Small pages: each moves on its own, counted once. */
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_NOHUGEPAGE));
	fill_pattern(p, size, 71);
	/* An interval of its own: ranges (and VRAM blocks) of 64 KiB. */
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_DEVICE));
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_DEVICE));
	/* The device writes its VRAM copy: only VRAM has these bytes. */
	ASSERT_EQ(0, vsvm_fill(&self->dev, self->vm, p, 0x3d, size));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(size / SZ_4K, s1.vram_pages_in - s0.vram_pages_in);
	EXPECT_EQ(s0.vram_pages_out, s1.vram_pages_out);

	/* One block read: that block comes back, no other. */
	memset(buf, 0, size);
	ASSERT_EQ(0, vsvm_vm_read(&self->dev, self->vm, p + 5, buf,
				  SZ_64K - 10));
	EXPECT_EQ(-1, first_diff(buf, 0x3d, SZ_64K - 10));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(SZ_64K / SZ_4K, s2.vram_pages_out - s1.vram_pages_out);
	/* All of it: every page read came back, once. */
	memset(buf, 0, size);
	ASSERT_EQ(0, vsvm_vm_read(&self->dev, self->vm, p, buf, size));
	EXPECT_EQ(-1, first_diff(buf, 0x3d, size));
	s2 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(size / SZ_4K, s2.vram_pages_out - s1.vram_pages_out);
	/* They are in system memory now: the CPU's own access moves nothing. */
	EXPECT_EQ(-1, first_diff(p, 0x3d, size));
	s3 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s2.vram_pages_out, s3.vram_pages_out);
	munmap(resv, 2 * SZ_2M);
	free(buf);
}

/* Malformed arguments: one errno each, and no memory written. */
TEST_F(vsvm, vm_read_bad_arguments)
{
	const size_t size = SZ_64K;
	char *p = map_anon(size), *ref = malloc(size), *buf = malloc(size);
	char *ro = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	struct drm_vsvm_vm_read good = {
		.vm_id = self->vm, .addr = (uintptr_t)p + 1, .size = size - 1,
		.data = (uintptr_t)buf,
	}, a;
	int status;
	pid_t pid;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, ref);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(MAP_FAILED, ro);
	fill_pattern(p, size, 81);
	memcpy(ref, p, size);
	memset(buf, 0xee, size);

	a = good;
	a.flags = 1;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	a.flags = 1u << 31;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	a = good;
	a.reserved = 1;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	a = good;
	a.size = 0;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	a.size = DRM_VSVM_VM_READ_MAX_SIZE + 1;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	a.size = 1ULL << 63;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	/* The interval wraps around, or runs out of user space. */
	a = good;
	a.addr = ~0ULL - 100;
	a.size = 200;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	/* Past the end of user space, with 4 or 5 page-table levels. */
	a.addr = (1ULL << 56) - SZ_4K - 100;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	/* Arguments are checked before the VM is looked up. */
	a = good;
	a.vm_id = self->vm + 1000;
	a.flags = 2;
	EXPECT_EQ(-EINVAL, vm_read_raw(&self->dev, &a));
	a.flags = 0;
	EXPECT_EQ(-ENOENT, vm_read_raw(&self->dev, &a));
	a.vm_id = 0;
	EXPECT_EQ(-ENOENT, vm_read_raw(&self->dev, &a));
	/* Nothing was written anywhere. */
	EXPECT_EQ(-1, first_diff(buf, 0xee, size));
	EXPECT_EQ(0, memcmp(p, ref, size));

	/* Data to read-only memory, or to no memory. */
	a = good;
	a.data = (uintptr_t)ro;
	EXPECT_EQ(-EFAULT, vm_read_raw(&self->dev, &a));
	EXPECT_EQ(-1, first_diff(ro, 0, size));
	a.data = 0;
	EXPECT_EQ(-EFAULT, vm_read_raw(&self->dev, &a));
	/* Memory a device cannot mirror. */
	a = good;
	a.addr = (uintptr_t)ro;
	ASSERT_EQ(0, mprotect(ro, size, PROT_NONE));
	EXPECT_EQ(-EFAULT, vm_read_raw(&self->dev, &a));
	EXPECT_EQ(-1, first_diff(buf, 0xee, size));
	EXPECT_EQ(0, memcmp(p, ref, size));

	/* Another process's VM. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(vm_read_raw(&self->dev, &good) == -EACCES ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* The well-formed read, for reference. */
	EXPECT_EQ(0, vm_read_raw(&self->dev, &good));
	EXPECT_EQ(0, memcmp(buf, ref + 1, size - 1));
	EXPECT_EQ(0, memcmp(p, ref, size));
	munmap(ro, size);
	munmap(p, size);
	free(ref);
	free(buf);
}

struct vm_read_looper {
	struct vsvm_dev *dev;
	uint32_t vm;
	const void *src;
	size_t size;
	int stop;
	unsigned long ok, enoent, other;
	int other_err;
};

static void *vm_read_loop_thread(void *arg)
{
	struct vm_read_looper *l = arg;
	char *buf = malloc(l->size);
	int err;

	if (!buf) {
		l->other++;
		l->other_err = -ENOMEM;
		return NULL;
	}
	/* Until stopped, and on until the VM is gone. */
	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST) || !l->enoent) {
		err = vsvm_vm_read(l->dev, l->vm, l->src, buf, l->size);
		if (!err) {
			__atomic_fetch_add(&l->ok, 1, __ATOMIC_SEQ_CST);
		} else if (err == -ENOENT) {
			l->enoent++;
		} else {
			l->other++;
			l->other_err = err;
		}
		if (l->enoent >= 4)
			break;
	}
	free(buf);
	return NULL;
}

/* A VM destroyed under reads: they succeed, or find no VM. */
TEST_F(vsvm, vm_read_vm_destroyed_while_reading)
{
	const size_t size = SZ_1M;
	char *p = map_anon(size);
	unsigned int round, i;

	ASSERT_NE(NULL, p);
	fill_pattern(p, size, 91);
	for (round = 0; round < 8; round++) {
		struct vm_read_looper l[2];
		pthread_t t[2];
		uint32_t vm;

		ASSERT_EQ(0, vsvm_vm_create(&self->dev, &vm));
		for (i = 0; i < 2; i++) {
			l[i] = (struct vm_read_looper){
				.dev = &self->dev, .vm = vm, .src = p,
				.size = size,
			};
			ASSERT_EQ(0, pthread_create(&t[i], NULL,
						    vm_read_loop_thread, &l[i]));
		}
		/* Let the first reads through, then destroy mid-read. */
		while (!__atomic_load_n(&l[0].ok, __ATOMIC_SEQ_CST) ||
		       !__atomic_load_n(&l[1].ok, __ATOMIC_SEQ_CST))
			usleep(1000);
		usleep(round * 500);
		EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, vm));
		for (i = 0; i < 2; i++) {
			__atomic_store_n(&l[i].stop, 1, __ATOMIC_SEQ_CST);
			pthread_join(t[i], NULL);
			EXPECT_EQ(0, l[i].other)
				TH_LOG("round %u: a read returned %d", round,
				       l[i].other_err);
			EXPECT_LT(0, l[i].ok);
			EXPECT_LT(0, l[i].enoent);
		}
	}
	munmap(p, size);
}

/*
 * $VSVM_TEST_ONLY=NAME[:NAME...] runs only these tests: make check-full runs
 * page_table_follows_munmap alone with 10000 cycles this way.
 */
int main(int argc, char **argv)
{
	const char *only = getenv("VSVM_TEST_ONLY");

	if (only)
		harness_keep_only(only);
	return test_harness_run(argc, argv);
}
