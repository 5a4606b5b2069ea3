// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm-bench: vsvm side by side with the kernel's own HMM test driver
 * (test_hmm, "dmirror") and with the raw floor (vsvm's /dev/vsvm_floorN),
 * all three doing the same work per byte through the same ioctls (the
 * dmirror ABI of lib/test_hmm_uapi.h), in the same VM run:
 *
 *   ours     /dev/vsvm_dmirror0: vsvm's GPU SVM (drm_gpusvm ranges and
 *            pages, GPU page table, drm_pagemap migration)
 *   dmirror  /dev/hmm_dmirror0: test_hmm
 *   floor    /dev/vsvm_floor0: hmm_range_fault() and DMA mapping only, and
 *            migrate_vma plus the copy only (see vsvm_floor.c)
 *
 * A READ copies every page of the buffer into a bounce buffer on each
 * side. Each side runs in a process of its own that opens only its node,
 * so that no side's notifiers see another's work; the order of the sides
 * rotates from round to round. Every figure is the median, min and max over
 * the rounds (repetitions), in ms unless its title says otherwise.
 *
 * One invocation runs one part; make bench's guest script (vm/guest/bench)
 * loads vsvm as each part needs and runs them all:
 *
 * vsvm-bench [--rounds N] [--tiny]: figures 1-4 and 8, vsvm loaded with
 * floor=1 and VRAM, test_hmm loaded. For each size, and with transparent
 * huge pages on for the sizes of 2 MiB and more:
 *   1 first-read   first device read of fresh CPU-written anonymous memory
 *   2 warm-read    the same read again, everything mapped
 *   3 munmap       munmap() of the device-mapped buffer (the invalidation)
 *   4 to-device    migration to device memory (ours and dmirror read the
 *                  data back, as test_hmm's MIGRATE_TO_DEV does; the floor
 *                  does not, so it is no lower bound here)
 *   4 to-ram       the CPU writes every page of the migrated buffer back
 *                  (the floor's pages are vsvm's VRAM pages: the same path
 *                  as ours)
 * and the fault overhead (first-read minus warm-read, per round). Ratio:
 * ours/dmirror; the goals are the project's performance goals, as the
 * largest ratio allowed.
 *   8 fault-p50, fault-p99  the distribution of the service time of one GPU
 *                  fault (one vsvm_handle_fault(): one range) over further
 *                  first reads of each size (THP off) on ours, from the
 *                  vsvm_fault trace event's ns field (vsvm/vsvm_trace.h),
 *                  read from /sys/kernel/tracing/trace. The table shows
 *                  microseconds; ours is the percentile of every fault of
 *                  every round pooled, (min-max) the fastest and slowest
 *                  fault; ratio on the p99 line: p99/p50. No goal; test_hmm
 *                  has no trace events, so no dmirror column.
 *
 * vsvm-bench --ranges: figure 6, vsvm loaded with max_chunk=4K (every fault
 * makes one 4 KiB range, so N faulted pages are N live ranges).
 *   6 fault-vs-ranges  the cost of one fault with 1k, 10k, 100k live ranges:
 *                  the process READs N untouched pages (zero page, 1024
 *                  pages a READ, one range each), then times READs of one
 *                  fresh CPU-written page each (a fault, the copy and the
 *                  ioctl), in batches of RANGES_BATCH (the first page of a
 *                  batch untimed: its fault collects the previous batch's
 *                  ranges); each batch is unmapped after, so the count stays
 *                  N. Microseconds per fault; median (min-max) over the
 *                  batches. dmirror: the same on test_hmm (its mirror holds
 *                  N pages). Ratio: ours at N / ours at the smallest N; goal
 *                  at the largest N: <= 2.
 *
 * vsvm-bench --chunk: one point of figure 7, vsvm loaded with max_chunk=
 * 4K, 64K or 2M (read back from /sys/module/vsvm/parameters/max_chunk).
 *   7 chunk-first-read  first-read of 16 MiB (1 MiB with --tiny) with the
 *                  GPU SVM's ranges of at most that size; the size column
 *                  is the chunk size. dmirror and floor: the same read, as
 *                  a reference from the same run. Ratio ours/dmirror, no
 *                  goal.
 *
 * vsvm-bench --multi-device: figure 5, vsvm loaded with layout=n:1
 * num_devices=4. What a multi-GPU application does before its N GPUs read
 * one buffer: it makes the buffer resident on all of them at once, a
 * prefetch naming the N devices (drm_vsvm_prefetch.devices, UAPI 3: in the
 * N:1 layout the buffer is faulted once and mapped for each device with
 * drm_gpusvm_get_pages_multi(), bound in the process's VM on each), then
 * launches a kernel on every GPU, asynchronously, and waits for all: here
 * a checksum job of the whole buffer on each device's engine. Each checksum
 * must equal the CPU's (FNV-1a) and no device may fault.
 *   5 multi-dev-map   the prefetch for N = 1, 2, 4 devices (the GPU SVM's
 *                  cost); goal: N = 4 <= 1.5x N = 1
 *   5 multi-dev-read  the prefetch and the N checksums, until the last
 *                  completes (what the application waits for); no goal:
 *                  the N engines are kernel threads sharing the VM's two
 *                  vCPUs, so their compute cannot scale past two
 *   5 multi-dev-fault for comparison, the N checksums of another fresh
 *                  buffer without the prefetch: each device faults the
 *                  buffer by itself (N faults of each range, one pages
 *                  object each, serialised by the GPU SVM's lock); no goal
 *   Size column: N. Ratio: ours at N / ours at N = 1. No dmirror or floor:
 *   test_hmm has no multi-device mirror.
 *
 * Every run checks the bytes it moved: a wrong answer fails the bench (exit
 * code 1). Goals are reported, never enforced: the exit code is 0 when
 * every byte was right. Output: the table, and "CSV,figure,size,ours_ms,
 * dmirror_ms,floor_ms,ratio,goal,met" lines (make bench writes them to
 * build/bench/results.csv; times in ms there, a side without the figure
 * empty; size: bytes, or N devices, N ranges, the chunk size as above;
 * goal and met empty for a figure without a goal). The guest script adds
 * up the met column: "bench: N of M goals met". A goal whose reference time
 * is not positive (a fault overhead lost in the noise) is "n/a" and not
 * counted.
 *
 *   vsvm-bench [--rounds N] [--tiny] [--ranges] [--chunk] [--multi-device]
 *
 * Without a part: figures 1-4 and 8; with several, they run in the order
 * above (--ranges --chunk with vsvm's max_chunk=4K: one load for both).
 * --tiny: make check's: 64 KiB and 1 MiB, one round; 10 and 100 ranges,
 * batches of RANGES_BATCH_TINY; 1 MiB for the chunk sweep (the guest script
 * runs its 4K point only) and the devices.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_hmm_uapi.h"
#include "sysfile.h"
#include "vsvm.h"

#define SZ_4K		4096UL
#define SZ_1M		(1UL << 20)
#define SZ_2M		(2UL << 20)
#define MAX_ROUNDS	15

enum side { OURS, DMIRROR, FLOOR, NSIDES };
static const char *const node[NSIDES] = {
	"/dev/vsvm_dmirror0", "/dev/hmm_dmirror0", "/dev/vsvm_floor0",
};

enum fig { FIRST_READ, WARM_READ, FAULT_OVERHEAD, MUNMAP, TO_DEVICE, TO_RAM,
	   NFIGS };
static const char *const fig_name[NFIGS] = {
	"first-read", "warm-read", "fault-overhead", "munmap", "to-device",
	"to-ram",
};

/*
 * The performance goals for these figures, as the largest ours/dmirror
 * time ratio allowed (and, for the fault overhead, ours/floor too).
 */
static const double goal_dmirror[NFIGS] = {
	[FIRST_READ] = 1 / 1.2, [WARM_READ] = 1.0, [FAULT_OVERHEAD] = 0.5,
	[MUNMAP] = 1.0, [TO_DEVICE] = 1.0, [TO_RAM] = 1.0,
};
#define GOAL_FLOOR_OVERHEAD	1.2
/* Figure 6: per-fault cost at the most ranges / at the fewest. */
#define GOAL_RANGES		2.0
/* Figure 5: the prefetch for 4 devices / for 1. */
#define GOAL_MULTI_DEVICE	1.5

/* Figure 6: timed faults per batch; pages one populating READ covers. */
#define RANGES_BATCH		200
#define RANGES_BATCH_TINY	32
#define RANGES_POPULATE		1024

/* Figure 8: the fault event's switch and the trace. */
#define TRACING			"/sys/kernel/tracing"
#define FAULT_EVENT		TRACING "/events/vsvm/vsvm_fault/enable"

static int rounds = 5;
static bool tiny;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double med, min, max;
};

static struct stat3 stats(const double *v, int n)
{
	double s[MAX_ROUNDS];
	struct stat3 r;

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	r.med = s[n / 2];
	r.min = s[0];
	r.max = s[n - 1];
	return r;
}

/* A 2 MiB-aligned private anonymous buffer, written by the CPU. */
static char *fresh_buffer(size_t size, bool thp, unsigned int seed)
{
	char *p = mmap(NULL, size + SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + SZ_2M - a);
	madvise(a, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < size; i += sizeof(uint64_t))
		*(uint64_t *)(a + i) = i * 0x9e3779b97f4a7c15ULL + seed;
	return a;
}

/* Whether @b holds the pattern fresh_buffer() wrote with @seed. */
static bool pattern_ok(const char *b, size_t size, unsigned int seed)
{
	size_t i;

	for (i = 0; i < size; i += sizeof(uint64_t))
		if (*(const uint64_t *)(b + i) != i * 0x9e3779b97f4a7c15ULL + seed)
			return false;
	return true;
}

static int cmd(int fd, unsigned long req, void *addr, void *bounce,
	       size_t size, uint64_t *cpages)
{
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)bounce,
		.npages = size / 4096,
	};

	if (ioctl(fd, req, &c))
		return -errno;
	if (cpages)
		*cpages = c.cpages;
	return 0;
}

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "vsvm-bench: " __VA_ARGS__);		\
		fputc('\n', stderr);					\
		exit(1);						\
	}								\
} while (0)

/* The met column of a row: a goal met, missed, not measurable, or none. */
enum verdict { NO_GOAL, GOAL_NA, GOAL_MET, GOAL_MISSED };

/*
 * One line of the table and its CSV line. @s has a stat3 per side, NULL
 * for a side without the figure; @xs labels the size column, @x is the
 * CSV's; the table shows ms times @unit (1, or 1000 for microseconds); the
 * CSV always ms; @ratio NAN for none. @goal_text follows the verdict, or
 * stands alone when there is no goal.
 */
static void row(const char *fig, const char *xs, unsigned long x, double unit,
		const struct stat3 *s[NSIDES], double ratio, double goal,
		enum verdict v, const char *goal_text)
{
	static const char *const met[] = {
		[NO_GOAL] = "", [GOAL_NA] = "n/a", [GOAL_MET] = "yes",
		[GOAL_MISSED] = "no",
	};
	static const char *const word[] = {
		[NO_GOAL] = "", [GOAL_NA] = "n/a", [GOAL_MET] = "met",
		[GOAL_MISSED] = "MISSED",
	};
	int side;

	printf("%-20s %11s", fig, xs);
	for (side = 0; side < NSIDES; side++) {
		const struct stat3 *t = s[side];

		if (!t)
			printf(" %*s", side == FLOOR ? 9 : 29, "");
		else if (side == FLOOR)
			printf(" %9.2f", t->med * unit);
		else
			printf(" %9.2f (%7.2f-%7.2f)", t->med * unit,
			       t->min * unit, t->max * unit);
	}
	if (!isnan(ratio))
		printf(" %6.2f", ratio);
	else
		printf(" %6s", "-");
	if (v == NO_GOAL)
		printf("  %s\n", goal_text);
	else
		printf("  <= %.2f%s %s\n", goal, goal_text, word[v]);

	printf("CSV,%s,%lu", fig, x);
	for (side = 0; side < NSIDES; side++) {
		if (s[side])
			printf(",%.4f", s[side]->med);
		else
			printf(",");
	}
	if (!isnan(ratio))
		printf(",%.4f", ratio);
	else
		printf(",");
	if (v == NO_GOAL)
		printf(",,\n");
	else
		printf(",%.3f,%s\n", goal, met[v]);
}

static enum verdict verdict(bool valid, bool met)
{
	return !valid ? GOAL_NA : met ? GOAL_MET : GOAL_MISSED;
}

/* A row of figures 1-4: ours against dmirror (and the floor). */
static void report(const char *fig, size_t size, bool thp,
		   const struct stat3 s[NSIDES], double goal, double goal_floor)
{
	const struct stat3 *sides[NSIDES] = { &s[OURS], &s[DMIRROR], &s[FLOOR] };
	bool valid = s[DMIRROR].med > 0 && (!goal_floor || s[FLOOR].med > 0);
	double ratio = s[OURS].med / s[DMIRROR].med;
	bool met = ratio <= goal;
	char name[64], xs[32];

	if (goal_floor > 0)
		met = met && s[OURS].med <= goal_floor * s[FLOOR].med;
	snprintf(name, sizeof(name), "%s%s", fig, thp ? "-thp" : "");
	snprintf(xs, sizeof(xs), "%zuK", size >> 10);
	row(name, xs, size, 1, sides, ratio, goal, verdict(valid, met),
	    goal_floor > 0 ? " (and <= 1.2x floor)" : "");
}

/*
 * One round of every figure on one side, or of the first read alone
 * (@first_only).
 */
static void round_of(int side, int fd, size_t size, bool thp, bool first_only,
		     char *bounce, double t[NFIGS])
{
	unsigned int seed = rand();
	uint64_t cpages = 0;
	char *p;
	double t0;
	int err;

	/* 1, 2, 3: read twice, then unmap. */
	p = fresh_buffer(size, thp, seed);
	CHECK(p, "no memory for %zu bytes", size);
	memset(bounce, 0, size);
	t0 = now_ms();
	err = cmd(fd, HMM_DMIRROR_READ, p, bounce, size, NULL);
	t[FIRST_READ] = now_ms() - t0;
	CHECK(!err, "%s: first READ: %s", node[side], strerror(-err));
	CHECK(pattern_ok(bounce, size, seed), "%s: first READ: wrong data",
	      node[side]);
	if (first_only) {
		munmap(p, size);
		return;
	}
	memset(bounce, 0, size);
	t0 = now_ms();
	err = cmd(fd, HMM_DMIRROR_READ, p, bounce, size, NULL);
	t[WARM_READ] = now_ms() - t0;
	CHECK(!err, "%s: warm READ: %s", node[side], strerror(-err));
	CHECK(pattern_ok(bounce, size, seed), "%s: warm READ: wrong data",
	      node[side]);
	t[FAULT_OVERHEAD] = t[FIRST_READ] - t[WARM_READ];
	t0 = now_ms();
	munmap(p, size);
	t[MUNMAP] = now_ms() - t0;

	/* 4: to device memory, and back by CPU writes. */
	p = fresh_buffer(size, thp, seed + 1);
	CHECK(p, "no memory for %zu bytes", size);
	memset(bounce, 0, size);
	t0 = now_ms();
	err = cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, bounce, size, &cpages);
	t[TO_DEVICE] = now_ms() - t0;
	CHECK(!err, "%s: MIGRATE_TO_DEV: %s", node[side], strerror(-err));
	CHECK(cpages == size / 4096, "%s: MIGRATE_TO_DEV moved %llu of %zu pages",
	      node[side], (unsigned long long)cpages, size / 4096);
	CHECK(side == FLOOR || pattern_ok(bounce, size, seed + 1),
	      "%s: MIGRATE_TO_DEV: wrong data", node[side]);
	t0 = now_ms();
	for (size_t i = 0; i < size; i += 4096)
		p[i] ^= 0x5a;
	t[TO_RAM] = now_ms() - t0;
	for (size_t i = 0; i < size; i += 4096)
		p[i] ^= 0x5a;
	CHECK(pattern_ok(p, size, seed + 1), "%s: back in RAM: wrong data",
	      node[side]);
	munmap(p, size);
}

/* Run @fn in a child process; fail the bench if it fails. */
static void in_child(void (*fn)(void *arg), void *arg, const char *what)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		fn(arg);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "%s failed", what);
}

struct round_args {
	int side, round;
	size_t size;
	bool thp, first_only;
	double *t;
};

static void round_fn(void *arg)
{
	struct round_args *a = arg;
	char *bounce = malloc(a->size);
	int fd = open(node[a->side], O_RDWR);

	CHECK(fd >= 0, "cannot open %s", node[a->side]);
	CHECK(bounce, "no memory for the bounce buffer");
	srand(a->round * NSIDES + a->side + 1);	/* the data's seed */
	round_of(a->side, fd, a->size, a->thp, a->first_only, bounce, a->t);
}

/*
 * One round of one side in a child process of its own, which opens only
 * that side's node; the times go to @t (shared memory).
 */
static void round_in_child(int side, int round, size_t size, bool thp,
			   bool first_only, double *t)
{
	struct round_args a = { side, round, size, thp, first_only, t };
	char what[64];

	snprintf(what, sizeof(what), "%s: the round", node[side]);
	in_child(round_fn, &a, what);
}

static void *shared_mem(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "no shared memory");
	return p;
}

static void open_sides(int nsides)
{
	int side;

	for (side = 0; side < nsides; side++) {
		int fd = open(node[side], O_RDWR);

		CHECK(fd >= 0, "cannot open %s", node[side]);
		close(fd);
	}
}

static void print_header(void)
{
	printf("%-20s %11s %29s %29s %9s %6s  goal\n", "figure", "size",
	       "ours", "dmirror", "floor", "ratio");
}

/*
 * The service times (ms) of the successful vsvm_fault events in the trace,
 * into @v (at most @max); returns their number.
 */
static int trace_fault_times(double *v, int max)
{
	FILE *f = fopen(TRACING "/trace", "r");
	char line[512];
	int n = 0;

	CHECK(f, "cannot read " TRACING "/trace");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long ns;
		const char *r, *t;
		int ret;

		if (!strstr(line, "vsvm_fault:"))
			continue;
		r = strstr(line, " ret=");
		t = strstr(line, " ns=");
		CHECK(r && t && sscanf(r, " ret=%d", &ret) == 1 &&
		      sscanf(t, " ns=%llu", &ns) == 1,
		      "unexpected vsvm_fault event: %s", line);
		if (!ret && n < max)
			v[n++] = ns / 1e6;
	}
	fclose(f);
	return n;
}

/*
 * Figure 8 at one size: rounds of ours' first read with the vsvm_fault
 * event on, then p50 and p99 of every fault's service time.
 */
static void fault_latency(size_t size, double *t)
{
	static double v[1 << 16];
	struct stat3 p50, p99;
	const struct stat3 *s[NSIDES] = { NULL };
	char xs[32], note[64];
	int r, n;

	snprintf(xs, sizeof(xs), "%zuK", size >> 10);
	if (access(FAULT_EVENT, W_OK)) {
		printf("%-20s %11s  skipped: no vsvm trace events (%s)\n",
		       "fault-p50/p99", xs, FAULT_EVENT);
		return;
	}
	CHECK(!sysfile_write(TRACING "/trace", ""), "cannot clear the trace");
	CHECK(!sysfile_write(FAULT_EVENT, "1"), "cannot enable vsvm_fault");
	for (r = 0; r < rounds; r++)
		round_in_child(OURS, r, size, false, true, t);
	CHECK(!sysfile_write(FAULT_EVENT, "0"), "cannot disable vsvm_fault");
	n = trace_fault_times(v, sizeof(v) / sizeof(v[0]));
	CHECK(n > 0, "no vsvm_fault event in the trace");
	qsort(v, n, sizeof(*v), cmp_double);
	p50 = (struct stat3){ v[(n - 1) * 50 / 100], v[0], v[n - 1] };
	p99 = (struct stat3){ v[(n - 1) * 99 / 100], v[0], v[n - 1] };
	snprintf(note, sizeof(note), "%d faults", n);
	s[OURS] = &p50;
	row("fault-p50", xs, size, 1000, s, NAN, 0, NO_GOAL, note);
	s[OURS] = &p99;
	row("fault-p99", xs, size, 1000, s, p99.med / p50.med, 0, NO_GOAL,
	    note);
}

/* Figures 1-4 and 8. */
static void main_part(void)
{
	static const size_t full_sizes[] = { 64UL << 10, SZ_1M, 16 * SZ_1M,
					     256 * SZ_1M };
	static const size_t tiny_sizes[] = { 64UL << 10, SZ_1M };
	const size_t *sizes = tiny ? tiny_sizes : full_sizes;
	int nsizes = tiny ? 2 : 4, side, f, r, i, k, thp;
	double (*t)[MAX_ROUNDS][NFIGS] = shared_mem(sizeof(*t) * NSIDES);

	open_sides(NSIDES);
	printf("vsvm-bench: median (min-max) of %d round(s), ms; ratio = ours/dmirror\n",
	       rounds);
	print_header();
	for (thp = 0; thp < 2; thp++) {
		for (i = 0; i < nsizes; i++) {
			struct stat3 s[NFIGS][NSIDES];

			/* A THP is 2 MiB: smaller buffers have none. */
			if (thp && sizes[i] < SZ_2M)
				continue;
			/* The sides in turn, starting with another each round. */
			for (r = 0; r < rounds; r++)
				for (k = 0; k < NSIDES; k++) {
					side = (r + k) % NSIDES;
					round_in_child(side, r, sizes[i], thp,
						       false, t[side][r]);
				}
			for (f = 0; f < NFIGS; f++) {
				for (side = 0; side < NSIDES; side++) {
					double v[MAX_ROUNDS];

					for (r = 0; r < rounds; r++)
						v[r] = t[side][r][f];
					s[f][side] = stats(v, rounds);
				}
				report(fig_name[f], sizes[i], thp, s[f],
				       goal_dmirror[f],
				       f == FAULT_OVERHEAD ?
				       GOAL_FLOOR_OVERHEAD : 0);
			}
		}
	}
	printf("vsvm-bench: GPU fault service time (vsvm_fault trace event), us; (min-max) of all faults\n");
	for (i = 0; i < nsizes; i++)
		fault_latency(sizes[i], t[OURS][0]);
}

/* Figure 7: the first read at the chunk size vsvm was loaded with. */
static void chunk_part(void)
{
	size_t size = tiny ? SZ_1M : 16 * SZ_1M;
	double (*t)[MAX_ROUNDS][NFIGS] = shared_mem(sizeof(*t) * NSIDES);
	const struct stat3 *sides[NSIDES];
	struct stat3 s[NSIDES];
	unsigned long chunk;
	char xs[32];
	int side, r, k;
	FILE *f;

	f = fopen("/sys/module/vsvm/parameters/max_chunk", "r");
	CHECK(f && fscanf(f, "%lu", &chunk) == 1,
	      "cannot read vsvm's max_chunk parameter");
	fclose(f);
	open_sides(NSIDES);
	if (chunk >= SZ_1M)
		snprintf(xs, sizeof(xs), "chunk %luM", chunk >> 20);
	else
		snprintf(xs, sizeof(xs), "chunk %luK", chunk >> 10);
	printf("vsvm-bench: first read of %zu MiB, vsvm's ranges of at most max_chunk (%s); ms; ratio = ours/dmirror\n",
	       size >> 20, xs);
	for (r = 0; r < rounds; r++)
		for (k = 0; k < NSIDES; k++) {
			side = (r + k) % NSIDES;
			round_in_child(side, r, size, false, true, t[side][r]);
		}
	for (side = 0; side < NSIDES; side++) {
		double v[MAX_ROUNDS];

		for (r = 0; r < rounds; r++)
			v[r] = t[side][r][FIRST_READ];
		s[side] = stats(v, rounds);
		sides[side] = &s[side];
	}
	row("chunk-first-read", xs, chunk, 1, sides,
	    s[OURS].med / s[DMIRROR].med, 0, NO_GOAL, "-");
}

struct ranges_args {
	int side;
	const unsigned long *levels;
	int nlevels;
	double (*t)[MAX_ROUNDS];
};

/*
 * Figure 6 on one side, in a child: grow the mirror to each level of live
 * ranges (pages), and time batches of one-page faults there.
 */
static void ranges_fn(void *arg)
{
	struct ranges_args *a = arg;
	unsigned long max = a->levels[a->nlevels - 1], done = 0;
	int batch = tiny ? RANGES_BATCH_TINY : RANGES_BATCH;
	size_t bsize = (batch + 1) * SZ_4K;
	int fd = open(node[a->side], O_RDWR);
	char *area, *bounce;
	int l, r, i, err;

	CHECK(fd >= 0, "cannot open %s", node[a->side]);
	area = mmap(NULL, max * SZ_4K, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	bounce = malloc(RANGES_POPULATE * SZ_4K);
	CHECK(area != MAP_FAILED && bounce, "no memory for %lu ranges", max);
	madvise(area, max * SZ_4K, MADV_NOHUGEPAGE);
	for (l = 0; l < a->nlevels; l++) {
		/* The untouched pages read as the zero page: a range each. */
		while (done < a->levels[l]) {
			unsigned long n = a->levels[l] - done;

			if (n > RANGES_POPULATE)
				n = RANGES_POPULATE;
			memset(bounce, 0xff, n * SZ_4K);
			err = cmd(fd, HMM_DMIRROR_READ, area + done * SZ_4K,
				  bounce, n * SZ_4K, NULL);
			CHECK(!err, "%s: READ of %lu pages: %s", node[a->side],
			      n, strerror(-err));
			for (i = 0; i < n; i++)
				CHECK(!*(uint64_t *)(bounce + i * SZ_4K),
				      "%s: READ of the zero page: wrong data",
				      node[a->side]);
			done += n;
		}
		for (r = 0; r < rounds; r++) {
			unsigned int seed = rand();
			char *p = fresh_buffer(bsize, false, seed);
			double t0;

			CHECK(p, "no memory for a batch");
			memset(bounce, 0, bsize);
			/* Its fault collects the previous batch's ranges. */
			err = cmd(fd, HMM_DMIRROR_READ, p, bounce, SZ_4K, NULL);
			CHECK(!err, "%s: READ: %s", node[a->side],
			      strerror(-err));
			t0 = now_ms();
			for (i = 1; i <= batch && !err; i++)
				err = cmd(fd, HMM_DMIRROR_READ, p + i * SZ_4K,
					  bounce + i * SZ_4K, SZ_4K, NULL);
			a->t[l][r] = (now_ms() - t0) / batch;
			CHECK(!err, "%s: READ: %s", node[a->side],
			      strerror(-err));
			CHECK(pattern_ok(bounce, bsize, seed),
			      "%s: READ: wrong data", node[a->side]);
			munmap(p, bsize);
		}
	}
}

/* Figure 6: the cost of a fault against the number of live ranges. */
static void ranges_part(void)
{
	static const unsigned long full_levels[] = { 1000, 10000, 100000 };
	static const unsigned long tiny_levels[] = { 10, 100 };
	const unsigned long *levels = tiny ? tiny_levels : full_levels;
	int nlevels = tiny ? 2 : 3, side, l;
	double (*t)[3][MAX_ROUNDS] = shared_mem(sizeof(*t) * 2);
	struct stat3 s[3][2];

	open_sides(FLOOR);
	printf("vsvm-bench: one-page fault with N live 4K ranges (vsvm max_chunk=4K), us per fault, median (min-max) of %d batch(es) of %d; ratio = ours / ours at %lu ranges\n",
	       rounds, tiny ? RANGES_BATCH_TINY : RANGES_BATCH, levels[0]);
	for (side = OURS; side <= DMIRROR; side++) {
		struct ranges_args a = { side, levels, nlevels, t[side] };
		char what[64];

		snprintf(what, sizeof(what), "%s: the ranges run", node[side]);
		in_child(ranges_fn, &a, what);
		for (l = 0; l < nlevels; l++)
			s[l][side] = stats(t[side][l], rounds);
	}
	for (l = 0; l < nlevels; l++) {
		const struct stat3 *sides[NSIDES] = { &s[l][OURS],
						      &s[l][DMIRROR] };
		double ratio = s[l][OURS].med / s[0][OURS].med;
		bool last = l == nlevels - 1;
		char xs[32];

		if (levels[l] % 1000)
			snprintf(xs, sizeof(xs), "%lu ranges", levels[l]);
		else
			snprintf(xs, sizeof(xs), "%luk ranges",
				 levels[l] / 1000);
		row("fault-vs-ranges", xs, levels[l], 1000, sides, ratio,
		    GOAL_RANGES, last ? verdict(s[0][OURS].med > 0,
						ratio <= GOAL_RANGES) : NO_GOAL,
		    last ? "" : "-");
	}
}

/**
 * struct multi_args - figure 5 at one number of devices (shared memory)
 * @ndev: the number of devices, N
 * @t: per round (ms): the prefetch (t[0]), until the last checksum after
 *     it (t[1]), the checksums faulting by themselves (t[2])
 */
struct multi_args {
	int ndev;
	double t[3][MAX_ROUNDS];
};

/*
 * A checksum job of @p on each of the first @ndev devices, all submitted,
 * then waited for; each must find @sum.
 */
static void checksums(struct vsvm_dev *dev, const uint32_t *vm, int ndev,
		      const char *p, size_t size, uint64_t sum)
{
	struct drm_vsvm_job job[4];
	uint64_t seq[4];
	int i, err;

	for (i = 0; i < ndev; i++) {
		job[i] = (struct drm_vsvm_job){
			.op = DRM_VSVM_OP_CHECKSUM,
			.src = (uintptr_t)p,
			.size = size,
		};
		err = vsvm_submit(&dev[i], vm[i], &job[i], 1, &seq[i]);
		CHECK(!err, "EXEC on device %d: %s", i, strerror(-err));
	}
	for (i = 0; i < ndev; i++) {
		err = vsvm_wait(&dev[i], vm[i], seq[i], 60000000000LL);
		CHECK(!err, "WAIT on device %d: %s", i, strerror(-err));
		CHECK(!job[i].status && job[i].result == sum,
		      "device %d of %d: checksum %s", i, ndev,
		      job[i].status ? strerror(-job[i].status) : "wrong");
	}
}

/* The GPU faults of each of the first @ndev devices' VMs so far. */
static void count_faults(struct vsvm_dev *dev, const uint32_t *vm, int ndev,
			 uint64_t *faults)
{
	struct drm_vsvm_stats st;
	int i, err;

	for (i = 0; i < ndev; i++) {
		err = vsvm_stats(&dev[i], vm[i], &st);
		CHECK(!err, "STATS: %s", strerror(-err));
		faults[i] = st.faults;
	}
}

/*
 * Figure 5: N devices of the N:1 layout read one buffer: a prefetch naming
 * them, then a checksum job on each, in parallel; and, for comparison, the
 * checksums alone on another buffer, each device faulting it by itself.
 */
static void multi_device_fn(void *arg)
{
	struct multi_args *a = arg;
	const int ndev = a->ndev;
	size_t size = tiny ? SZ_1M : 16 * SZ_1M;
	uint64_t before[4], after[4];
	struct vsvm_dev dev[4];
	uint32_t vm[4];
	int i, r, err;

	for (i = 0; i < ndev; i++) {
		CHECK(!vsvm_open(i, &dev[i]), "no vsvm device %d", i);
		CHECK(!vsvm_vm_create(&dev[i], &vm[i]), "VM_CREATE on %d", i);
	}
	for (r = 0; r < rounds; r++) {
		unsigned int seed = rand();
		char *p = fresh_buffer(size, false, seed);
		char *q = fresh_buffer(size, false, seed + 1);
		uint64_t sum = vsvm_fnv1a(p, size);
		uint64_t sum_q = vsvm_fnv1a(q, size);
		double t0;

		CHECK(p && q, "no memory for %zu bytes", size);
		count_faults(dev, vm, ndev, before);
		t0 = now_ms();
		err = vsvm_prefetch_devices(&dev[0], vm[0], p, size,
					    DRM_VSVM_LOC_SYSTEM,
					    (1u << ndev) - 1);
		a->t[0][r] = now_ms() - t0;
		CHECK(!err, "PREFETCH for %d devices: %s", ndev,
		      strerror(-err));
		checksums(dev, vm, ndev, p, size, sum);
		a->t[1][r] = now_ms() - t0;
		count_faults(dev, vm, ndev, after);
		for (i = 0; i < ndev; i++)
			CHECK(after[i] == before[i],
			      "device %d of %d faulted after the prefetch", i,
			      ndev);

		t0 = now_ms();
		checksums(dev, vm, ndev, q, size, sum_q);
		a->t[2][r] = now_ms() - t0;
		/* Kept mapped: the process's exit collects the ranges. */
	}
}

static void multi_device_part(void)
{
	static const int ndevs[] = { 1, 2, 4 };
	static const char *const fig[] = {
		"multi-dev-map", "multi-dev-read", "multi-dev-fault",
	};
	size_t size = tiny ? SZ_1M : 16 * SZ_1M;
	struct stat3 s[3][3];
	struct multi_args *a = shared_mem(sizeof(*a));
	struct vsvm_dev dev;
	int n, f;

	CHECK(!vsvm_open(0, &dev), "no vsvm device");
	CHECK(dev.info.layout == DRM_VSVM_LAYOUT_NTO1 &&
	      dev.info.num_devices >= 4 && dev.info.version >= 3,
	      "--multi-device needs vsvm loaded with layout=n:1 num_devices=4");
	vsvm_close(&dev);
	printf("vsvm-bench: N devices (N:1 layout) read one %zu MiB buffer: a prefetch naming them (map), then a checksum job on each (read); or the checksums alone, each device faulting (fault); ms; ratio = ours / ours at N = 1\n",
	       size >> 20);
	for (n = 0; n < 3; n++) {
		char what[64];

		a->ndev = ndevs[n];
		snprintf(what, sizeof(what), "%d devices", ndevs[n]);
		in_child(multi_device_fn, a, what);
		for (f = 0; f < 3; f++)
			s[n][f] = stats(a->t[f], rounds);
	}
	for (f = 0; f < 3; f++) {
		for (n = 0; n < 3; n++) {
			const struct stat3 *sides[NSIDES] = { &s[n][f] };
			double ratio = s[n][f].med / s[0][f].med;
			bool goal = f == 0 && ndevs[n] == 4;
			char xs[32];

			snprintf(xs, sizeof(xs), "%d device%s", ndevs[n],
				 ndevs[n] > 1 ? "s" : "");
			row(fig[f], xs, ndevs[n], 1, sides, ratio,
			    GOAL_MULTI_DEVICE,
			    goal ? verdict(s[0][f].med > 0,
					   ratio <= GOAL_MULTI_DEVICE) :
			    NO_GOAL, goal ? "" : "-");
		}
	}
}

int main(int argc, char **argv)
{
	bool ranges = false, chunk = false, multi = false;
	int k;

	for (k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--tiny")) {
			tiny = true;
			rounds = 1;
		} else if (!strcmp(argv[k], "--rounds") && k + 1 < argc) {
			rounds = atoi(argv[++k]);
			CHECK(rounds >= 1 && rounds <= MAX_ROUNDS,
			      "--rounds: 1 to %d", MAX_ROUNDS);
		} else if (!strcmp(argv[k], "--ranges")) {
			ranges = true;
		} else if (!strcmp(argv[k], "--chunk")) {
			chunk = true;
		} else if (!strcmp(argv[k], "--multi-device")) {
			multi = true;
		} else {
			CHECK(0, "usage: vsvm-bench [--rounds N] [--tiny] [--ranges] [--chunk] [--multi-device]");
		}
	}
	if (!ranges && !chunk && !multi)
		main_part();
	if (ranges)
		ranges_part();
	if (chunk)
		chunk_part();
	if (multi)
		multi_device_part();
	return 0;
}
