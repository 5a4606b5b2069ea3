// SPDX-License-Identifier: GPL-2.0
/*
 * The xe SVM scenario matrix on vsvm.
 *
 * Intel's IGT test xe_exec_system_allocator is the largest public list of GPU
 * SVM scenarios: sections (how the memory is allocated and what the CPU does
 * to it around the GPU's work) crossed with prefixes (how many execs, how far
 * apart, from how many threads or processes). This program mirrors them on
 * vsvm as a generated matrix, fixture "xe", one variant per section and
 * prefix (SECTION__PREFIX, e.g. mmap_remap_ro__threads_many), and adds the
 * partial-unmap, eviction and attribute cases as tests of their own.
 *
 * An xe exec is a batch in the allocation whose store writes a dword of it.
 * Here an exec is one asynchronous submission (DRM_VSVM_EXEC_ASYNC, then
 * WAIT) of a COPY job whose source, the "command" the CPU wrote into a slot
 * of the allocation, is copied by the GPU into the slot's data word: the GPU
 * reads and writes the allocation, like xe's batch. Every case keeps a
 * shadow of what each allocation must hold (in memory of its own, never in a
 * GPU range of the allocation) and checks every byte on the CPU and with a
 * GPU CHECKSUM against the shadow's FNV-1a. Where the xe scenario has a
 * defined outcome on vsvm (a write to read-only memory, an exec on memory
 * no longer mapped), the case asserts that one outcome, at its exact
 * address. make check runs this program in both GPU SVM layouts; the line
 * "matrix: N passed, M failed" of its summary counts them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "harness_only.h"
#include "vsvm_reload.h"
#include "vsvm.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << 26)
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

#define SZ_4K	4096UL
#define SZ_64K	(64UL << 10)
#define SZ_512K	(512UL << 10)
#define SZ_1M	(1UL << 20)
#define SZ_2M	(2UL << 20)

#define MAX_DEVS	8
#define ERR_LEN		256
#define WAIT_NS		(20LL * 1000 * 1000 * 1000)

/*
 * Sizing: the whole matrix must stay within 90 s per layout in the TCG VM
 * (2 vCPUs), with room for a loaded host: 45-50 s on an idle host. The
 * shapes are xe's (128 execs there), the counts smaller.
 */
#define N_MANY		24	/* execs of many, many-stride */
#define N_LARGE		6	/* execs of many-large (2 MiB allocations) */
#define N_WORKER_EXECS	16	/* execs of each thread or process */
#define N_THREADS	4
#define N_PROCS		4
#define STRIDE		257	/* slots: each exec on a page of its own */
#define N_MULTI_FAULT	4	/* copies of the allocation one exec writes */
#define NR_HUGEPAGES	16

/* A slot: the command the CPU writes, the word the GPU copies it to. */
#define SLOT		16
#define SLOT_DATA	8

/* Sections: how the allocation is made and what happens around the execs. */
enum {
	S_MMAP		= 1 << 0,	/* mmap() rather than malloc() */
	S_NEW		= 1 << 1,	/* a new allocation after each exec */
	S_FREE		= 1 << 2,	/* ... and the previous one freed */
	S_RACE		= 1 << 3,	/* the CPU works on the pages during the exec */
	S_BUSY		= 1 << 4,	/* the GPU mappings pulled while valid */
	S_FILE		= 1 << 5,	/* a shared file mapping */
	S_LOCK		= 1 << 6,	/* mlock()ed, unlocked after the first exec */
	S_SHARED	= 1 << 7,	/* MAP_SHARED anonymous */
	S_HUGE		= 1 << 8,	/* hugetlb pages */
	S_FORK_READ	= 1 << 9,	/* a child process reads the results */
	S_FORK_AFTER	= 1 << 10,	/* ... and the parent after it exited */
	S_REMAP		= 1 << 11,	/* mremap() elsewhere after each exec */
	S_DONTUNMAP	= 1 << 12,	/* ... with MREMAP_DONTUNMAP */
	S_RO		= 1 << 13,	/* ... of a buffer made read-only first */
	S_MULTI		= 1 << 14,	/* one exec writes N_MULTI_FAULT copies */
	S_PREFETCH	= 1 << 15,	/* prefetched before each exec */
	S_MADVISE	= 1 << 16,	/* preferred location swapped each exec */
	S_UNALIGNED	= 1 << 17,	/* odd start, size and slot addresses */
};

#define SECTIONS(X) \
	X(malloc, 0) \
	X(malloc_madvise, S_MADVISE) \
	X(malloc_prefetch, S_PREFETCH) \
	X(malloc_multi_fault, S_MULTI) \
	X(malloc_fork_read, S_FORK_READ) \
	X(malloc_fork_read_after, S_FORK_READ | S_FORK_AFTER) \
	X(malloc_mlock, S_LOCK) \
	X(malloc_race, S_RACE) \
	X(malloc_busy, S_BUSY) \
	X(mmap, S_MMAP) \
	X(mmap_huge, S_MMAP | S_HUGE) \
	X(mmap_mlock, S_MMAP | S_LOCK) \
	X(mmap_race, S_MMAP | S_RACE) \
	X(mmap_remap, S_MMAP | S_REMAP) \
	X(mmap_remap_dontunmap, S_MMAP | S_REMAP | S_DONTUNMAP) \
	X(mmap_remap_ro, S_MMAP | S_REMAP | S_RO) \
	X(mmap_remap_ro_dontunmap, S_MMAP | S_REMAP | S_RO | S_DONTUNMAP) \
	X(mmap_shared, S_MMAP | S_SHARED | S_LOCK) \
	X(mmap_shared_remap, S_MMAP | S_SHARED | S_LOCK | S_REMAP) \
	X(mmap_shared_remap_dontunmap, \
	  S_MMAP | S_SHARED | S_LOCK | S_REMAP | S_DONTUNMAP) \
	X(mmap_file, S_MMAP | S_FILE) \
	X(mmap_file_mlock, S_MMAP | S_FILE | S_LOCK) \
	X(free, S_NEW | S_FREE) \
	X(free_race, S_NEW | S_FREE | S_RACE) \
	X(new, S_NEW) \
	X(new_race, S_NEW | S_RACE) \
	X(mmap_free, S_MMAP | S_NEW | S_FREE) \
	X(mmap_new, S_MMAP | S_NEW) \
	X(unaligned_alloc, S_UNALIGNED)

/* Prefixes: how many execs, how far apart, by whom. */
struct prefix {
	unsigned int execs;
	unsigned int stride;	/* in slots */
	unsigned int workers;
	bool large;		/* 2 MiB allocations */
	bool shared_vm;		/* the threads share one VM */
	bool procs;		/* workers are processes */
};

#define PREFIXES(P, s, f) \
	P(s, f, once, 1, 1, 1, false, false, false) \
	P(s, f, twice, 2, 1, 1, false, false, false) \
	P(s, f, many, N_MANY, 1, 1, false, false, false) \
	P(s, f, many_stride, N_MANY, STRIDE, 1, false, false, false) \
	P(s, f, many_large, N_LARGE, 1, 1, true, false, false) \
	P(s, f, threads_many, N_WORKER_EXECS, 1, N_THREADS, false, false, false) \
	P(s, f, threads_shared_vm_many, N_WORKER_EXECS, 1, N_THREADS, false, \
	  true, false) \
	P(s, f, process_many, N_WORKER_EXECS, 1, N_PROCS, false, false, true)

/* One thread or process running a case on its VM. */
struct worker {
	struct vsvm_dev *dev;
	uint32_t vm;
	unsigned int sec;
	const struct prefix *px;
	unsigned int id;
	unsigned int seed;
	bool vram;		/* the device has VRAM */
	bool alone;		/* no other thread maps memory meanwhile */
	char *err;		/* the first failure, ERR_LEN bytes */
};

/* An allocation and what it must hold. */
struct buf {
	char *p;
	size_t size;
	char *shadow;
	void *alloc;		/* malloc(): what to free() */
	int fd;			/* S_FILE: the file, else -1 */
	bool mapped;		/* p came from mmap() */
};

static int failf(struct worker *w, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->err[0])
		return -1;
	n = snprintf(w->err, ERR_LEN, "worker %u, line %d: ", w->id, line);
	va_start(ap, fmt);
	vsnprintf(w->err + n, ERR_LEN - n, fmt, ap);
	va_end(ap);
	return -1;
}

#define FAILF(w, ...)	failf(w, __LINE__, __VA_ARGS__)
#define CHECK(w, cond, ...) do { \
	if (!(cond)) \
		return FAILF(w, __VA_ARGS__); \
} while (0)

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Reserve @size bytes of address space at @align (PROT_NONE). */
static char *reserve(size_t size, size_t align)
{
	char *r = mmap(NULL, size + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *p;

	if (r == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)r + align - 1) & ~(align - 1));
	if (p > r)
		munmap(r, p - r);
	munmap(p + size, r + size + align - (p + size));
	return p;
}

/* First offset where @a and @b differ, or -1. */
static long first_diff(const char *a, const char *b, size_t size)
{
	size_t i;

	if (!memcmp(a, b, size))
		return -1;
	for (i = 0; a[i] == b[i]; i++)
		;
	return i;
}

static uint64_t stat_faults(struct vsvm_dev *dev, uint32_t vm)
{
	struct drm_vsvm_stats s;

	return vsvm_stats(dev, vm, &s) ? ~0ULL : s.faults;
}

static struct drm_vsvm_stats stats_of(struct vsvm_dev *dev, uint32_t vm)
{
	struct drm_vsvm_stats s;

	memset(&s, 0, sizeof(s));
	vsvm_stats(dev, vm, &s);
	return s;
}

/* Submit @jobs asynchronously and wait for them: xe's exec and user fence. */
static int submit_wait(struct vsvm_dev *dev, uint32_t vm,
		       struct drm_vsvm_job *jobs, unsigned int n)
{
	uint64_t seqno;
	int err = vsvm_submit(dev, vm, jobs, n, &seqno);

	if (!err)
		err = vsvm_wait(dev, vm, seqno, WAIT_NS);
	return err ? err : vsvm_jobs_status(jobs, n);
}

static struct drm_vsvm_job copy_job(void *dst, const void *src, size_t size)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_COPY,
		.dst = (uintptr_t)dst,
		.src = (uintptr_t)src,
		.size = size,
	};

	return job;
}

/* A GPU write of 8 bytes at @addr, expected to fail with @status there. */
static int write_fails(struct worker *w, char *addr, int status)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_FILL,
		.dst = (uintptr_t)addr,
		.size = 8,
		.value = 0x77,
	};
	int err = submit_wait(w->dev, w->vm, &job, 1);

	CHECK(w, err == status, "write at %p: %d, want %d", addr, err, status);
	CHECK(w, job.fault_addr == (uintptr_t)addr,
	      "write at %p faulted at %#llx", addr,
	      (unsigned long long)job.fault_addr);
	return 0;
}

/* The CPU and the GPU both see exactly the shadow. */
static int verify(struct worker *w, const struct buf *b, const char *what)
{
	long d = first_diff(b->p, b->shadow, b->size);
	uint64_t sum;
	int err;

	CHECK(w, d < 0, "%s: CPU reads %#x at offset %ld of %p, want %#x", what,
	      (unsigned char)b->p[d], d, b->p, (unsigned char)b->shadow[d]);
	err = vsvm_checksum(w->dev, w->vm, b->p, b->size, &sum);
	CHECK(w, !err, "%s: GPU checksum of %p: %d", what, b->p, err);
	CHECK(w, sum == vsvm_fnv1a(b->shadow, b->size),
	      "%s: GPU checksum of %p differs from the CPU's", what, b->p);
	return 0;
}

static size_t base_size(const struct worker *w)
{
	const struct prefix *px = w->px;
	size_t size;

	size = px->large ? SZ_2M :
		(px->execs * px->stride * SLOT + SZ_4K - 1) & ~(SZ_4K - 1);
	if (w->sec & S_HUGE)
		size = (size + SZ_2M - 1) & ~(SZ_2M - 1);
	return size;
}

static size_t alloc_size(const struct worker *w)
{
	size_t size = base_size(w);

	if (w->sec & S_MULTI)
		return size * N_MULTI_FAULT;
	if (w->sec & S_UNALIGNED)
		return size + size / 2 + 24;
	return size;
}

/* Offset of exec @i's slot. */
static size_t slot_off(const struct worker *w, const struct buf *b,
		       unsigned int i)
{
	if (w->sec & S_UNALIGNED)
		return (b->size - SLOT) - i * (b->size - SLOT) / w->px->execs;
	return (size_t)i * w->px->stride * SLOT;
}

/*
 * Allocate as the section says; @again for the allocations after the first
 * one of S_NEW (xe maps those shared).
 */
static int buf_alloc(struct worker *w, struct buf *b, bool again)
{
	size_t size = alloc_size(w);
	size_t align = w->px->large || (w->sec & S_HUGE) ? SZ_2M : SZ_4K;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->size = size;
	if (w->sec & S_UNALIGNED) {
		b->alloc = malloc(size + 64);
		CHECK(w, b->alloc, "malloc(%zu)", size + 64);
		b->p = (char *)b->alloc + 3;
	} else if (w->sec & S_MMAP) {
		int flags = MAP_FIXED, fd = -1;
		char *p = reserve(size, align);

		CHECK(w, p, "reserve %zu", size);
		if (w->sec & S_FILE) {
			char path[] = "/tmp/vsvm-xe-XXXXXX";

			fd = mkstemp(path);
			CHECK(w, fd >= 0, "mkstemp: %d", errno);
			unlink(path);
			CHECK(w, !ftruncate(fd, size), "ftruncate: %d", errno);
			flags |= MAP_SHARED;
		} else {
			flags |= MAP_ANONYMOUS;
			flags |= (w->sec & S_SHARED) || again ?
				 MAP_SHARED : MAP_PRIVATE;
		}
		if (w->sec & S_HUGE)
			flags |= MAP_HUGETLB | MAP_HUGE_2MB;
		b->p = mmap(p, size, PROT_READ | PROT_WRITE, flags, fd, 0);
		CHECK(w, b->p == p, "mmap %zu (flags %#x): %d", size, flags,
		      errno);
		b->fd = fd;
		b->mapped = true;
	} else {
		b->alloc = aligned_alloc(align, size);
		CHECK(w, b->alloc, "aligned_alloc(%zu)", size);
		b->p = b->alloc;
	}
	memset(b->p, 5, size);
	b->shadow = map_anon(size);
	CHECK(w, b->shadow, "shadow of %zu", size);
	memset(b->shadow, 5, size);
	if (w->sec & S_LOCK)
		CHECK(w, !mlock(b->p, size), "mlock: %d", errno);
	return 0;
}

static void buf_free(struct buf *b)
{
	if (b->mapped)
		munmap(b->p, b->size);
	else
		free(b->alloc);
	if (b->fd >= 0)
		close(b->fd);
	munmap(b->shadow, b->size);
	b->p = NULL;
}

/* The contents a file mapping left in its file. */
static int verify_file(struct worker *w, const struct buf *b)
{
	char *tmp = map_anon(b->size);
	ssize_t n;
	long d;

	CHECK(w, tmp, "file buffer");
	n = pread(b->fd, tmp, b->size, 0);
	CHECK(w, n == (ssize_t)b->size, "pread: %zd", n);
	d = first_diff(tmp, b->shadow, b->size);
	munmap(tmp, b->size);
	CHECK(w, d < 0, "the file differs at offset %ld", d);
	return 0;
}

/* The CPU reads and writes other slots of the pages the GPU works on. */
static int race_cpu(struct worker *w, struct buf *b, unsigned int i)
{
	if (i > 0) {
		size_t prev = slot_off(w, b, i - 1);

		CHECK(w, !memcmp(b->p + prev, b->shadow + prev, SLOT),
		      "slot %u changed during exec %u", i - 1, i);
	}
	if (i + 1 < w->px->execs) {
		size_t next = slot_off(w, b, i + 1);
		uint64_t v = ~(uint64_t)i;

		memcpy(b->p + next, &v, 8);
		memcpy(b->shadow + next, &v, 8);
	}
	return 0;
}

static int preferred_loc(struct worker *w, struct buf *b, uint32_t loc)
{
	int err = vsvm_set_attr(w->dev, w->vm, b->p, b->size,
				DRM_VSVM_ATTR_PREFERRED_LOC, loc);
	int want = loc == DRM_VSVM_LOC_DEVICE && !w->vram ? -EOPNOTSUPP : 0;

	CHECK(w, err == want, "preferred location %u: %d, want %d", loc, err,
	      want);
	return 0;
}

/* One xe exec: the GPU copies the slot's command to its data word(s). */
static int exec_one(struct worker *w, struct buf *b, unsigned int i)
{
	struct drm_vsvm_job jobs[N_MULTI_FAULT];
	size_t off = slot_off(w, b, i), orig = base_size(w);
	unsigned int j, n = w->sec & S_MULTI ? N_MULTI_FAULT : 1;
	uint64_t v, faults = 0, seqno;
	int err;

	v = ((uint64_t)rand_r(&w->seed) << 32 | (uint64_t)w->id << 16 | i) |
	    1ULL << 63;
	memcpy(b->p + off, &v, 8);
	memcpy(b->shadow + off, &v, 8);
	if ((w->sec & S_MADVISE) &&
	    preferred_loc(w, b, i & 1 ? DRM_VSVM_LOC_DEVICE : DRM_VSVM_LOC_SYSTEM))
		return -1;
	if (w->sec & S_PREFETCH) {
		uint32_t region = w->vram ? DRM_VSVM_LOC_DEVICE :
					    DRM_VSVM_LOC_SYSTEM;

		err = vsvm_prefetch(w->dev, w->vm, b->p, b->size, region);
		CHECK(w, !err, "prefetch %p to %u: %d", b->p, region, err);
		faults = stat_faults(w->dev, w->vm);
	}
	for (j = 0; j < n; j++)
		jobs[j] = copy_job(b->p + j * orig + off + SLOT_DATA,
				   b->p + off, 8);
	if (w->sec & S_RACE) {
		err = vsvm_submit(w->dev, w->vm, jobs, n, &seqno);
		CHECK(w, !err, "exec %u: submit: %d", i, err);
		while ((err = vsvm_wait(w->dev, w->vm, seqno, 0)) == -ETIME) {
			if (race_cpu(w, b, i))
				return -1;
			sched_yield();
		}
		CHECK(w, !err, "exec %u: wait: %d", i, err);
		err = vsvm_jobs_status(jobs, n);
	} else {
		err = submit_wait(w->dev, w->vm, jobs, n);
	}
	CHECK(w, !err, "exec %u at %p: %d (fault at %#llx)", i,
	      b->p + off, err, (unsigned long long)vsvm_last_fault_addr());
	/*
	 * Prefetched: the exec itself takes no GPU fault. The prefetch's
	 * ranges hold the buffer alone, none of its heap neighbours: the
	 * thread control block, say, which the kernel reads at every return
	 * to user space (rseq), or pages a forked sibling shares.
	 */
	if ((w->sec & S_PREFETCH) && w->alone)
		CHECK(w, stat_faults(w->dev, w->vm) == faults,
		      "exec %u faulted after a prefetch", i);
	for (j = 0; j < n; j++)
		memcpy(b->shadow + j * orig + off + SLOT_DATA, &v, 8);
	return 0;
}

/* The results, read on the CPU by the worker and/or a child process. */
static int check_slot(struct worker *w, struct buf *b, unsigned int i)
{
	size_t off = slot_off(w, b, i), orig = base_size(w);
	unsigned int j, n = w->sec & S_MULTI ? N_MULTI_FAULT : 1;

	for (j = 0; j < n; j++) {
		size_t at = j * orig + off;

		CHECK(w, !memcmp(b->p + at, b->shadow + at, SLOT),
		      "exec %u: slot at %p holds %#llx, want %#llx", i,
		      b->p + at, *(unsigned long long *)(b->p + at + SLOT_DATA),
		      *(unsigned long long *)(b->shadow + at + SLOT_DATA));
	}
	return 0;
}

static int fork_read(struct worker *w, struct buf *b, unsigned int i)
{
	int status;
	pid_t pid;

	pid = fork();
	CHECK(w, pid >= 0, "fork: %d", errno);
	if (!pid)
		_exit(memcmp(b->p, b->shadow, b->size) ? 1 : 0);
	if (!(w->sec & S_FORK_AFTER) && check_slot(w, b, i))
		return -1;
	CHECK(w, waitpid(pid, &status, 0) == pid, "waitpid: %d", errno);
	CHECK(w, WIFEXITED(status) && !WEXITSTATUS(status),
	      "exec %u: the child read other data (status %#x)", i, status);
	if ((w->sec & S_FORK_AFTER) && check_slot(w, b, i))
		return -1;
	return 0;
}

/*
 * mremap() the allocation elsewhere. Before: read-only (S_RO), a GPU write
 * fails with -EACCES at its address. After: the old place, still mapped
 * with MREMAP_DONTUNMAP, reads (GPU and CPU alike) as fresh private memory
 * (zeros) or, shared, as the same pages; once unmapped, a GPU access there
 * fails with -EFAULT at its address.
 */
static int remap(struct worker *w, struct buf *b, unsigned int i)
{
	size_t align = w->px->large ? SZ_2M : SZ_4K, off = slot_off(w, b, i);
	int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
	char *old = b->p, *to, *q;

	if (w->sec & S_RO) {
		CHECK(w, !mprotect(old, b->size, PROT_READ), "mprotect: %d",
		      errno);
		if (write_fails(w, old + off + SLOT_DATA, -EACCES) ||
		    verify(w, b, "read-only"))
			return -1;
	}
	if (w->sec & S_DONTUNMAP)
		flags |= MREMAP_DONTUNMAP;
	to = reserve(b->size, align);
	CHECK(w, to, "reserve");
	q = mremap(old, b->size, b->size, flags, to);
	CHECK(w, q == to, "mremap: %d", errno);
	if (w->sec & S_RO)
		CHECK(w, !mprotect(q, b->size, PROT_READ | PROT_WRITE),
		      "mprotect: %d", errno);
	b->p = q;
	if (w->sec & S_DONTUNMAP) {
		char *want = map_anon(b->size);
		uint64_t sum;
		int err;
		long d;

		CHECK(w, want, "buffer");
		if (w->sec & S_SHARED)
			memcpy(want, b->shadow, b->size);
		else
			memset(want, 0, b->size);
		err = vsvm_checksum(w->dev, w->vm, old, b->size, &sum);
		CHECK(w, !err, "GPU read of the old place: %d", err);
		CHECK(w, sum == vsvm_fnv1a(want, b->size),
		      "the GPU reads stale data at the old place %p", old);
		if ((w->sec & S_RO) &&
		    write_fails(w, old + off + SLOT_DATA, -EACCES))
			return -1;
		d = first_diff(old, want, b->size);
		munmap(want, b->size);
		CHECK(w, d < 0, "the old place differs at %ld", d);
		munmap(old, b->size);
	}
	/* A hole only while no other thread may map memory there. */
	if (w->alone && write_fails(w, old + off + SLOT_DATA, -EFAULT))
		return -1;
	return 0;
}

/*
 * The next allocation of S_NEW; the previous one is freed (S_FREE: once
 * unmapped, the GPU faults there with -EFAULT) or kept for the final check.
 * Fresh memory: the GPU reads what the CPU wrote, nothing stale.
 */
static int renew(struct worker *w, struct buf *b, struct buf *pending,
		 unsigned int *npending, unsigned int i)
{
	char *old = b->p + slot_off(w, b, i) + SLOT_DATA;
	bool mapped = b->mapped;
	uint64_t sum;
	int err;

	if (w->sec & S_FREE) {
		buf_free(b);
		if (mapped && w->alone && write_fails(w, old, -EFAULT))
			return -1;
	} else {
		pending[(*npending)++] = *b;
	}
	if (buf_alloc(w, b, true))
		return -1;
	err = vsvm_checksum(w->dev, w->vm, b->p, b->size, &sum);
	CHECK(w, !err, "GPU read of new memory: %d", err);
	CHECK(w, sum == vsvm_fnv1a(b->shadow, b->size),
	      "the GPU reads stale data in new memory at %p", b->p);
	return 0;
}

/*
 * xe's BUSY unbinds the system allocator while its mappings are valid. Here:
 * a read-only attribute over the allocation drops its valid GPU mappings; a
 * GPU write then fails with -EACCES at its address and changes nothing,
 * reads still see the data, and clearing it makes writes work again.
 */
static int busy(struct worker *w, struct buf *b)
{
	size_t off = slot_off(w, b, 0);
	int err;

	err = vsvm_set_attr(w->dev, w->vm, b->p, b->size,
			    DRM_VSVM_ATTR_READ_ONLY, 1);
	CHECK(w, !err, "read-only attribute: %d", err);
	if (write_fails(w, b->p + off + SLOT_DATA, -EACCES) ||
	    verify(w, b, "busy"))
		return -1;
	err = vsvm_set_attr(w->dev, w->vm, b->p, b->size,
			    DRM_VSVM_ATTR_READ_ONLY, 0);
	CHECK(w, !err, "clearing read-only: %d", err);
	if (exec_one(w, b, 0) || check_slot(w, b, 0))
		return -1;
	return 0;
}

static int run_worker(struct worker *w)
{
	unsigned int i, npending = 0, n = w->px->execs;
	struct buf b, *pending = NULL;
	int ret = -1;

	if (w->sec & S_NEW) {
		pending = calloc(n, sizeof(*pending));
		CHECK(w, pending, "calloc");
	}
	if (buf_alloc(w, &b, false))
		goto out;
	for (i = 0; i < n; i++) {
		if (exec_one(w, &b, i))
			goto out;
		if ((w->sec & S_LOCK) && !i)
			CHECK(w, !munlock(b.p, b.size), "munlock: %d", errno);
		if ((w->sec & S_REMAP) && remap(w, &b, i))
			goto out;
		if (w->sec & S_FORK_READ) {
			if (fork_read(w, &b, i))
				goto out;
		} else if (check_slot(w, &b, i)) {
			goto out;
		}
		if ((w->sec & S_NEW) && renew(w, &b, pending, &npending, i))
			goto out;
	}
	for (i = 0; i < npending; i++)
		if (verify(w, &pending[i], "kept allocation"))
			goto out;
	if (verify(w, &b, "final"))
		goto out;
	if ((w->sec & S_FILE) && verify_file(w, &b))
		goto out;
	if ((w->sec & S_BUSY) && busy(w, &b))
		goto out;
	ret = 0;
out:
	for (i = 0; i < npending; i++)
		buf_free(&pending[i]);
	if (b.p)
		buf_free(&b);
	free(pending);
	return ret;
}

struct thread_arg {
	struct worker w;
	pthread_barrier_t *start;
	int ret;
};

static void *worker_thread(void *arg)
{
	struct thread_arg *t = arg;

	pthread_barrier_wait(t->start);
	t->ret = run_worker(&t->w);
	return NULL;
}

/* Shared by the worker processes and the test. */
struct proc_shared {
	pthread_barrier_t start;
	char err[N_PROCS][ERR_LEN];
};

/*
 * Wait for the @n worker processes @pids: each must exit with 0; what one
 * wrote into its line of @err is logged.
 */
static void wait_processes(struct __test_metadata *_metadata,
			   const pid_t *pids, unsigned int n,
			   char (*err)[ERR_LEN])
{
	unsigned int i;
	int status;

	for (i = 0; i < n; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		if (err[i][0])
			TH_LOG("%s", err[i]);
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("process %u: status %#x", i, status);
	}
}

FIXTURE(xe)
{
	struct vsvm_dev dev[MAX_DEVS];
	unsigned int ndev;
	uint32_t vm;
	struct timespec start;
};

FIXTURE_VARIANT(xe)
{
	const char *name;
	unsigned int sec;
	struct prefix px;
};

#define ADD_PREFIX(s, f, p, n, stride_, workers_, large_, shared_, procs_) \
	FIXTURE_VARIANT_ADD(xe, s##__##p) { \
		.name = #s "__" #p, \
		.sec = (f), \
		.px = { .execs = (n), .stride = (stride_), \
			.workers = (workers_), .large = (large_), \
			.shared_vm = (shared_), .procs = (procs_) }, \
	};
#define ADD_SECTION(s, f) PREFIXES(ADD_PREFIX, s, f)
SECTIONS(ADD_SECTION)

FIXTURE_SETUP(xe)
{
	unsigned int i;

	ASSERT_EQ(0, vsvm_open(0, &self->dev[0])) TH_LOG("no vsvm device");
	self->ndev = self->dev[0].info.num_devices;
	ASSERT_LE(self->ndev, MAX_DEVS);
	for (i = 1; i < self->ndev; i++)
		ASSERT_EQ(0, vsvm_open(i, &self->dev[i]));
	ASSERT_EQ(0, vsvm_vm_create(&self->dev[0], &self->vm));
	clock_gettime(CLOCK_MONOTONIC, &self->start);
}

/* The slow cases say how long they took: the matrix is sized by time. */
#define SLOW_CASE_S	1.0

FIXTURE_TEARDOWN(xe)
{
	struct timespec t;
	unsigned int i;
	double s;

	EXPECT_EQ(0, vsvm_vm_destroy(&self->dev[0], self->vm));
	for (i = 0; i < self->ndev; i++)
		vsvm_close(&self->dev[i]);
	clock_gettime(CLOCK_MONOTONIC, &t);
	s = t.tv_sec - self->start.tv_sec +
	    (t.tv_nsec - self->start.tv_nsec) / 1e9;
	if (s >= SLOW_CASE_S) {
		printf("# %s: %.1f s\n", variant->name, s);
		fflush(stdout);
	}
}

static void worker_init(struct worker *w, struct vsvm_dev *dev, uint32_t vm,
			const FIXTURE_VARIANT(xe) *variant, unsigned int id,
			char *err)
{
	memset(w, 0, sizeof(*w));
	w->dev = dev;
	w->vm = vm;
	w->sec = variant->sec;
	w->px = &variant->px;
	w->id = id;
	w->seed = id * 7919 + variant->sec;
	w->vram = dev->info.vram_size != 0;
	w->alone = true;
	w->err = err;
	err[0] = 0;
}

/* Each process opens device id % ndev and makes its own VM. */
static void run_processes(struct __test_metadata *_metadata,
			  FIXTURE_DATA(xe) *self,
			  const FIXTURE_VARIANT(xe) *variant)
{
	struct proc_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_barrierattr_t attr;
	pid_t pids[N_PROCS];
	unsigned int i, n = variant->px.workers;

	ASSERT_NE(MAP_FAILED, sh);
	ASSERT_LE(n, N_PROCS);
	pthread_barrierattr_init(&attr);
	pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->start, &attr, n);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (!pids[i]) {
			struct vsvm_dev dev;
			struct worker w;
			uint32_t vm;

			worker_init(&w, &dev, 0, variant, i, sh->err[i]);
			if (vsvm_open(i % self->ndev, &dev) ||
			    vsvm_vm_create(&dev, &vm)) {
				snprintf(sh->err[i], ERR_LEN, "no device or VM");
				_exit(1);
			}
			w.vm = vm;
			w.vram = dev.info.vram_size != 0;
			pthread_barrier_wait(&sh->start);
			if (run_worker(&w))
				_exit(1);
			if (vsvm_vm_destroy(&dev, vm)) {
				snprintf(sh->err[i], ERR_LEN, "VM destroy");
				_exit(1);
			}
			_exit(0);
		}
	}
	wait_processes(_metadata, pids, n, sh->err);
	munmap(sh, sizeof(*sh));
}

/*
 * Threads: a VM each, on the devices in turn (in the N:1 layout they share
 * the process's GPU SVM), or one VM for all (threads-shared-vm).
 */
static void run_threads(struct __test_metadata *_metadata,
			FIXTURE_DATA(xe) *self,
			const FIXTURE_VARIANT(xe) *variant)
{
	static char errs[N_THREADS][ERR_LEN];
	struct thread_arg t[N_THREADS];
	pthread_t tid[N_THREADS];
	pthread_barrier_t start;
	unsigned int i, n = variant->px.workers;

	ASSERT_LE(n, N_THREADS);
	pthread_barrier_init(&start, NULL, n);
	for (i = 0; i < n; i++) {
		struct vsvm_dev *dev = &self->dev[variant->px.shared_vm ? 0 :
						  i % self->ndev];
		uint32_t vm = self->vm;

		if (!variant->px.shared_vm)
			ASSERT_EQ(0, vsvm_vm_create(dev, &vm));
		worker_init(&t[i].w, dev, vm, variant, i, errs[i]);
		t[i].w.alone = false;
		t[i].start = &start;
		ASSERT_EQ(0, pthread_create(&tid[i], NULL, worker_thread, &t[i]));
	}
	for (i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		if (t[i].ret)
			TH_LOG("%s", errs[i]);
		EXPECT_EQ(0, t[i].ret);
		if (!variant->px.shared_vm)
			EXPECT_EQ(0, vsvm_vm_destroy(t[i].w.dev, t[i].w.vm));
	}
}

TEST_F_TIMEOUT(xe, exec, 120)
{
	static char err[ERR_LEN];
	struct worker w;

	/*
	 * A prefetched exec must take no GPU fault. khugepaged would make it
	 * fault now and then: collapsing the heap's 2 MiB around a few
	 * prefetched pages swaps their device-private entries in, a CPU
	 * access (vsvm_test's vram_thp_collapse_brings_pages_back). Seen in
	 * CI in the N:1 layout: "exec 1 faulted after a prefetch", the pages
	 * migrated in and out during the prefetch. The process (and the
	 * workers it forks) stays out of khugepaged's way.
	 */
	if (variant->sec & S_PREFETCH)
		ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	if (variant->px.procs) {
		run_processes(_metadata, self, variant);
	} else if (variant->px.workers > 1) {
		run_threads(_metadata, self, variant);
	} else {
		worker_init(&w, &self->dev[0], self->vm, variant, 0, err);
		EXPECT_EQ(0, run_worker(&w)) TH_LOG("%s", err);
	}
}

/* --- The cases outside the matrix: one VM on device 0 --- */

FIXTURE(xe_dev)
{
	struct vsvm_dev dev;
	uint32_t vm;
	char err[ERR_LEN];
	struct worker w;	/* for the worker helpers */
};

FIXTURE_SETUP(xe_dev)
{
	ASSERT_EQ(0, vsvm_open(0, &self->dev)) TH_LOG("no vsvm device");
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &self->vm));
	self->w.dev = &self->dev;
	self->w.vm = self->vm;
	self->w.err = self->err;
	self->w.vram = self->dev.info.vram_size != 0;
	self->w.alone = true;
}

FIXTURE_TEARDOWN(xe_dev)
{
	EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, self->vm));
	vsvm_close(&self->dev);
}

static char *map_2m_aligned(size_t size, int flags)
{
	char *p = reserve(size, SZ_2M);

	if (!p)
		return NULL;
	p = mmap(p, size, PROT_READ | PROT_WRITE,
		 flags | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int gpu_sum_is(struct vsvm_dev *dev, uint32_t vm, const char *p,
		      const char *want, size_t size)
{
	uint64_t sum;

	if (vsvm_checksum(dev, vm, p, size, &sum))
		return 0;
	return sum == vsvm_fnv1a(want, size);
}

/*
 * xe's partial-*: a 2 MiB buffer the GPU mapped as one range loses half of
 * itself (the first half, or the middle with MIDDLE) to munmap, or to an
 * munmap and a new mapping in its place (REMAP), with or without a CPU
 * access before. The GPU then works on the rest: the rest keeps its data,
 * new memory in the hole is fresh (zeros, never the old pages) and a hole
 * faults with -EFAULT at its first byte.
 */
#define P_CPU_FAULT	(1 << 0)
#define P_REMAP		(1 << 1)
#define P_MIDDLE	(1 << 2)

static void partial(struct __test_metadata *_metadata, FIXTURE_DATA(xe_dev) *self,
		    unsigned int flags)
{
	size_t hole = flags & P_MIDDLE ? SZ_512K : 0, half = SZ_1M;
	char *p = map_2m_aligned(SZ_2M, MAP_PRIVATE), *shadow = map_anon(SZ_2M);
	char *a, *b, *fresh;
	struct drm_vsvm_job jobs[2];
	uint64_t va = 0x1122334455667788ULL, vb = 0x8877665544332211ULL;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, shadow);
	memset(p, 5, SZ_2M);
	memset(shadow, 5, SZ_2M);
	a = p;				/* first exec's slot */
	b = p + hole + half;		/* second exec's slot, after the hole */
	memcpy(a, &va, 8);
	memcpy(shadow, &va, 8);
	memcpy(shadow + SLOT_DATA, &va, 8);
	jobs[0] = copy_job(a + SLOT_DATA, a, 8);
	ASSERT_EQ(0, submit_wait(&self->dev, self->vm, jobs, 1));
	if (flags & P_CPU_FAULT)
		EXPECT_EQ(-1, first_diff(p, shadow, SZ_2M));

	ASSERT_EQ(0, munmap(p + hole, half));
	fresh = p + hole;
	if (flags & P_REMAP) {
		ASSERT_EQ(fresh, mmap(fresh, half, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				      MAP_LOCKED, -1, 0));
		memset(shadow + hole, 0, half);
	}
	memcpy(b, &vb, 8);
	memcpy(shadow + (b - p), &vb, 8);
	memcpy(shadow + (b - p) + SLOT_DATA, &vb, 8);
	jobs[0] = copy_job(b + SLOT_DATA, b, 8);
	if (flags & P_REMAP) {
		/* xe's fence lands in the new mapping: a GPU write there. */
		jobs[1] = copy_job(fresh + 64, b, 8);
		memcpy(shadow + hole + 64, &vb, 8);
		ASSERT_EQ(0, submit_wait(&self->dev, self->vm, jobs, 2));
		EXPECT_TRUE(gpu_sum_is(&self->dev, self->vm, fresh,
				       shadow + hole, half));
		EXPECT_EQ(-1, first_diff(fresh, shadow + hole, half));
	} else {
		ASSERT_EQ(0, submit_wait(&self->dev, self->vm, jobs, 1));
		jobs[0] = copy_job(fresh, b, 8);
		EXPECT_EQ(-EFAULT, submit_wait(&self->dev, self->vm, jobs, 1));
		EXPECT_EQ((uintptr_t)fresh, jobs[0].fault_addr);
	}
	/* What is left of the buffer, GPU and CPU. */
	if (hole) {
		EXPECT_TRUE(gpu_sum_is(&self->dev, self->vm, p, shadow, hole));
		EXPECT_EQ(-1, first_diff(p, shadow, hole));
	}
	EXPECT_TRUE(gpu_sum_is(&self->dev, self->vm, p + hole + half,
			       shadow + hole + half, SZ_2M - hole - half));
	EXPECT_EQ(-1, first_diff(p + hole + half, shadow + hole + half,
				 SZ_2M - hole - half));
	munmap(p, SZ_2M);
	munmap(shadow, SZ_2M);
}

TEST_F(xe_dev, partial_munmap_cpu_fault)
{
	partial(_metadata, self, P_CPU_FAULT);
}

TEST_F(xe_dev, partial_munmap_no_cpu_fault)
{
	partial(_metadata, self, 0);
}

TEST_F(xe_dev, partial_remap_cpu_fault)
{
	partial(_metadata, self, P_CPU_FAULT | P_REMAP);
}

TEST_F(xe_dev, partial_remap_no_cpu_fault)
{
	partial(_metadata, self, P_REMAP);
}
TEST_F(xe_dev, partial_middle_munmap_cpu_fault)
{
	partial(_metadata, self, P_MIDDLE | P_CPU_FAULT);
}

TEST_F(xe_dev, partial_middle_munmap_no_cpu_fault)
{
	partial(_metadata, self, P_MIDDLE);
}

TEST_F(xe_dev, partial_middle_remap_cpu_fault)
{
	partial(_metadata, self, P_MIDDLE | P_CPU_FAULT | P_REMAP);
}

TEST_F(xe_dev, partial_middle_remap_no_cpu_fault)
{
	partial(_metadata, self, P_MIDDLE | P_REMAP);
}

/* u64 array helpers of the attribute cases: p[i] == i + add. */
static void fill_index(uint64_t *p, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		p[i] = i;
}

/* First index where p[i] != i + (i < split ? add_before : add_after), or -1. */
static long index_diff(const uint64_t *p, size_t count, size_t split,
		       uint64_t add_before, uint64_t add_after)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (p[i] != i + (i < split ? add_before : add_after))
			return i;
	return -1;
}

/*
 * xe's madvise preferred location (and its "migrate all pages to SRAM"):
 * preferred location device, then a GPU atomic add migrates the range into
 * VRAM; back to system with a prefetch to system memory; every value exact
 * after each step (56 in the end, as xe's atomic batch expects).
 */
TEST_F(xe_dev, madvise_preferred_loc)
{
	const size_t size = SZ_2M, count = size / 8;
	uint64_t *p = (uint64_t *)map_2m_aligned(size, MAP_PRIVATE);
	struct drm_vsvm_stats s0, s1;

	ASSERT_NE(NULL, p);
	fill_index(p, count);
	if (!self->w.vram) {
		EXPECT_EQ(-EOPNOTSUPP,
			  vsvm_set_attr(&self->dev, self->vm, p, size,
					DRM_VSVM_ATTR_PREFERRED_LOC,
					DRM_VSVM_LOC_DEVICE));
		EXPECT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 56));
		EXPECT_EQ(-1, index_diff(p, count, 0, 56, 56));
		munmap(p, size);
		return;
	}
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_DEVICE));
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 1));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GE(s1.vram_pages_in - s0.vram_pages_in, size / SZ_4K);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_SYSTEM));
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_SYSTEM));
	s0 = stats_of(&self->dev, self->vm);
	EXPECT_GE(s0.vram_pages_out - s1.vram_pages_out, size / SZ_4K);
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 55));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_EQ(s0.vram_pages_in, s1.vram_pages_in);
	EXPECT_EQ(-1, index_diff(p, count, 0, 56, 56));
	munmap(p, size);
}

/*
 * xe's madvise split-vma: attributes and VMAs split a buffer the GPU mapped
 * as one range. A preferred location on the first half splits the range at
 * the attribute boundary, mprotect() makes the last quarter a VMA of its
 * own, read-only: a GPU add over the whole buffer stops with -EACCES at the
 * last quarter's first byte, everything before it added once.
 */
TEST_F(xe_dev, madvise_split_vma)
{
	const size_t size = SZ_2M, count = size / 8, ro = size / 4 * 3;
	uint64_t *p = (uint64_t *)map_2m_aligned(size, MAP_PRIVATE);
	struct drm_vsvm_job job;
	uint32_t loc = self->w.vram ? DRM_VSVM_LOC_DEVICE : DRM_VSVM_LOC_SYSTEM;

	ASSERT_NE(NULL, p);
	fill_index(p, count);
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 1));
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size / 2,
				   DRM_VSVM_ATTR_PREFERRED_LOC, loc));
	ASSERT_EQ(0, mprotect((char *)p + ro, size - ro, PROT_READ));
	memset(&job, 0, sizeof(job));
	job.op = DRM_VSVM_OP_ATOMIC_ADD;
	job.dst = (uintptr_t)p;
	job.size = size;
	job.value = 10;
	EXPECT_EQ(-EACCES, submit_wait(&self->dev, self->vm, &job, 1));
	EXPECT_EQ((uintptr_t)p + ro, job.fault_addr);
	EXPECT_EQ(-1, index_diff(p, count, ro / 8, 11, 1));
	EXPECT_TRUE(gpu_sum_is(&self->dev, self->vm, (char *)p, (char *)p, size));
	ASSERT_EQ(0, mprotect((char *)p + ro, size - ro, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p + ro / 8,
				     (size - ro) / 8, 10));
	EXPECT_EQ(-1, index_diff(p, count, 0, 11, 11));
	munmap(p, size);
}

/*
 * xe's madvise multi-vma: attribute intervals across two VMAs (private then
 * shared anonymous memory, 2 MiB each). One GPU add over both works under
 * any mix; a read-only interval across the VMA boundary stops the next add
 * with -EACCES at its first byte.
 */
TEST_F(xe_dev, madvise_multi_vma)
{
	const size_t size = 2 * SZ_2M, count = size / 8;
	char *c = map_2m_aligned(size, MAP_PRIVATE);
	uint64_t *p = (uint64_t *)c;
	struct drm_vsvm_job job;
	uint32_t loc = self->w.vram ? DRM_VSVM_LOC_DEVICE : DRM_VSVM_LOC_SYSTEM;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(c + SZ_2M, mmap(c + SZ_2M, SZ_2M, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill_index(p, count);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, c + SZ_1M, SZ_2M,
				   DRM_VSVM_ATTR_PREFERRED_LOC, loc));
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, c + 3 * SZ_1M, SZ_1M,
				   DRM_VSVM_ATTR_READ_ONLY, 0));
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, c, SZ_64K,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_SYSTEM));
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 1));
	EXPECT_EQ(-1, index_diff(p, count, 0, 1, 1));
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, c + SZ_1M + SZ_512K,
				   SZ_1M, DRM_VSVM_ATTR_READ_ONLY, 1));
	memset(&job, 0, sizeof(job));
	job.op = DRM_VSVM_OP_ATOMIC_ADD;
	job.dst = (uintptr_t)p;
	job.size = size;
	job.value = 2;
	EXPECT_EQ(-EACCES, submit_wait(&self->dev, self->vm, &job, 1));
	EXPECT_EQ((uintptr_t)c + SZ_1M + SZ_512K, job.fault_addr);
	EXPECT_EQ(-1, index_diff(p, count, (SZ_1M + SZ_512K) / 8, 3, 1));
	EXPECT_TRUE(gpu_sum_is(&self->dev, self->vm, c, c, size));
	munmap(c, size);
}

/*
 * xe's madvise range-invalidate-change-attr: a prefetched buffer whose
 * preferred location changes (system to device) loses its GPU mappings; the
 * next exec faults again and, by the new attribute, migrates into VRAM.
 * Without VRAM the change is to read-only: the next write fails -EACCES.
 */
TEST_F(xe_dev, madvise_range_invalidate_change_attr)
{
	const size_t size = SZ_2M, count = size / 8;
	uint64_t *p = (uint64_t *)map_2m_aligned(size, MAP_PRIVATE);
	struct drm_vsvm_stats s0, s1;
	uint64_t faults;

	ASSERT_NE(NULL, p);
	fill_index(p, count);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC,
				   DRM_VSVM_LOC_SYSTEM));
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size,
				   DRM_VSVM_LOC_SYSTEM));
	faults = stat_faults(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 1));
	EXPECT_EQ(faults, stat_faults(&self->dev, self->vm));
	s0 = stats_of(&self->dev, self->vm);
	if (self->w.vram) {
		ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
					   DRM_VSVM_ATTR_PREFERRED_LOC,
					   DRM_VSVM_LOC_DEVICE));
		ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 55));
		s1 = stats_of(&self->dev, self->vm);
		EXPECT_GT(s1.faults, s0.faults);
		EXPECT_GE(s1.vram_pages_in - s0.vram_pages_in, size / SZ_4K);
	} else {
		ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
					   DRM_VSVM_ATTR_READ_ONLY, 1));
		EXPECT_EQ(-EACCES, vsvm_atomic_add(&self->dev, self->vm, p,
						   count, 55));
		EXPECT_EQ((uintptr_t)p, vsvm_last_fault_addr());
		ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
					   DRM_VSVM_ATTR_READ_ONLY, 0));
		ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 55));
	}
	EXPECT_EQ(-1, index_diff(p, count, 0, 56, 56));
	munmap(p, size);
}

/*
 * xe's madvise no-range-invalidate-same-attr. vsvm documents that setting an
 * attribute removes the ranges it overlaps, same value or not: the next
 * exec faults again. The data prefetched into VRAM stays there: the refault
 * migrates nothing, in or out.
 */
TEST_F(xe_dev, madvise_no_range_invalidate_same_attr)
{
	const size_t size = SZ_2M, count = size / 8;
	uint64_t *p = (uint64_t *)map_2m_aligned(size, MAP_PRIVATE);
	uint32_t loc = self->w.vram ? DRM_VSVM_LOC_DEVICE : DRM_VSVM_LOC_SYSTEM;
	struct drm_vsvm_stats s0, s1;
	uint64_t faults;

	ASSERT_NE(NULL, p);
	fill_index(p, count);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC, loc));
	ASSERT_EQ(0, vsvm_prefetch(&self->dev, self->vm, p, size, loc));
	faults = stat_faults(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 1));
	EXPECT_EQ(faults, stat_faults(&self->dev, self->vm));
	s0 = stats_of(&self->dev, self->vm);
	ASSERT_EQ(0, vsvm_set_attr(&self->dev, self->vm, p, size,
				   DRM_VSVM_ATTR_PREFERRED_LOC, loc));
	ASSERT_EQ(0, vsvm_atomic_add(&self->dev, self->vm, p, count, 55));
	s1 = stats_of(&self->dev, self->vm);
	EXPECT_GT(s1.faults, s0.faults);
	EXPECT_EQ(s0.vram_pages_in, s1.vram_pages_in);
	EXPECT_EQ(s0.vram_pages_out, s1.vram_pages_out);
	EXPECT_EQ(-1, index_diff(p, count, 0, 56, 56));
	munmap(p, size);
}

/* --- Eviction: vsvm reloaded with EVICT_VRAM_MB of VRAM per device --- */

#define EVICT_VRAM_MB	4
#define EVICT_ALLOC	SZ_512K	/* xe: 8 MiB */
#define EVICT_STRIDE	SZ_64K	/* xe: 1 MiB */
#define EVICT_PROCS	4

FIXTURE(xe_evict)
{
	char restore[256];
	bool reloaded;
};

FIXTURE_SETUP(xe_evict)
{
	ASSERT_EQ(0, vsvm_reload_vram(EVICT_VRAM_MB, self->restore,
				      sizeof(self->restore)));
	self->reloaded = true;
}

FIXTURE_TEARDOWN(xe_evict)
{
	if (self->reloaded)
		EXPECT_EQ(0, vsvm_reload_restore(self->restore));
}

/*
 * xe's many_allocs for eviction: @n allocations of EVICT_ALLOC (2 MiB
 * aligned, malloc), preferred location device, each written by the GPU every
 * EVICT_STRIDE (one submission per write, all of an allocation in flight);
 * after @barrier, the CPU reads back every byte of every allocation.
 */
static int evict_allocs(struct worker *w, unsigned int n,
			pthread_barrier_t *barrier)
{
	const unsigned int per = EVICT_ALLOC / EVICT_STRIDE;
	struct drm_vsvm_job jobs[EVICT_ALLOC / EVICT_STRIDE];
	uint64_t seqno[EVICT_ALLOC / EVICT_STRIDE];
	struct buf *b = calloc(n, sizeof(*b));
	unsigned int i, k;
	int err;

	CHECK(w, b, "calloc");
	for (i = 0; i < n; i++) {
		b[i].size = EVICT_ALLOC;
		b[i].alloc = aligned_alloc(SZ_2M, EVICT_ALLOC);
		b[i].p = b[i].alloc;
		b[i].shadow = map_anon(EVICT_ALLOC);
		CHECK(w, b[i].p && b[i].shadow, "allocation %u", i);
		memset(b[i].p, 5, EVICT_ALLOC);
		memset(b[i].shadow, 5, EVICT_ALLOC);
		err = vsvm_set_attr(w->dev, w->vm, b[i].p, EVICT_ALLOC,
				    DRM_VSVM_ATTR_PREFERRED_LOC,
				    DRM_VSVM_LOC_DEVICE);
		CHECK(w, !err, "preferred location: %d", err);
		for (k = 0; k < per; k++) {
			char *s = b[i].p + k * EVICT_STRIDE;
			uint64_t v = (uint64_t)w->id << 48 | i << 16 | k;

			memcpy(s, &v, 8);
			memcpy(b[i].shadow + k * EVICT_STRIDE, &v, 8);
			memcpy(b[i].shadow + k * EVICT_STRIDE + SLOT_DATA, &v, 8);
			jobs[k] = copy_job(s + SLOT_DATA, s, 8);
		}
		for (k = 0; k < per; k++) {
			err = vsvm_submit(w->dev, w->vm, &jobs[k], 1, &seqno[k]);
			CHECK(w, !err, "submit: %d", err);
		}
		for (k = 0; k < per; k++) {
			err = vsvm_wait(w->dev, w->vm, seqno[k], WAIT_NS);
			CHECK(w, !err, "wait: %d", err);
			CHECK(w, !jobs[k].status, "allocation %u write %u: %d",
			      i, k, jobs[k].status);
		}
	}
	if (barrier)
		pthread_barrier_wait(barrier);
	for (i = 0; i < n; i++) {
		long d = first_diff(b[i].p, b[i].shadow, EVICT_ALLOC);

		CHECK(w, d < 0, "allocation %u differs at %ld", i, d);
		free(b[i].alloc);
		munmap(b[i].shadow, EVICT_ALLOC);
	}
	free(b);
	return 0;
}

/* Allocations for 9/8 of a device's VRAM, as xe does. */
#define EVICT_ALLOCS(share) \
	((9 * (EVICT_VRAM_MB * SZ_1M / (share)) / 8 + EVICT_ALLOC - 1) / EVICT_ALLOC)

TEST_F_TIMEOUT(xe_evict, evict_malloc, 120)
{
	char err[ERR_LEN] = "";
	struct drm_vsvm_stats s0, s1;
	struct vsvm_dev dev;
	struct worker w;
	uint32_t vm;

	ASSERT_EQ(0, vsvm_open(0, &dev));
	ASSERT_EQ(0, vsvm_vm_create(&dev, &vm));
	memset(&w, 0, sizeof(w));
	w.dev = &dev;
	w.vm = vm;
	w.err = err;
	w.vram = true;
	w.alone = true;
	s0 = stats_of(&dev, vm);
	EXPECT_EQ(0, evict_allocs(&w, EVICT_ALLOCS(1), NULL)) TH_LOG("%s", err);
	s1 = stats_of(&dev, vm);
	EXPECT_GT(s1.vram_evictions, s0.vram_evictions);
	EXPECT_EQ(0, vsvm_vm_destroy(&dev, vm));
	vsvm_close(&dev);
}

/* xe's processes-evict: processes spread over the devices evict each other. */
TEST_F_TIMEOUT(xe_evict, processes_evict, 120)
{
	struct {
		pthread_barrier_t barrier;
		char err[EVICT_PROCS][ERR_LEN];
	} *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct drm_vsvm_stats s0[MAX_DEVS], s1;
	struct vsvm_dev dev[MAX_DEVS];
	uint32_t vm[MAX_DEVS];
	pthread_barrierattr_t attr;
	pid_t pids[EVICT_PROCS];
	unsigned int i, ndev, per_dev;

	ASSERT_NE(MAP_FAILED, sh);
	ASSERT_EQ(0, vsvm_open(0, &dev[0]));
	ndev = dev[0].info.num_devices;
	ASSERT_LE(ndev, MAX_DEVS);
	per_dev = (EVICT_PROCS + ndev - 1) / ndev;
	for (i = 0; i < ndev; i++) {
		if (i)
			ASSERT_EQ(0, vsvm_open(i, &dev[i]));
		ASSERT_EQ(0, vsvm_vm_create(&dev[i], &vm[i]));
		s0[i] = stats_of(&dev[i], vm[i]);
	}
	pthread_barrierattr_init(&attr);
	pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->barrier, &attr, EVICT_PROCS);
	for (i = 0; i < EVICT_PROCS; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (!pids[i]) {
			struct vsvm_dev d;
			struct worker w;
			uint32_t v;

			memset(&w, 0, sizeof(w));
			w.err = sh->err[i];
			w.id = i;
			if (vsvm_open(i % ndev, &d) || vsvm_vm_create(&d, &v)) {
				snprintf(sh->err[i], ERR_LEN, "no device or VM");
				pthread_barrier_wait(&sh->barrier);
				_exit(1);
			}
			w.dev = &d;
			w.vm = v;
			w.vram = true;
			w.alone = true;
			_exit(evict_allocs(&w, EVICT_ALLOCS(per_dev),
					   &sh->barrier) ? 1 : 0);
		}
	}
	wait_processes(_metadata, pids, EVICT_PROCS, sh->err);
	for (i = 0; i < ndev; i++) {
		s1 = stats_of(&dev[i], vm[i]);
		EXPECT_GT(s1.vram_evictions, s0[i].vram_evictions)
			TH_LOG("device %u evicted nothing", i);
		EXPECT_EQ(0, vsvm_vm_destroy(&dev[i], vm[i]));
		vsvm_close(&dev[i]);
	}
	munmap(sh, sizeof(*sh));
}

/* Huge pages for mmap-huge (hugetlb), if none are reserved yet. */
static void reserve_hugepages(void)
{
	char buf[32];
	int fd = open("/proc/sys/vm/nr_hugepages", O_RDWR);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		if (atoi(buf) < NR_HUGEPAGES) {
			n = snprintf(buf, sizeof(buf), "%d", NR_HUGEPAGES);
			if (pwrite(fd, buf, n, 0) != n)
				perror("nr_hugepages");
		}
	}
	close(fd);
}

static struct timespec start_time;
static pid_t main_pid;

/* The harness exits through ksft_exit(): print the time at exit. */
static void print_time(void)
{
	struct timespec t;

	if (getpid() != main_pid)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	printf("# vsvm_xe_matrix_test: %.1f s\n",
	       t.tv_sec - start_time.tv_sec +
	       (t.tv_nsec - start_time.tv_nsec) / 1e9);
	fflush(stdout);
}

/* The harness's main(), with a filter, huge pages and the time it took. */
int main(int argc, char **argv)
{
	const char *only = getenv("VSVM_XE_ONLY");

	/* Matrix variants by SECTION__PREFIX, other cases by test name. */
	if (only)
		harness_keep_only(only);
	reserve_hugepages();
	main_pid = getpid();
	clock_gettime(CLOCK_MONOTONIC, &start_time);
	atexit(print_time);
	return test_harness_run(argc, argv);
}
