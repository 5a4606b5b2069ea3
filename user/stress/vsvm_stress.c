// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm_stress: a seeded, time-bounded race stress of vsvm.
 *
 *   vsvm_stress [-s SEED] [-d SECONDS] [-w WORKERS_PER_DEVICE] [-n]
 *               [-x vma,fork,gpu,churn]
 *
 * Defaults: $VSVM_STRESS_SEED (else a seed from the clock), $VSVM_STRESS_SECONDS
 * (else 30), 2 workers per device. In the test VM the environment comes from
 * the kernel command line (the kernel hands NAME=value parameters it does
 * not know to init): make check STRESS_SECONDS=600 STRESS_SEED=N.
 * -n runs the workers alone, without chaos (a baseline for the numbers);
 * -x leaves the listed chaos threads out (to see what costs what).
 *
 * Output: TAP ("ok 1 vsvm_stress" / "not ok 1 vsvm_stress"), the summary as
 * "#" lines; exit code 0 on success. Every failure line carries the seed.
 * The seed fixes every thread's sequence of operations (each thread has its
 * own generator, seeded from the seed and its index); the interleaving of
 * the threads is up to the scheduler, so a rerun with the seed replays the
 * same operations, not the same race.
 *
 * Threads (all in one process, all running until the deadline):
 *
 * - Workers, WORKERS_PER_DEVICE on every vsvm device, each with its own
 *   file and VM, own four buffers: malloc(), a 2 MiB-aligned 4 MiB private
 *   anonymous mapping with MADV_HUGEPAGE (THP), a MAP_SHARED anonymous one
 *   and a MAP_SHARED mapping of a shmem file (memfd). A worker keeps a model
 *   of each buffer (its expected content) and runs COPY, FILL, CHECKSUM and
 *   ATOMIC_ADD jobs between them, in batches of 1-6 jobs, synchronously or
 *   as up to two asynchronous submissions waited in random order; it also
 *   writes them with the CPU, prefetches them to VRAM and back, sets
 *   DRM_VSVM_ATTR_READ_ONLY (one interval per buffer at a time) and
 *   DRM_VSVM_ATTR_PREFERRED_LOC on them, and runs jobs on the scratch memory
 *   below. Asserted: every job succeeds, except that a job writing into the
 *   buffer's read-only interval must fail with -EACCES exactly at the first
 *   byte it writes there, having done the part before (and see "-EBUSY"
 *   below); every CHECKSUM equals FNV-1a of the model; every byte a
 *   job touched, and every buffer as a whole from time to time and at the
 *   end, equals the model (compared on the CPU, which also brings VRAM
 *   pages back).
 *
 * - A VMA chaos thread owns the scratch slots (16 slots of 2 MiB, each
 *   followed by a 2 MiB spare, see "Address space") and keeps changing
 *   them: munmap and mmap again at the same address (whole or part, as
 *   private, THP, shared anonymous or shmem memory), mremap (move to the
 *   spare and back, shrink and grow in place), madvise(MADV_DONTNEED),
 *   mprotect to PROT_READ or PROT_NONE and back, CPU writes.
 *
 * - A fork thread forks every 0.3-1.5 s. The child checks that the parent's
 *   VM refuses it (EXEC fails with -EACCES), writes its copy of the
 *   workers' private buffers and some scratch memory with the CPU, creates
 *   its own VM, fills part of its copy of a private buffer with the GPU and
 *   checks it, runs a job on scratch memory (clean failures only), destroys
 *   its VM and exits; the parent asserts exit code 0. The workers' MAP_SHARED
 *   buffers are never written by a child (that memory is shared), their
 *   private ones must not change in the parent whatever the child writes.
 *
 * - A scratch GPU thread per device, with its own VM, runs jobs on scratch
 *   memory, prefetches scratch intervals to VRAM and to system memory and
 *   sets DRM_VSVM_ATTR_READ_ONLY and DRM_VSVM_ATTR_PREFERRED_LOC on them;
 *   sometimes on the "victim" VM, which the churn thread destroys under it.
 *
 * - A churn thread opens and closes device files, creates and destroys VMs
 *   (with asynchronous scratch jobs in flight, and the victim VM while the
 *   scratch GPU threads use it), creates userptrs over scratch memory, binds
 *   them in the userptr window and runs jobs there, destroys them or leaves
 *   them to the VM's destruction. It also checks a userptr strictly: over a
 *   private buffer of its own, bound in the window, a GPU fill must land in
 *   the buffer (or fail with -EACCES for a read-only userptr, the buffer
 *   unchanged) and a GPU checksum must match the CPU's.
 *
 * Clean failures. The workers' buffers must stay exactly predictable, so no
 * chaos touches them; jobs on scratch memory (and the userptr window) may
 * fail, but only as the chaos explains, with @fault_addr inside the job's
 * source or destination span:
 *
 *   -EFAULT     nothing mapped there: a munmap or mremap hole, a spare half,
 *               a userptr whose memory went away (also while a VMA changes
 *               under a fault: the range is retired and the fault fails if
 *               the new VMA fails again)
 *   -EACCES     a write (never a read, so never for CHECKSUM, and for COPY
 *               only in the destination span) to PROT_READ memory, an
 *               interval with DRM_VSVM_ATTR_READ_ONLY or a read-only userptr
 *   -EPERM      PROT_NONE memory (the GPU cannot mirror it), including the
 *               userptr window where no userptr is bound
 *   -EBUSY      the fault kept racing invalidations
 *   -ECANCELED  an earlier job of the submission failed (then every later
 *               job must have it), or, as the first failure, only on the
 *               victim VM or a churn VM: the VM was destroyed meanwhile
 *
 * and the victim VM's ioctls may fail with -ENOENT (destroyed before the
 * ioctl found it). Prefetch of scratch intervals may fail with -EFAULT,
 * -EPERM or -EBUSY (a prefetch falls back to a read fault, so never
 * -EACCES); SET_ATTR never fails. Anything else fails the run.
 *
 * -EBUSY on a worker's own buffer: a GPU fault gets the pages of its whole
 * range (up to 2 MiB) with hmm_range_fault(), which starts over whenever
 * the MMU notifier covering the range saw an invalidation meanwhile. The
 * GPU SVM's notifiers cover notifier_size windows (512 MiB), so any CPU
 * change in the window counts, not only one of the range: the chaos in the
 * scratch window (shared with each worker's shared-anon buffer on purpose),
 * a fork (which write-protects all private memory: the next GPU write
 * breaks copy-on-write page by page, an invalidation each), migrations to
 * and from VRAM, THP collapse. A fault that keeps starting over for 1 s
 * (HMM's timeout), 16 times, or whose mapping keeps being zapped before
 * the engine uses it, stalls its submission (the engine tries again at its
 * later turns) and after 10 s of that fails its job with -EBUSY at
 * @fault_addr, having done
 * exactly the part before it (the engine works page by page, in order, and
 * a fault retries the whole page): the model takes that part, the rest of
 * the submission must be -ECANCELED, and every byte is still checked.
 * These are counted and each is noted in the output.
 *
 * Address space. The stress works in a region reserved at a fixed address,
 * 16 TiB, far below where mmap() puts anything (top-down from below the
 * stack, near 128 TiB) and far above the brk heap: a hole the chaos makes
 * there (munmap, mremap) is never handed to another mmap() of the process,
 * so GPU jobs on scratch addresses can only ever meet scratch memory or
 * holes, never a worker's buffer or malloc's memory. Its first 512 MiB
 * notifier window holds the scratch slots (slot i at scratch + i * 4 MiB,
 * its spare half after it), the userptr window (PROT_NONE: GPU VAs for
 * userptr bindings) and the workers' shared-anon buffers; the second the
 * churn thread's private userptr buffer and the workers' THP and shmem
 * buffers (malloc() places the malloc buffers, elsewhere).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vsvm.h"

#define SZ_4K		4096UL
#define SZ_64K		(64UL << 10)
#define SZ_256K		(256UL << 10)
#define SZ_1M		(1UL << 20)
#define SZ_2M		(2UL << 20)

#define MAX_DEVICES	8
#define MAX_WORKERS	32
#define BATCH_MAX	6	/* jobs per submission */
#define HIST		12	/* operations a worker remembers for reports */
#define MAX_REPORTS	10	/* failure lines printed */
#define STOP_TIMEOUT	120	/* seconds for the threads to stop after the deadline */
#define WAIT_NS		(10LL * 1000 * 1000 * 1000)

/*
 * Address-space layout, see the header: two notifier windows (512 MiB, the
 * default notifier_size). The first holds the scratch slots, the userptr
 * window and each worker's shared-anon buffer ("near" the chaos), the
 * second the workers' THP and shmem buffers and the churn thread's userptr
 * buffer.
 */
#define REGION_ADDR	0x100000000000UL	/* 16 TiB, 512 MiB aligned */
#define WINDOW		(512 * SZ_1M)
#define NEAR_AREA	SZ_1M			/* per worker, in window 1 */
#define SHARED_SIZE	(512 * 1024)
#define WORKER_AREA	(8 * SZ_1M)		/* per worker, in window 2 */
#define THP_OFF		0
#define THP_SIZE	(4 * SZ_1M)
#define SHMEM_OFF	(6 * SZ_1M)
#define SHMEM_SIZE	SZ_1M
#define MISC_SIZE	(4 * SZ_1M)		/* the churn thread's userptr buffer */
#define UCHECK_SIZE	(64 * SZ_4K)
#define NSLOTS		16
#define SLOT_SIZE	SZ_2M
#define SLOT_STRIDE	(2 * SLOT_SIZE)		/* the slot, then its spare */
#define SCRATCH_SIZE	(NSLOTS * SLOT_STRIDE)
#define UWIN_SIZE	(16 * SZ_1M)		/* userptr window */
#define UWIN_CHECK	(UWIN_SIZE / 2)		/* its half for the strict check */

#define ALIGN_DOWN(x, a)	((x) & ~((a) - 1))
#define ALIGN_UP(x, a)		ALIGN_DOWN((x) + (a) - 1, (a))
#define MIN(a, b)		((a) < (b) ? (a) : (b))
#define MAX(a, b)		((a) > (b) ? (a) : (b))

/* ------------------------------------------------------------------ */
/* Options, global state                                               */

static uint64_t opt_seed;
static unsigned int opt_seconds = 30;
static unsigned int opt_workers_per_dev = 2;
static bool opt_no_chaos;	/* -n: workers only, a baseline */
static bool no_vma, no_fork, no_gpu, no_churn;	/* -x: chaos threads left out */

static struct drm_vsvm_info info;	/* of device 0 */
static unsigned int ndev;
static bool have_vram;

static uint8_t *region, *misc, *scratch, *uwin, *near_area, *worker_area;
static size_t region_size;
static int scratch_fd;			/* shmem file behind SHMEM slots */

static atomic_bool stop_flag, failed_flag;
static atomic_uint nreports;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start_barrier;

/* Progress, for the periodic line: relaxed counters. */
static atomic_ulong prog_own_jobs, prog_scratch_jobs, prog_chaos;

static bool running(void)
{
	return !atomic_load_explicit(&stop_flag, memory_order_relaxed);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Random numbers: splitmix64, one generator per thread                */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct rng *r, unsigned int percent)
{
	return rnd_below(r, 100) < percent;
}

static void rng_init(struct rng *r, uint64_t stream)
{
	r->s = opt_seed ^ (stream * 0xd1b54a32d192ed03ULL);
	rnd(r);
}

/*
 * A length in [1, max]: a quarter within a page, a quarter a few pages,
 * most of the rest up to 1 MiB, one in twenty up to max.
 */
static size_t rnd_len(struct rng *r, size_t max)
{
	size_t len;

	switch (rnd_below(r, 20)) {
	case 0 ... 4:
		len = 1 + rnd_below(r, 256);
		break;
	case 5 ... 9:
		len = 1 + rnd_below(r, 3 * SZ_4K);
		break;
	case 10 ... 15:
		len = 1 + rnd_below(r, 128 * 1024);
		break;
	case 16 ... 18:
		len = 1 + rnd_below(r, SZ_1M);
		break;
	default:
		len = 1 + rnd_below(r, max);
		break;
	}
	return len > max ? max : len;
}

static void fill_random(struct rng *r, uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = rnd(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = rnd(r);
}

/* Sometimes give the other threads a chance to run into a window. */
static void maybe_pause(struct rng *r)
{
	switch (rnd_below(r, 10)) {
	case 0 ... 4:
		break;
	case 5 ... 7:
		sched_yield();
		break;
	default:
		usleep(50 + rnd_below(r, 450));
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */

enum scratch_err { SE_EFAULT, SE_EACCES, SE_EPERM, SE_EBUSY, SE_ECANCELED,
		   SE_CASCADE, NR_SE };
static const char *const se_names[NR_SE] = {
	"EFAULT", "EACCES", "EPERM", "EBUSY", "ECANCELED(vm destroyed)",
	"ECANCELED(after a failed job)",
};

enum chaos_op {
	CH_REMAP, CH_PARTIAL_REMAP, CH_MREMAP_MOVE, CH_MREMAP_RESIZE,
	CH_MREMAP_REFUSED, CH_MADVISE, CH_MPROTECT, CH_CPU_WRITE, CH_FORK,
	CH_PREFETCH_DEVICE, CH_PREFETCH_SYSTEM, CH_PREFETCH_FAILED,
	CH_ATTR_READ_ONLY, CH_ATTR_PREFERRED_LOC, CH_VM_CREATE, CH_VM_DESTROY,
	CH_VM_DESTROY_BUSY, CH_FILE_OPEN, CH_FILE_CLOSE, CH_FILE_CLOSE_BUSY,
	CH_USERPTR_CREATE, CH_USERPTR_BIND, CH_USERPTR_DESTROY,
	CH_USERPTR_CHECK, CH_VICTIM_PUBLISH, CH_VICTIM_USE, CH_VICTIM_ENOENT,
	NR_CH,
};
static const char *const ch_names[NR_CH] = {
	"munmap+mmap", "partial munmap+mmap", "mremap(move)", "mremap(resize)",
	"mremap(refused: VMA not merged)", "madvise(DONTNEED)",
	"mprotect", "cpu write", "fork", "prefetch(device)", "prefetch(system)",
	"prefetch failed cleanly", "attr(read-only)", "attr(preferred loc)",
	"vm create", "vm destroy", "vm destroy with jobs in flight",
	"file open", "file close", "file close with jobs in flight",
	"userptr create", "userptr bind", "userptr destroy",
	"userptr strict check", "victim published", "victim used",
	"victim gone (-ENOENT)",
};

struct counts {
	uint64_t own_jobs[5];		/* by DRM_VSVM_OP_* */
	uint64_t own_submits, own_async, own_busy, own_cancelled, own_eacces;
	uint64_t own_attr_ro, own_attr_loc;
	uint64_t own_prefetch[2], own_prefetch_busy, cpu_writes;
	uint64_t bytes_cpu, bytes_gpu;	/* checked against the model */
	uint64_t scratch_jobs, scratch_ok, scratch_err[NR_SE];
	uint64_t chaos[NR_CH];
	/* Latencies in microseconds: count, sum, max. */
	uint64_t lat_own[3], lat_scratch[3], lat_fork[3];
};

static void lat_add(uint64_t lat[3], double t0)
{
	uint64_t us = (now() - t0) * 1e6;

	lat[0]++;
	lat[1] += us;
	if (us > lat[2])
		lat[2] = us;
}

static void counts_add(struct counts *to, const struct counts *c)
{
	const uint64_t *s = (const uint64_t *)c;
	uint64_t *d = (uint64_t *)to;
	size_t i;

	for (i = 0; i < sizeof(*c) / sizeof(uint64_t); i++)
		d[i] += s[i];
	/* Maxima are not sums. */
	to->lat_own[2] = MAX(to->lat_own[2] - c->lat_own[2], c->lat_own[2]);
	to->lat_scratch[2] = MAX(to->lat_scratch[2] - c->lat_scratch[2],
				 c->lat_scratch[2]);
	to->lat_fork[2] = MAX(to->lat_fork[2] - c->lat_fork[2], c->lat_fork[2]);
}

/* What every thread has: a name for reports, its generator, counters. */
struct tctx {
	char name[32];
	struct rng rng;
	struct counts c;
};

static void chaos_count(struct tctx *t, enum chaos_op op)
{
	t->c.chaos[op]++;
	atomic_fetch_add_explicit(&prog_chaos, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Failure reports                                                     */

static const char *errname(int err)
{
	static __thread char buf[16];

	switch (err) {
	case 0: return "0";
	case -EFAULT: return "-EFAULT";
	case -EACCES: return "-EACCES";
	case -EPERM: return "-EPERM";
	case -EBUSY: return "-EBUSY";
	case -ECANCELED: return "-ECANCELED";
	case -ENOENT: return "-ENOENT";
	case -ENOMEM: return "-ENOMEM";
	case -EINVAL: return "-EINVAL";
	case -ETIME: return "-ETIME";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -EEXIST: return "-EEXIST";
	}
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

static const char *const op_names[] = {
	"?", "COPY", "FILL", "CHECKSUM", "ATOMIC_ADD",
};

/* Report a failure (with the seed) and stop every thread. */
static void __attribute__((format(printf, 2, 3)))
fail(struct tctx *t, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_store(&failed_flag, true);
	atomic_store(&stop_flag, true);
	if (atomic_fetch_add(&nreports, 1) >= MAX_REPORTS)
		return;
	pthread_mutex_lock(&out_lock);
	printf("# FAIL (seed %" PRIu64 ") %s: %s\n", opt_seed,
	       t ? t->name : "main", msg);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* ------------------------------------------------------------------ */
/* Submissions                                                         */

#define STATUS_POISON	0x7eadbeef	/* status before the kernel wrote it */

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret == -1 && errno == EINTR);
	return ret ? -errno : 0;
}

/* Submit jobs; the ioctl's own result (the jobs' are in their status). */
static int exec_jobs(struct vsvm_dev *dev, uint32_t vm,
		     struct drm_vsvm_job *jobs, unsigned int n, bool async,
		     uint64_t *seqno)
{
	struct drm_vsvm_exec args = {
		.vm_id = vm,
		.flags = async ? DRM_VSVM_EXEC_ASYNC : 0,
		.num_jobs = n,
		.jobs = (uintptr_t)jobs,
	};
	unsigned int i;
	int err;

	for (i = 0; i < n; i++)
		jobs[i].status = STATUS_POISON;
	err = xioctl(dev->fd, DRM_IOCTL_VSVM_EXEC, &args);
	if (!err && seqno)
		*seqno = args.seqno;
	return err;
}

/* Wait for an asynchronous submission, up to 2 minutes. */
static int wait_submission(struct vsvm_dev *dev, uint32_t vm, uint64_t seqno)
{
	int i, err = -ETIME;

	for (i = 0; i < 12 && err == -ETIME; i++)
		err = vsvm_wait(dev, vm, seqno, WAIT_NS);
	return err;
}

static bool op_has_dst(uint32_t op)
{
	return op != DRM_VSVM_OP_CHECKSUM;
}

static bool op_has_src(uint32_t op)
{
	return op == DRM_VSVM_OP_COPY || op == DRM_VSVM_OP_CHECKSUM;
}

static bool in_span(uint64_t addr, uint64_t start, uint64_t size)
{
	return addr >= start && addr - start < size;
}

/* ------------------------------------------------------------------ */
/* Jobs on scratch memory and the userptr window: clean failures only  */

/* An offset of a @len-byte span in the scratch area, mostly in a slot. */
static size_t scratch_off(struct rng *r, size_t len)
{
	if (chance(r, 75))
		return rnd_below(r, NSLOTS) * SLOT_STRIDE +
		       rnd_below(r, SLOT_SIZE - len + 1);
	return rnd_below(r, SCRATCH_SIZE - len + 1);
}

/*
 * A random job on [base, base + size): any operation, COPY source and
 * destination disjoint (the engine gives no overlap semantics).
 */
static void gen_area_job(struct rng *r, struct drm_vsvm_job *j,
			 uint8_t *base, size_t size, bool slots)
{
	size_t len = rnd_len(r, MIN(SZ_256K, size / 4)), dst, src;
	int tries;

	memset(j, 0, sizeof(*j));
	j->op = 1 + rnd_below(r, 4);
	if (j->op == DRM_VSVM_OP_ATOMIC_ADD)
		len = ALIGN_UP(len, 8);
	dst = slots ? scratch_off(r, len) : rnd_below(r, size - len + 1);
	if (j->op == DRM_VSVM_OP_ATOMIC_ADD)
		dst = ALIGN_DOWN(dst, 8);
	j->size = len;
	switch (j->op) {
	case DRM_VSVM_OP_COPY:
		for (tries = 0; tries < 8; tries++) {
			src = slots ? scratch_off(r, len) :
				      rnd_below(r, size - len + 1);
			if (src + len <= dst || dst + len <= src)
				break;
		}
		if (tries == 8) {
			j->op = DRM_VSVM_OP_FILL;
			j->value = rnd(r) & 0xff;
		} else {
			j->src = (uintptr_t)base + src;
		}
		j->dst = (uintptr_t)base + dst;
		break;
	case DRM_VSVM_OP_FILL:
		j->dst = (uintptr_t)base + dst;
		j->value = rnd(r) & 0xff;
		break;
	case DRM_VSVM_OP_CHECKSUM:
		j->src = (uintptr_t)base + dst;
		break;
	case DRM_VSVM_OP_ATOMIC_ADD:
		j->dst = (uintptr_t)base + dst;
		j->value = rnd(r);
		break;
	}
}

/*
 * Check the results of jobs on scratch memory or in the userptr window:
 * success, or a clean failure the chaos explains (see the header). @may_die:
 * the VM may be destroyed meanwhile (victim and churn VMs).
 */
static bool scratch_check(struct tctx *t, const struct drm_vsvm_job *jobs,
			  unsigned int n, bool may_die, const char *where)
{
	bool failed = false;
	unsigned int i;

	for (i = 0; i < n; i++) {
		const struct drm_vsvm_job *j = &jobs[i];
		bool in_dst = op_has_dst(j->op) &&
			      in_span(j->fault_addr, j->dst, j->size);
		bool in_src = op_has_src(j->op) &&
			      in_span(j->fault_addr, j->src, j->size);
		int st = j->status;
		const char *bad = NULL;

		t->c.scratch_jobs++;
		atomic_fetch_add_explicit(&prog_scratch_jobs, 1,
					  memory_order_relaxed);
		if (failed) {
			if (st != -ECANCELED)
				bad = "not -ECANCELED after a failed job";
			else
				t->c.scratch_err[SE_CASCADE]++;
		} else {
			switch (st) {
			case 0:
				t->c.scratch_ok++;
				break;
			case -ECANCELED:
				if (!may_die)
					bad = "-ECANCELED on a VM nobody destroys";
				t->c.scratch_err[SE_ECANCELED]++;
				break;
			case -EACCES:
				if (!in_dst)
					bad = "-EACCES not in the written span (reads never get -EACCES)";
				t->c.scratch_err[SE_EACCES]++;
				break;
			case -EFAULT:
			case -EPERM:
			case -EBUSY:
				if (!in_dst && !in_src)
					bad = "fault address outside the job";
				t->c.scratch_err[st == -EFAULT ? SE_EFAULT :
						 st == -EPERM ? SE_EPERM :
						 SE_EBUSY]++;
				break;
			case STATUS_POISON:
				bad = "status never written back";
				break;
			default:
				bad = "not a failure the chaos explains";
				break;
			}
			failed = st != 0;
		}
		if (bad) {
			fail(t, "%s job %u/%u %s dst %#llx src %#llx size %llu: status %s, fault at %#llx: %s",
			     where, i + 1, n, op_names[j->op % 5],
			     (unsigned long long)j->dst,
			     (unsigned long long)j->src,
			     (unsigned long long)j->size, errname(st),
			     (unsigned long long)j->fault_addr, bad);
			return false;
		}
	}
	return true;
}

/*
 * One submission of 1-4 random jobs on [base, base + size) (scratch slots
 * when @slots), synchronous or asynchronous, checked with scratch_check().
 * With @may_die, -ENOENT from the ioctls is allowed (the VM went away).
 */
static void area_batch(struct tctx *t, struct vsvm_dev *dev, uint32_t vm,
		       uint8_t *base, size_t size, bool slots, bool may_die,
		       const char *where)
{
	struct drm_vsvm_job jobs[4];
	unsigned int n = 1 + rnd_below(&t->rng, 4), i;
	bool async = chance(&t->rng, 25);
	double t0 = now();
	uint64_t seqno;
	int err;

	for (i = 0; i < n; i++)
		gen_area_job(&t->rng, &jobs[i], base, size, slots);
	err = exec_jobs(dev, vm, jobs, n, async, &seqno);
	if (!err && async)
		err = wait_submission(dev, vm, seqno);
	lat_add(t->c.lat_scratch, t0);
	if (err == -ENOENT && may_die) {
		chaos_count(t, CH_VICTIM_ENOENT);
		return;
	}
	if (err) {
		fail(t, "%s: %s of %u jobs failed: %s", where,
		     async ? "asynchronous exec" : "exec", n, errname(err));
		return;
	}
	scratch_check(t, jobs, n, may_die, where);
}

/* ------------------------------------------------------------------ */
/* Workers                                                             */

enum { BUF_MALLOC, BUF_THP, BUF_SHARED, BUF_SHMEM, NR_BUF };
static const char *const buf_names[NR_BUF] = {
	"malloc", "thp", "shared-anon", "shmem",
};

struct wbuf {
	uint8_t *p;		/* the memory the GPU works on */
	uint8_t *model;		/* its expected content */
	size_t size;
	uintptr_t ro_start, ro_end;	/* DRM_VSVM_ATTR_READ_ONLY here (page aligned) */
};

/* A job on a worker's buffers, with what the model needs. */
struct ojob {
	uint32_t op;
	int db, sb;		/* destination, source buffer (-1: none) */
	size_t doff, soff, len;
	uint64_t value;
};

struct worker {
	struct tctx t;
	unsigned int id, dev_index;
	pthread_t thread;
	struct vsvm_dev dev;
	uint32_t vm;
	int shmem_fd;
	struct wbuf buf[NR_BUF];
	char hist[HIST][112];
	unsigned int nhist;
	struct drm_vsvm_stats stats;
	bool have_stats;
};

static struct worker workers[MAX_WORKERS];
static unsigned int nworkers;

/* Private buffers a fork child may write (its copy-on-write copies). */
static struct {
	uint8_t *p;
	size_t size;
} priv_bufs[2 * MAX_WORKERS + 1];
static unsigned int npriv_bufs;

static void __attribute__((format(printf, 2, 3)))
worker_hist(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->hist[w->nhist++ % HIST], sizeof(w->hist[0]), fmt, ap);
	va_end(ap);
}

static void worker_print_hist(struct worker *w)
{
	unsigned int i = w->nhist > HIST ? w->nhist - HIST : 0;

	pthread_mutex_lock(&out_lock);
	printf("# %s: its last operations, oldest first:\n", w->t.name);
	for (; i < w->nhist; i++)
		printf("#   %s\n", w->hist[i % HIST]);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* Compare a part of a buffer with its model; report the first wrong byte. */
static bool verify(struct worker *w, int b, size_t off, size_t len,
		   const char *why)
{
	struct wbuf *wb = &w->buf[b];
	size_t i, k, nbad = 0;

	if (!memcmp(wb->p + off, wb->model + off, len)) {
		w->t.c.bytes_cpu += len;
		return true;
	}
	for (i = off; i < off + len && wb->p[i] == wb->model[i]; i++)
		;
	for (k = i; k < off + len; k++)
		nbad += wb->p[k] != wb->model[k];
	fail(&w->t, "%s: %s buffer %p byte %zu (of %zu) is %#x, the model says %#x; %zu wrong bytes in [%zu, %zu)",
	     why, buf_names[b], (void *)wb->p, i, wb->size, wb->p[i],
	     wb->model[i], nbad, off, off + len);
	worker_print_hist(w);
	return false;
}

static void gen_own_job(struct worker *w, struct ojob *o,
			struct drm_vsvm_job *j)
{
	struct rng *r = &w->t.rng;
	size_t half;

	memset(o, 0, sizeof(*o));
	o->op = 1 + rnd_below(r, 4);
	o->db = o->sb = -1;
	switch (o->op) {
	case DRM_VSVM_OP_COPY:
		o->sb = rnd_below(r, NR_BUF);
		o->db = rnd_below(r, NR_BUF);
		if (o->sb == o->db) {
			/* One half to the other: disjoint. */
			half = w->buf[o->db].size / 2;
			o->len = rnd_len(r, half);
			o->soff = rnd_below(r, half - o->len + 1);
			o->doff = half + rnd_below(r, half - o->len + 1);
			if (chance(r, 50)) {
				size_t x = o->soff;

				o->soff = o->doff;
				o->doff = x;
			}
		} else {
			o->len = rnd_len(r, MIN(w->buf[o->sb].size,
						w->buf[o->db].size));
			o->soff = rnd_below(r, w->buf[o->sb].size - o->len + 1);
			o->doff = rnd_below(r, w->buf[o->db].size - o->len + 1);
		}
		break;
	case DRM_VSVM_OP_FILL:
		o->db = rnd_below(r, NR_BUF);
		o->len = rnd_len(r, w->buf[o->db].size);
		o->doff = rnd_below(r, w->buf[o->db].size - o->len + 1);
		o->value = rnd(r) & 0xff;
		break;
	case DRM_VSVM_OP_CHECKSUM:
		o->sb = rnd_below(r, NR_BUF);
		o->len = rnd_len(r, w->buf[o->sb].size);
		o->soff = rnd_below(r, w->buf[o->sb].size - o->len + 1);
		break;
	case DRM_VSVM_OP_ATOMIC_ADD:
		/* Buffer sizes and addresses are multiples of 8. */
		o->db = rnd_below(r, NR_BUF);
		o->len = ALIGN_UP(rnd_len(r, w->buf[o->db].size), 8);
		if (o->len > w->buf[o->db].size)
			o->len = w->buf[o->db].size;
		o->doff = 8 * rnd_below(r, (w->buf[o->db].size - o->len) / 8 + 1);
		o->value = chance(r, 50) ? 1 + rnd_below(r, 255) : rnd(r);
		break;
	}
	memset(j, 0, sizeof(*j));
	j->op = o->op;
	j->size = o->len;
	j->value = o->value;
	if (o->db >= 0)
		j->dst = (uintptr_t)w->buf[o->db].p + o->doff;
	if (o->sb >= 0)
		j->src = (uintptr_t)w->buf[o->sb].p + o->soff;
}

static void ojob_hist(struct worker *w, const struct ojob *o,
		      const struct drm_vsvm_job *j, const char *how)
{
	worker_hist(w, "%s %s dst %s+%zu src %s+%zu len %zu value %#llx: %s",
		    how, op_names[o->op], o->db >= 0 ? buf_names[o->db] : "-",
		    o->doff, o->sb >= 0 ? buf_names[o->sb] : "-", o->soff,
		    o->len, (unsigned long long)o->value, errname(j->status));
}

/* Apply the first @done bytes of a job to the model. */
static void model_apply(struct worker *w, const struct ojob *o, size_t done)
{
	uint8_t *d = o->db >= 0 ? w->buf[o->db].model + o->doff : NULL;
	uint8_t *s = o->sb >= 0 ? w->buf[o->sb].model + o->soff : NULL;
	size_t i;

	switch (o->op) {
	case DRM_VSVM_OP_COPY:
		memcpy(d, s, done);
		break;
	case DRM_VSVM_OP_FILL:
		memset(d, o->value, done);
		break;
	case DRM_VSVM_OP_ATOMIC_ADD:
		for (i = 0; i + 8 <= done; i += 8) {
			uint64_t v;

			memcpy(&v, d + i, 8);
			v += o->value;
			memcpy(d + i, &v, 8);
		}
		break;
	}
}

/*
 * Check the statuses of one submission on the worker's own buffers and
 * apply it to the model, job by job in order (so a CHECKSUM is compared
 * with the model as it was at that point). Every job must succeed, except
 * -EBUSY (see the header): then exactly the part before @fault_addr was
 * done and every later job must be -ECANCELED.
 */
static bool own_apply(struct worker *w, struct ojob *o,
		      struct drm_vsvm_job *j, unsigned int n, const char *how)
{
	bool failed = false;
	uintptr_t ro_first;
	unsigned int i;

	w->t.c.own_submits++;
	for (i = 0; i < n; i++) {
		size_t done = o[i].len;
		int st = j[i].status;

		ojob_hist(w, &o[i], &j[i], how);
		if (failed) {
			if (st != -ECANCELED) {
				fail(&w->t, "own job %u/%u %s after a failed job: status %s, not -ECANCELED",
				     i + 1, n, op_names[o[i].op], errname(st));
				worker_print_hist(w);
				return false;
			}
			w->t.c.own_cancelled++;
			continue;
		}
		/* The first byte it writes in the buffer's read-only interval. */
		ro_first = 0;
		if (o[i].db >= 0) {
			const struct wbuf *wb = &w->buf[o[i].db];

			if (wb->ro_end > j[i].dst && wb->ro_start < j[i].dst + j[i].size)
				ro_first = MAX(j[i].dst, wb->ro_start);
		}
		if (st == -EACCES && ro_first && j[i].fault_addr == ro_first) {
			/* Exactly where the job meets the read-only interval. */
			done = ro_first - j[i].dst;
			w->t.c.own_eacces++;
			failed = true;
		} else if (st == 0 && ro_first) {
			fail(&w->t, "own job %u/%u %s wrote %s+%zu len %zu, over its read-only interval from %#lx: it succeeded",
			     i + 1, n, op_names[o[i].op], buf_names[o[i].db],
			     o[i].doff, o[i].len, (unsigned long)ro_first);
			worker_print_hist(w);
			return false;
		} else if (st == -EBUSY) {
			uint64_t fa = j[i].fault_addr;
			bool ok = false;

			if (op_has_dst(j[i].op) && in_span(fa, j[i].dst, j[i].size)) {
				done = fa - j[i].dst;
				ok = !done || !(fa % SZ_4K) ||
				     (op_has_src(j[i].op) &&
				      !((j[i].src + done) % SZ_4K));
			} else if (op_has_src(j[i].op) &&
				   in_span(fa, j[i].src, j[i].size)) {
				done = fa - j[i].src;
				ok = !done || !(fa % SZ_4K) ||
				     (op_has_dst(j[i].op) &&
				      !((j[i].dst + done) % SZ_4K));
			}
			/* A write to the read-only interval fails at once. */
			if (ro_first && done >= ro_first - j[i].dst)
				ok = false;
			if (!ok) {
				fail(&w->t, "own job %u/%u %s dst %#llx src %#llx size %llu: -EBUSY at %#llx, not at a page step of the job before its read-only part",
				     i + 1, n, op_names[o[i].op],
				     (unsigned long long)j[i].dst,
				     (unsigned long long)j[i].src,
				     (unsigned long long)j[i].size,
				     (unsigned long long)fa);
				worker_print_hist(w);
				return false;
			}
			w->t.c.own_busy++;
			failed = true;
			pthread_mutex_lock(&out_lock);
			printf("# note: %s own job %s %s %s+%zu len %zu: -EBUSY at byte %zu, address %#llx (clean, see the header)\n",
			       w->t.name, how, op_names[o[i].op],
			       buf_names[o[i].db >= 0 ? o[i].db : o[i].sb],
			       o[i].db >= 0 ? o[i].doff : o[i].soff, o[i].len,
			       done, (unsigned long long)fa);
			pthread_mutex_unlock(&out_lock);
		} else if (st) {
			fail(&w->t, "own job %u/%u %s dst %#llx (%s+%zu) src %#llx (%s+%zu) len %zu failed: status %s, fault at %#llx; read-only interval of the destination buffer: [%#lx, %#lx)",
			     i + 1, n, op_names[o[i].op],
			     (unsigned long long)j[i].dst,
			     o[i].db >= 0 ? buf_names[o[i].db] : "-", o[i].doff,
			     (unsigned long long)j[i].src,
			     o[i].sb >= 0 ? buf_names[o[i].sb] : "-", o[i].soff,
			     o[i].len, st == STATUS_POISON ? "never written back" :
			     errname(st), (unsigned long long)j[i].fault_addr,
			     o[i].db >= 0 ? (unsigned long)w->buf[o[i].db].ro_start : 0,
			     o[i].db >= 0 ? (unsigned long)w->buf[o[i].db].ro_end : 0);
			worker_print_hist(w);
			return false;
		}
		if (o[i].op == DRM_VSVM_OP_CHECKSUM && !st) {
			uint64_t want = vsvm_fnv1a(w->buf[o[i].sb].model + o[i].soff,
						   o[i].len);

			if (j[i].result != want) {
				fail(&w->t, "own job %u/%u CHECKSUM of %s+%zu len %zu: %#llx, FNV-1a of the model is %#llx",
				     i + 1, n, buf_names[o[i].sb], o[i].soff,
				     o[i].len, (unsigned long long)j[i].result,
				     (unsigned long long)want);
				worker_print_hist(w);
				return false;
			}
			w->t.c.bytes_gpu += o[i].len;
		}
		model_apply(w, &o[i], done);
		w->t.c.own_jobs[o[i].op]++;
		atomic_fetch_add_explicit(&prog_own_jobs, 1,
					  memory_order_relaxed);
	}
	return true;
}

/* Compare what a job touched with the model. */
static bool verify_ojob(struct worker *w, const struct ojob *o)
{
	if (o->db >= 0 && !verify(w, o->db, o->doff, o->len, "after a job"))
		return false;
	if (o->sb >= 0 && !verify(w, o->sb, o->soff, o->len, "after a job"))
		return false;
	return true;
}

/*
 * GPU jobs on the worker's buffers: one synchronous submission, or up to
 * two asynchronous ones waited in random order (they run in submission
 * order, and are applied to the model so). Usually followed by a CPU check
 * of every byte they touched; otherwise the data may stay in VRAM until a
 * later check.
 */
static void worker_gpu(struct worker *w)
{
	struct {
		struct ojob o[BATCH_MAX];
		struct drm_vsvm_job j[BATCH_MAX];
		unsigned int n;
		uint64_t seqno;
	} sub[2];
	struct rng *r = &w->t.rng;
	bool async = chance(r, 30);
	unsigned int nsub = async ? 1 + rnd_below(r, 2) : 1, s, i;
	double t0 = now();
	int err;

	for (s = 0; s < nsub; s++) {
		sub[s].n = 1 + rnd_below(r, BATCH_MAX);
		for (i = 0; i < sub[s].n; i++)
			gen_own_job(w, &sub[s].o[i], &sub[s].j[i]);
		err = exec_jobs(&w->dev, w->vm, sub[s].j, sub[s].n, async,
				&sub[s].seqno);
		if (err) {
			fail(&w->t, "exec of %u jobs on own buffers (%s): %s",
			     sub[s].n, async ? "async" : "sync", errname(err));
			return;
		}
	}
	if (async) {
		bool reverse = nsub == 2 && chance(r, 50);

		w->t.c.own_async += nsub;
		for (s = 0; s < nsub; s++) {
			unsigned int k = reverse ? nsub - 1 - s : s;

			err = wait_submission(&w->dev, w->vm, sub[k].seqno);
			if (err) {
				fail(&w->t, "wait for own submission %llu: %s",
				     (unsigned long long)sub[k].seqno,
				     errname(err));
				return;
			}
		}
	}
	lat_add(w->t.c.lat_own, t0);
	for (s = 0; s < nsub; s++)
		if (!own_apply(w, sub[s].o, sub[s].j, sub[s].n,
			       async ? "async" : "sync"))
			return;
	if (chance(r, 50))
		return;
	for (s = 0; s < nsub; s++)
		for (i = 0; i < sub[s].n; i++)
			if (!verify_ojob(w, &sub[s].o[i]))
				return;
}

/* The CPU writes random bytes into a buffer: the GPU must see them. */
static void worker_cpu_write(struct worker *w)
{
	struct rng *r = &w->t.rng;
	int b = rnd_below(r, NR_BUF);
	size_t len = rnd_len(r, w->buf[b].size);
	size_t off = rnd_below(r, w->buf[b].size - len + 1);

	fill_random(r, w->buf[b].model + off, len);
	memcpy(w->buf[b].p + off, w->buf[b].model + off, len);
	worker_hist(w, "cpu write %s+%zu len %zu", buf_names[b], off, len);
	w->t.c.cpu_writes++;
}

/* The page-aligned interior of a buffer (malloc's need not be aligned). */
static bool buf_pages(struct worker *w, int b, uintptr_t *a, uintptr_t *e)
{
	uintptr_t p = (uintptr_t)w->buf[b].p;

	*a = ALIGN_UP(p, SZ_4K);
	*e = ALIGN_DOWN(p + w->buf[b].size, SZ_4K);
	return *e > *a;
}

/*
 * Attributes on the worker's own memory (nobody else's there, in N:1 too):
 * a READ_ONLY interval per buffer, set and cleared (own_apply() then
 * expects a write job to fail with -EACCES exactly where it meets it), and
 * PREFERRED_LOC device or system on any part (data must survive).
 */
static void worker_attr(struct worker *w)
{
	struct rng *r = &w->t.rng;
	int b = rnd_below(r, NR_BUF), err;
	struct wbuf *wb = &w->buf[b];
	uintptr_t a, e, first, count;
	uint32_t attr = DRM_VSVM_ATTR_PREFERRED_LOC;
	uint64_t value;

	if (!buf_pages(w, b, &a, &e))
		return;
	first = rnd_below(r, (e - a) / SZ_4K);
	count = 1 + rnd_below(r, MIN((e - a) / SZ_4K - first, 128));
	a += first * SZ_4K;
	if (wb->ro_end && chance(r, 50)) {
		attr = DRM_VSVM_ATTR_READ_ONLY;
		value = 0;
		a = wb->ro_start;
		count = (wb->ro_end - wb->ro_start) / SZ_4K;
	} else if (!wb->ro_end && chance(r, 40)) {
		attr = DRM_VSVM_ATTR_READ_ONLY;
		value = 1;
	} else {
		value = have_vram && chance(r, 60) ? DRM_VSVM_LOC_DEVICE :
						     DRM_VSVM_LOC_SYSTEM;
	}
	err = vsvm_set_attr(&w->dev, w->vm, (void *)a, count * SZ_4K, attr,
			    value);
	worker_hist(w, "set_attr %s=%llu %s+%zu len %zu: %s",
		    attr == DRM_VSVM_ATTR_READ_ONLY ? "read-only" : "preferred-loc",
		    (unsigned long long)value, buf_names[b],
		    (size_t)(a - (uintptr_t)wb->p), (size_t)(count * SZ_4K),
		    errname(err));
	if (err) {
		fail(&w->t, "set_attr on own %s: %s", buf_names[b], errname(err));
		return;
	}
	if (attr == DRM_VSVM_ATTR_READ_ONLY) {
		wb->ro_start = value ? a : 0;
		wb->ro_end = value ? a + count * SZ_4K : 0;
		w->t.c.own_attr_ro++;
	} else {
		w->t.c.own_attr_loc++;
	}
}

/* A GPU checksum of a whole part of a buffer, compared with the model. */
static bool worker_gpu_check(struct worker *w, int b, size_t off, size_t len,
			     const char *how)
{
	struct drm_vsvm_job j = {
		.op = DRM_VSVM_OP_CHECKSUM,
		.src = (uintptr_t)w->buf[b].p + off,
		.size = len,
	};
	struct ojob o = {
		.op = DRM_VSVM_OP_CHECKSUM, .db = -1, .sb = b, .soff = off,
		.len = len,
	};
	int err = exec_jobs(&w->dev, w->vm, &j, 1, false, NULL);

	if (err) {
		fail(&w->t, "exec of a checksum of own %s: %s", buf_names[b],
		     errname(err));
		return false;
	}
	return own_apply(w, &o, &j, 1, how);
}

/*
 * Prefetch part of a buffer to VRAM (or to system memory): the data must
 * survive exactly. Sometimes checked at once by the GPU (from VRAM) and
 * the CPU (which brings it back), otherwise by later jobs and checks.
 */
static void worker_prefetch(struct worker *w)
{
	struct rng *r = &w->t.rng;
	int b = chance(r, 50) ? BUF_THP : rnd_below(r, NR_BUF);
	uintptr_t p = (uintptr_t)w->buf[b].p, a, e;
	uint32_t region = have_vram && chance(r, 70) ? DRM_VSVM_LOC_DEVICE :
						       DRM_VSVM_LOC_SYSTEM;
	size_t npages, first, count;
	int err;

	/* Whole buffers often: two THP buffers fill a 4 MiB VRAM. */
	if (!buf_pages(w, b, &a, &e))
		return;
	npages = (e - a) / SZ_4K;
	first = chance(r, 40) ? 0 : rnd_below(r, npages);
	count = first ? 1 + rnd_below(r, MIN(npages - first, 256)) : npages;
	a += first * SZ_4K;
	err = vsvm_prefetch(&w->dev, w->vm, (void *)a, count * SZ_4K, region);
	worker_hist(w, "prefetch %s %s+%zu len %zu: %s",
		    region ? "device" : "system", buf_names[b], a - p,
		    count * SZ_4K, errname(err));
	if (err == -EBUSY) {
		w->t.c.own_prefetch_busy++;
	} else if (err) {
		fail(&w->t, "prefetch of own %s+%zu len %zu to %s: %s",
		     buf_names[b], (size_t)(a - p), count * SZ_4K,
		     region ? "device" : "system", errname(err));
		return;
	}
	w->t.c.own_prefetch[region]++;
	if (chance(r, 50) &&
	    !worker_gpu_check(w, b, a - p, count * SZ_4K, "after prefetch"))
		return;
	if (chance(r, 25))
		verify(w, b, a - p, count * SZ_4K, "after prefetch");
}

static int map_fixed(void *addr, size_t len, int flags, int fd, off_t off)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd,
		       off);

	return p == addr ? 0 : -errno;
}

static int worker_setup(struct worker *w)
{
	uint8_t *area = worker_area + w->id * WORKER_AREA;
	uint8_t *near = near_area + w->id * NEAR_AREA;
	size_t msize = 192 * 1024 + 8 * w->id + 40;
	int b, err;

	err = vsvm_open(w->dev_index, &w->dev);
	if (!err)
		err = vsvm_vm_create(&w->dev, &w->vm);
	if (err)
		return err;

	w->buf[BUF_MALLOC].p = malloc(msize);
	w->buf[BUF_MALLOC].size = msize;
	if (!w->buf[BUF_MALLOC].p || ((uintptr_t)w->buf[BUF_MALLOC].p & 7))
		return -ENOMEM;

	w->buf[BUF_THP].p = area + THP_OFF;
	w->buf[BUF_THP].size = THP_SIZE;
	err = map_fixed(area + THP_OFF, THP_SIZE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (!err && madvise(area + THP_OFF, THP_SIZE, MADV_HUGEPAGE))
		err = -errno;
	if (err)
		return err;

	w->buf[BUF_SHARED].p = near;
	w->buf[BUF_SHARED].size = SHARED_SIZE;
	err = map_fixed(near, SHARED_SIZE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (err)
		return err;

	w->shmem_fd = memfd_create("vsvm-stress-worker", MFD_CLOEXEC);
	if (w->shmem_fd < 0 || ftruncate(w->shmem_fd, SHMEM_SIZE))
		return -errno;
	w->buf[BUF_SHMEM].p = area + SHMEM_OFF;
	w->buf[BUF_SHMEM].size = SHMEM_SIZE;
	err = map_fixed(area + SHMEM_OFF, SHMEM_SIZE, MAP_SHARED, w->shmem_fd, 0);
	if (err)
		return err;

	for (b = 0; b < NR_BUF; b++) {
		w->buf[b].model = malloc(w->buf[b].size);
		if (!w->buf[b].model)
			return -ENOMEM;
		fill_random(&w->t.rng, w->buf[b].model, w->buf[b].size);
		memcpy(w->buf[b].p, w->buf[b].model, w->buf[b].size);
	}
	priv_bufs[2 * w->id].p = w->buf[BUF_MALLOC].p;
	priv_bufs[2 * w->id].size = w->buf[BUF_MALLOC].size;
	priv_bufs[2 * w->id + 1].p = w->buf[BUF_THP].p;
	priv_bufs[2 * w->id + 1].size = w->buf[BUF_THP].size;
	return 0;
}

/*
 * The end: with the chaos stopping, every buffer is compared with its model
 * by the CPU and by a GPU checksum (-EBUSY retried: the chaos threads may
 * still be tearing down).
 */
static void worker_finish(struct worker *w)
{
	int b, tries;

	for (b = 0; b < NR_BUF && !atomic_load(&failed_flag); b++) {
		if (!verify(w, b, 0, w->buf[b].size, "final check"))
			break;
		for (tries = 0; tries < 5; tries++) {
			struct drm_vsvm_job j = {
				.op = DRM_VSVM_OP_CHECKSUM,
				.src = (uintptr_t)w->buf[b].p,
				.size = w->buf[b].size,
			};
			uint64_t want = vsvm_fnv1a(w->buf[b].model, w->buf[b].size);
			int err = exec_jobs(&w->dev, w->vm, &j, 1, false, NULL);

			if (!err && j.status == -EBUSY)
				continue;
			if (err || j.status || j.result != want)
				fail(&w->t, "final GPU checksum of %s: exec %s, status %s, %#llx, FNV-1a of the model %#llx",
				     buf_names[b], errname(err),
				     errname(j.status),
				     (unsigned long long)j.result,
				     (unsigned long long)want);
			else
				w->t.c.bytes_gpu += w->buf[b].size;
			break;
		}
	}
	w->have_stats = !vsvm_stats(&w->dev, w->vm, &w->stats);
	if (vsvm_vm_destroy(&w->dev, w->vm))
		fail(&w->t, "VM_DESTROY of the worker's VM failed");
	vsvm_close(&w->dev);
	/* The buffers stay: a fork child may still write its copies. */
}

/* A check of a random part, or all, of a buffer. */
static void worker_verify_some(struct worker *w)
{
	struct rng *r = &w->t.rng;
	int b = rnd_below(r, NR_BUF);
	size_t len = chance(r, 30) ? w->buf[b].size : rnd_len(r, w->buf[b].size);

	verify(w, b, rnd_below(r, w->buf[b].size - len + 1), len,
	       "periodic check");
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	int err = worker_setup(w);

	if (err)
		fail(&w->t, "setup on device %u: %s", w->dev_index,
		     errname(err));
	pthread_barrier_wait(&start_barrier);
	if (err)
		return NULL;
	while (running()) {
		unsigned int r = rnd_below(&w->t.rng, 100);

		if (r < 50)
			worker_gpu(w);
		else if (r < 58)
			worker_cpu_write(w);
		else if (r < 65)
			worker_verify_some(w);
		else if (r < 75)
			worker_prefetch(w);
		else if (r < 82)
			worker_attr(w);
		else
			area_batch(&w->t, &w->dev, w->vm, scratch,
				   SCRATCH_SIZE, true, false,
				   "worker scratch");
	}
	worker_finish(w);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* VMA chaos: the scratch slots' mappings                              */

enum { SLOT_PRIVATE, SLOT_THP, SLOT_SHARED, SLOT_SHMEM, NR_SLOT_KINDS };

struct slot {
	uint8_t *home;
	size_t len;		/* mapped at home from its start (0: moved) */
	bool moved;		/* the mapping sits in the spare half */
	bool uniform;		/* one mapping of one kind: mremap may grow it */
	size_t prot_off, prot_len;	/* a part made PROT_READ/PROT_NONE */
};

struct vma_chaos {
	struct tctx t;
	struct slot slot[NSLOTS];
};

static struct vma_chaos vma_chaos;

/* Map [off, off + len) of slot @i as @kind. */
static int map_slot(unsigned int i, size_t off, size_t len, int kind)
{
	uint8_t *addr = scratch + i * SLOT_STRIDE + off;
	int err;

	switch (kind) {
	case SLOT_PRIVATE:
	case SLOT_THP:
		err = map_fixed(addr, len, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!err && madvise(addr, len, kind == SLOT_THP ?
				    MADV_HUGEPAGE : MADV_NOHUGEPAGE))
			err = -errno;
		return err;
	case SLOT_SHARED:
		return map_fixed(addr, len, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	default:
		return map_fixed(addr, len, MAP_SHARED, scratch_fd,
				 i * SLOT_SIZE + off);
	}
}

static bool xsys(struct tctx *t, int ret, const char *what, unsigned int i)
{
	if (!ret)
		return true;
	fail(t, "%s on scratch slot %u: %s", what, i, errname(-errno));
	return false;
}

/* A random page-aligned part of [0, len): offset and length. */
static void rnd_part(struct rng *r, size_t len, size_t *off, size_t *plen)
{
	size_t pages = len / SZ_4K, first = rnd_below(r, pages);

	*off = first * SZ_4K;
	*plen = (1 + rnd_below(r, MIN(pages - first, 256))) * SZ_4K;
}

static bool restore_prot(struct vma_chaos *v, struct slot *s, unsigned int i)
{
	if (!s->prot_len)
		return true;
	if (!xsys(&v->t, mprotect(s->home + s->prot_off, s->prot_len,
				  PROT_READ | PROT_WRITE), "mprotect(RW)", i))
		return false;
	s->prot_len = 0;
	return true;
}

static void vma_op(struct vma_chaos *v)
{
	struct rng *r = &v->t.rng;
	unsigned int i = rnd_below(r, NSLOTS), pick = rnd_below(r, 100);
	struct slot *s = &v->slot[i];
	uint8_t *spare = s->home + SLOT_SIZE;
	size_t off, len;
	int err;

	if (pick < 15) {
		/* munmap and mmap again at the same address, any kind */
		if (s->moved && !xsys(&v->t, munmap(spare, SLOT_SIZE), "munmap", i))
			return;
		if (!xsys(&v->t, munmap(s->home, SLOT_SIZE), "munmap", i))
			return;
		maybe_pause(r);
		err = map_slot(i, 0, SLOT_SIZE, rnd_below(r, NR_SLOT_KINDS));
		if (err) {
			fail(&v->t, "mmap of scratch slot %u: %s", i, errname(err));
			return;
		}
		*s = (struct slot){ .home = s->home, .len = SLOT_SIZE,
				    .uniform = true };
		chaos_count(&v->t, CH_REMAP);
	} else if (pick < 25) {
		/* munmap part of it and mmap that part again */
		if (s->moved || s->len < SLOT_SIZE)
			return;
		rnd_part(r, SLOT_SIZE, &off, &len);
		if (!xsys(&v->t, munmap(s->home + off, len), "partial munmap", i))
			return;
		maybe_pause(r);
		err = map_slot(i, off, len, rnd_below(r, NR_SLOT_KINDS));
		if (err) {
			fail(&v->t, "partial mmap of scratch slot %u: %s", i,
			     errname(err));
			return;
		}
		s->uniform = false;
		chaos_count(&v->t, CH_PARTIAL_REMAP);
	} else if (pick < 40) {
		/* mremap: to the spare half and back, shrink and grow */
		void *p;

		if (s->moved) {
			p = mremap(spare, SLOT_SIZE, SLOT_SIZE,
				   MREMAP_MAYMOVE | MREMAP_FIXED, s->home);
			if (p == MAP_FAILED)
				goto mremap_failed;
			s->moved = false;
			s->len = SLOT_SIZE;
			chaos_count(&v->t, CH_MREMAP_MOVE);
		} else if (s->len < SLOT_SIZE) {
			if (!restore_prot(v, s, i))
				return;
			p = mremap(s->home, s->len, SLOT_SIZE, 0);
			if (p == MAP_FAILED)
				goto mremap_failed;
			s->len = SLOT_SIZE;
			chaos_count(&v->t, CH_MREMAP_RESIZE);
		} else if (s->uniform) {
			if (!restore_prot(v, s, i))
				return;
			if (chance(r, 50)) {
				p = mremap(s->home, SLOT_SIZE, SLOT_SIZE,
					   MREMAP_MAYMOVE | MREMAP_FIXED, spare);
				if (p == MAP_FAILED)
					goto mremap_failed;
				s->moved = true;
				s->len = 0;
				chaos_count(&v->t, CH_MREMAP_MOVE);
			} else {
				len = (1 + rnd_below(r, SLOT_SIZE / SZ_4K - 1)) * SZ_4K;
				p = mremap(s->home, SLOT_SIZE, len, 0);
				if (p == MAP_FAILED)
					goto mremap_failed;
				s->len = len;
				chaos_count(&v->t, CH_MREMAP_RESIZE);
			}
		}
		return;
mremap_failed:
		/*
		 * Growing or moving needs one VMA: mprotect() back to
		 * read-write merges the parts again, as a rule, but the
		 * kernel need not. Then the slot is remapped later.
		 */
		if (errno == EFAULT) {
			s->uniform = false;
			chaos_count(&v->t, CH_MREMAP_REFUSED);
			return;
		}
		fail(&v->t, "mremap of scratch slot %u: %s", i, errname(-errno));
	} else if (pick < 55) {
		/* madvise(MADV_DONTNEED) on part of what is mapped */
		uint8_t *base = s->moved ? spare : s->home;

		rnd_part(r, s->moved ? SLOT_SIZE : s->len, &off, &len);
		if (!xsys(&v->t, madvise(base + off, len, MADV_DONTNEED),
			  "madvise", i))
			return;
		chaos_count(&v->t, CH_MADVISE);
	} else if (pick < 80) {
		/* mprotect part of it read-only or inaccessible, or back */
		if (s->prot_len) {
			if (restore_prot(v, s, i))
				chaos_count(&v->t, CH_MPROTECT);
			return;
		}
		if (s->moved)
			return;
		rnd_part(r, s->len, &off, &len);
		if (!xsys(&v->t, mprotect(s->home + off, len, chance(r, 70) ?
					  PROT_READ : PROT_NONE), "mprotect", i))
			return;
		s->prot_off = off;
		s->prot_len = len;
		chaos_count(&v->t, CH_MPROTECT);
	} else {
		/* CPU writes (bringing VRAM pages back) */
		uint8_t *base = s->moved ? spare : s->home;

		if (s->prot_len)
			return;
		rnd_part(r, s->moved ? SLOT_SIZE : s->len, &off, &len);
		memset(base + off, rnd(r), len);
		chaos_count(&v->t, CH_CPU_WRITE);
	}
}

static void *vma_chaos_thread(void *arg)
{
	struct vma_chaos *v = arg;

	pthread_barrier_wait(&start_barrier);
	while (running() && !no_vma) {
		vma_op(v);
		usleep(200 + rnd_below(&v->t.rng, 2000));
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Victim VM: used by the scratch GPU threads, destroyed by churn       */

static struct {
	pthread_rwlock_t lock;	/* held to use the file; taken for write to close it */
	bool valid;
	struct vsvm_dev dev;
	uint32_t vm;
} victim;

/* ------------------------------------------------------------------ */
/* Scratch GPU threads: jobs, prefetch and attributes on scratch        */

struct gpu_chaos {
	struct tctx t;
	unsigned int dev_index;
	struct vsvm_dev dev;
	uint32_t vm;
};

static struct gpu_chaos gpu_chaos[MAX_DEVICES];

/* A random page-aligned interval of the scratch area. */
static void scratch_interval(struct rng *r, uint8_t **start, size_t *size)
{
	size_t first = rnd_below(r, SCRATCH_SIZE / SZ_4K), pages;

	if (chance(r, 60))	/* a slot and maybe its spare */
		first = ALIGN_DOWN(first, SLOT_SIZE / SZ_4K);
	pages = 1 + rnd_below(r, MIN(SCRATCH_SIZE / SZ_4K - first,
				     chance(r, 50) ? 2 * SLOT_SIZE / SZ_4K : 64));
	*start = scratch + first * SZ_4K;
	*size = pages * SZ_4K;
}

static void scratch_prefetch(struct tctx *t, struct vsvm_dev *dev, uint32_t vm,
			     bool may_die)
{
	uint32_t region = have_vram && chance(&t->rng, 60) ?
			  DRM_VSVM_LOC_DEVICE : DRM_VSVM_LOC_SYSTEM;
	uint8_t *start;
	size_t size;
	int err;

	scratch_interval(&t->rng, &start, &size);
	err = vsvm_prefetch(dev, vm, start, size, region);
	if (err == -ENOENT && may_die) {
		chaos_count(t, CH_VICTIM_ENOENT);
		return;
	}
	chaos_count(t, region ? CH_PREFETCH_DEVICE : CH_PREFETCH_SYSTEM);
	if (err == -EFAULT || err == -EPERM || err == -EBUSY)
		chaos_count(t, CH_PREFETCH_FAILED);
	else if (err)
		fail(t, "prefetch of scratch +%#zx size %#zx to %s: %s (only -EFAULT, -EPERM, -EBUSY are explained)",
		     (size_t)(start - scratch), size,
		     region ? "device" : "system", errname(err));
}

static void scratch_set_attr(struct tctx *t, struct vsvm_dev *dev, uint32_t vm,
			     bool may_die)
{
	struct rng *r = &t->rng;
	bool ro = chance(r, 50);
	uint64_t value = ro ? chance(r, 35) :
			 have_vram && chance(r, 50) ? DRM_VSVM_LOC_DEVICE :
						      DRM_VSVM_LOC_SYSTEM;
	uint8_t *start;
	size_t size;
	int err;

	scratch_interval(r, &start, &size);
	err = vsvm_set_attr(dev, vm, start, size,
			    ro ? DRM_VSVM_ATTR_READ_ONLY :
				 DRM_VSVM_ATTR_PREFERRED_LOC, value);
	if (err == -ENOENT && may_die) {
		chaos_count(t, CH_VICTIM_ENOENT);
		return;
	}
	if (err)
		fail(t, "set_attr %s=%llu on scratch +%#zx size %#zx: %s",
		     ro ? "read-only" : "preferred-loc",
		     (unsigned long long)value, (size_t)(start - scratch), size,
		     errname(err));
	chaos_count(t, ro ? CH_ATTR_READ_ONLY : CH_ATTR_PREFERRED_LOC);
}

static void *gpu_chaos_thread(void *arg)
{
	struct gpu_chaos *g = arg;
	int err = vsvm_open(g->dev_index, &g->dev);

	if (!err)
		err = vsvm_vm_create(&g->dev, &g->vm);
	if (err)
		fail(&g->t, "setup on device %u: %s", g->dev_index,
		     errname(err));
	pthread_barrier_wait(&start_barrier);
	if (err)
		return NULL;
	while (running() && !no_gpu) {
		unsigned int pick = rnd_below(&g->t.rng, 100);

		if (pick < 55) {
			area_batch(&g->t, &g->dev, g->vm, scratch, SCRATCH_SIZE,
				   true, false, "scratch");
		} else if (pick < 70) {
			/* The victim VM, which the churn thread destroys. */
			pthread_rwlock_rdlock(&victim.lock);
			if (victim.valid) {
				chaos_count(&g->t, CH_VICTIM_USE);
				switch (rnd_below(&g->t.rng, 3)) {
				case 0:
					area_batch(&g->t, &victim.dev, victim.vm,
						   scratch, SCRATCH_SIZE, true,
						   true, "victim scratch");
					break;
				case 1:
					scratch_prefetch(&g->t, &victim.dev,
							 victim.vm, true);
					break;
				default:
					scratch_set_attr(&g->t, &victim.dev,
							 victim.vm, true);
					break;
				}
			}
			pthread_rwlock_unlock(&victim.lock);
		} else if (pick < 85) {
			scratch_prefetch(&g->t, &g->dev, g->vm, false);
		} else {
			scratch_set_attr(&g->t, &g->dev, g->vm, false);
		}
	}
	if (vsvm_vm_destroy(&g->dev, g->vm))
		fail(&g->t, "VM_DESTROY failed");
	vsvm_close(&g->dev);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Churn: device files, VMs, userptrs                                  */

#define CH_FILES	3
#define CH_VMS		3

struct churn_vm {
	bool live;
	uint32_t id;
	bool pending;		/* an asynchronous submission not waited */
	uint64_t seqno;
	struct drm_vsvm_job jobs[4];
	unsigned int njobs;
	uint32_t uptr;		/* a userptr over scratch memory (0: none) */
};

struct churn_file {
	bool open;
	struct vsvm_dev dev;
	struct churn_vm vm[CH_VMS];
};

struct churn {
	struct tctx t;
	struct churn_file file[CH_FILES];
	uint8_t *ucheck;	/* private buffer for the strict userptr check */
};

static struct churn churn;

static bool is_victim(struct churn_file *f, struct churn_vm *v)
{
	return victim.valid && victim.dev.fd == f->dev.fd && victim.vm == v->id;
}

static void victim_clear(void)
{
	pthread_rwlock_wrlock(&victim.lock);
	victim.valid = false;
	pthread_rwlock_unlock(&victim.lock);
}

/* Destroy a VM; the victim while the scratch GPU threads may use it. */
static void churn_vm_destroy(struct churn *c, struct churn_file *f,
			     struct churn_vm *v)
{
	bool was_victim = is_victim(f, v);
	int err = vsvm_vm_destroy(&f->dev, v->id);

	if (was_victim)
		victim_clear();
	if (err)
		fail(&c->t, "VM_DESTROY of churn VM %u: %s", v->id, errname(err));
	chaos_count(&c->t, v->pending ? CH_VM_DESTROY_BUSY : CH_VM_DESTROY);
	memset(v, 0, sizeof(*v));
}

static void churn_close(struct churn *c, struct churn_file *f)
{
	bool busy = false;
	int k;

	/* Nobody may be using the file number when it is closed. */
	pthread_rwlock_wrlock(&victim.lock);
	if (victim.valid && victim.dev.fd == f->dev.fd)
		victim.valid = false;
	pthread_rwlock_unlock(&victim.lock);
	for (k = 0; k < CH_VMS; k++)
		busy |= f->vm[k].pending;
	vsvm_close(&f->dev);
	memset(f, 0, sizeof(*f));
	chaos_count(&c->t, busy ? CH_FILE_CLOSE_BUSY : CH_FILE_CLOSE);
}

/*
 * A userptr over a scratch span, bound in the userptr window; jobs there
 * get the same clean failures as on scratch memory (-EPERM where nothing
 * is bound: the window is PROT_NONE).
 */
static void churn_userptr(struct churn *c, struct churn_file *f,
			  struct churn_vm *v)
{
	struct rng *r = &c->t.rng;
	uint8_t *addr;
	size_t size;
	int err;

	if (v->uptr && chance(r, 40)) {
		err = vsvm_userptr_destroy(&f->dev, v->id, v->uptr);
		if (err)
			fail(&c->t, "USERPTR_DESTROY: %s", errname(err));
		v->uptr = 0;
		chaos_count(&c->t, CH_USERPTR_DESTROY);
		return;
	}
	if (!v->uptr) {
		scratch_interval(r, &addr, &size);
		err = vsvm_userptr_create(&f->dev, v->id, addr, size,
					  chance(r, 30) ? DRM_VSVM_USERPTR_READ_ONLY : 0,
					  &v->uptr);
		if (err) {
			fail(&c->t, "USERPTR_CREATE over scratch +%#zx size %#zx: %s",
			     (size_t)(addr - scratch), size, errname(err));
			return;
		}
		chaos_count(&c->t, CH_USERPTR_CREATE);
	}
	/* Bind (again: a new bind replaces the old) somewhere in the window. */
	addr = uwin + ALIGN_DOWN(rnd_below(r, UWIN_CHECK - 2 * SLOT_SIZE), SZ_4K);
	err = vsvm_userptr_bind(&f->dev, v->id, v->uptr, (uintptr_t)addr);
	if (err) {
		fail(&c->t, "USERPTR_BIND at window +%#zx: %s",
		     (size_t)(addr - uwin), errname(err));
		return;
	}
	chaos_count(&c->t, CH_USERPTR_BIND);
	area_batch(&c->t, &f->dev, v->id, uwin, UWIN_CHECK, false, false,
		   "userptr window");
}

/*
 * The strict userptr check: a userptr over the churn thread's own private
 * buffer (no chaos there), bound in the second half of the window. A GPU
 * fill must land in the buffer, or fail with -EACCES at its first byte for
 * a read-only userptr and leave it alone; a GPU checksum must match the
 * CPU's FNV-1a. -EBUSY is retried (the window shares a notifier window
 * with the scratch memory, see the header).
 */
static void churn_userptr_check(struct churn *c, struct churn_file *f,
				struct churn_vm *v)
{
	struct rng *r = &c->t.rng;
	bool ro = chance(r, 30);
	uint8_t *gva = uwin + UWIN_CHECK, value = rnd(r);
	uint32_t handle;
	uint64_t sum = 0;
	int err, tries;
	size_t i;

	fill_random(r, c->ucheck, UCHECK_SIZE);
	err = vsvm_userptr_create(&f->dev, v->id, c->ucheck, UCHECK_SIZE,
				  ro ? DRM_VSVM_USERPTR_READ_ONLY : 0, &handle);
	if (!err)
		err = vsvm_userptr_bind(&f->dev, v->id, handle, (uintptr_t)gva);
	if (err) {
		fail(&c->t, "strict userptr check: create/bind: %s", errname(err));
		return;
	}
	for (tries = 0; tries < 5; tries++) {
		err = vsvm_checksum(&f->dev, v->id, gva, UCHECK_SIZE, &sum);
		if (err != -EBUSY)
			break;
	}
	if (err || sum != vsvm_fnv1a(c->ucheck, UCHECK_SIZE)) {
		fail(&c->t, "strict userptr check: checksum through the userptr: %s, %#llx, CPU FNV-1a %#llx",
		     errname(err), (unsigned long long)sum,
		     (unsigned long long)vsvm_fnv1a(c->ucheck, UCHECK_SIZE));
		return;
	}
	for (tries = 0; tries < 5; tries++) {
		err = vsvm_fill(&f->dev, v->id, gva, value, UCHECK_SIZE);
		if (err != -EBUSY)
			break;
	}
	if (ro) {
		if (err != -EACCES || vsvm_last_fault_addr() != (uintptr_t)gva) {
			fail(&c->t, "strict userptr check: fill of a read-only userptr: %s at %#llx, not -EACCES at %p",
			     errname(err),
			     (unsigned long long)vsvm_last_fault_addr(),
			     (void *)gva);
			return;
		}
	} else {
		for (i = 0; !err && i < UCHECK_SIZE; i++)
			if (c->ucheck[i] != value)
				break;
		if (err || i < UCHECK_SIZE) {
			fail(&c->t, "strict userptr check: fill through the userptr: %s, byte %zu is %#x not %#x",
			     errname(err), i, i < UCHECK_SIZE ? c->ucheck[i] : 0,
			     value);
			return;
		}
	}
	c->t.c.bytes_gpu += UCHECK_SIZE;
	c->t.c.bytes_cpu += ro ? 0 : UCHECK_SIZE;
	err = vsvm_userptr_destroy(&f->dev, v->id, handle);
	if (err)
		fail(&c->t, "strict userptr check: destroy: %s", errname(err));
	chaos_count(&c->t, CH_USERPTR_CHECK);
}

static void churn_op(struct churn *c)
{
	struct rng *r = &c->t.rng;
	struct churn_file *f = &c->file[rnd_below(r, CH_FILES)];
	struct churn_vm *v = &f->vm[rnd_below(r, CH_VMS)];
	unsigned int pick = rnd_below(r, 100);
	int err;

	if (!f->open) {
		err = vsvm_open(rnd_below(r, ndev), &f->dev);
		if (err) {
			fail(&c->t, "open of a device file: %s", errname(err));
			return;
		}
		f->open = true;
		chaos_count(&c->t, CH_FILE_OPEN);
		return;
	}
	if (pick < 4) {
		churn_close(c, f);
		return;
	}
	if (!v->live) {
		err = vsvm_vm_create(&f->dev, &v->id);
		if (err) {
			fail(&c->t, "VM_CREATE: %s", errname(err));
			return;
		}
		v->live = true;
		chaos_count(&c->t, CH_VM_CREATE);
		return;
	}
	if (pick < 14) {
		churn_vm_destroy(c, f, v);
	} else if (pick < 34) {
		/* Asynchronous scratch jobs, waited now or left in flight. */
		if (v->pending) {
			err = vsvm_wait(&f->dev, v->id, v->seqno, WAIT_NS);
			if (err == -ETIME)
				return;
			if (err) {
				fail(&c->t, "WAIT on churn VM %u: %s", v->id,
				     errname(err));
				return;
			}
			v->pending = false;
			scratch_check(&c->t, v->jobs, v->njobs, false,
				      "churn async");
			return;
		}
		v->njobs = 1 + rnd_below(r, 4);
		for (unsigned int i = 0; i < v->njobs; i++)
			gen_area_job(r, &v->jobs[i], scratch, SCRATCH_SIZE, true);
		err = exec_jobs(&f->dev, v->id, v->jobs, v->njobs, true,
				&v->seqno);
		if (err)
			fail(&c->t, "async exec on churn VM %u: %s", v->id,
			     errname(err));
		v->pending = !err;
	} else if (pick < 42) {
		area_batch(&c->t, &f->dev, v->id, scratch, SCRATCH_SIZE, true,
			   false, "churn scratch");
	} else if (pick < 70) {
		churn_userptr(c, f, v);
	} else if (pick < 82) {
		churn_userptr_check(c, f, v);
	} else if (pick < 90) {
		/* Publish it as the victim the scratch GPU threads use. */
		pthread_rwlock_wrlock(&victim.lock);
		victim.valid = true;
		victim.dev = f->dev;
		victim.vm = v->id;
		pthread_rwlock_unlock(&victim.lock);
		chaos_count(&c->t, CH_VICTIM_PUBLISH);
	} else {
		usleep(rnd_below(r, 3000));
	}
}

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	int k;

	pthread_barrier_wait(&start_barrier);
	while (running() && !no_churn) {
		churn_op(c);
		usleep(rnd_below(&c->t.rng, 1000));
	}
	for (k = 0; k < CH_FILES; k++)
		if (c->file[k].open)
			churn_close(c, &c->file[k]);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Fork                                                                */

struct forker {
	struct tctx t;
	struct vsvm_dev dev[MAX_DEVICES];
	uint32_t vm[MAX_DEVICES];
	unsigned int nopen;	/* devices opened, dev[0..nopen) */
};

static struct forker forker;
static sigjmp_buf child_jmp;

static void child_fault(int sig)
{
	siglongjmp(child_jmp, 1);
}

/*
 * The child (one thread, a copy of the address space): only system calls,
 * no malloc or stdio. Exit codes say what went wrong.
 */
static void __attribute__((noreturn))
fork_child(struct forker *fk, unsigned int d, struct rng *r)
{
	struct drm_vsvm_job j = {
		.op = DRM_VSVM_OP_FILL, .dst = (uintptr_t)scratch, .size = SZ_4K,
	};
	struct sigaction sa = { .sa_handler = child_fault };
	uint32_t vm;
	size_t off, len, i;
	uint8_t *p, value = rnd(r);
	int k, err, tries;

	/* 1. The parent's VM mirrors the parent: refused. */
	if (exec_jobs(&fk->dev[d], fk->vm[d], &j, 1, false, NULL) != -EACCES)
		_exit(10);

	/* 2. CPU writes: the copies of private buffers, scratch memory. */
	for (k = 0; k < 3; k++) {
		unsigned int b = rnd_below(r, npriv_bufs);

		len = rnd_len(r, priv_bufs[b].size);
		memset(priv_bufs[b].p + rnd_below(r, priv_bufs[b].size - len + 1),
		       0xc5, len);
	}
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (k = 0; k < 3; k++) {
		len = rnd_len(r, SZ_64K);
		off = scratch_off(r, len);
		if (!sigsetjmp(child_jmp, 1))
			memset(scratch + off, 0x5c, len);
	}

	/* 3. Its own VM; the GPU writes its copy of a private buffer. */
	if (vsvm_vm_create(&fk->dev[d], &vm))
		_exit(11);
	k = rnd_below(r, npriv_bufs);
	len = rnd_len(r, MIN(priv_bufs[k].size, SZ_256K));
	p = priv_bufs[k].p + rnd_below(r, priv_bufs[k].size - len + 1);
	for (tries = 0; tries < 5; tries++) {
		err = vsvm_fill(&fk->dev[d], vm, p, value, len);
		if (err != -EBUSY)
			break;
	}
	if (err)
		_exit(err == -EACCES ? 16 : err == -EFAULT ? 17 :
		      err == -EPERM ? 18 : err == -EBUSY ? 19 : 12);
	for (i = 0; i < len; i++)
		if (p[i] != value)
			_exit(13);

	/* 4. A job on its copy of the scratch memory: clean failures only. */
	gen_area_job(r, &j, scratch, SCRATCH_SIZE, true);
	if (exec_jobs(&fk->dev[d], vm, &j, 1, false, NULL))
		_exit(14);
	switch (j.status) {
	case 0:
		break;
	case -EACCES:
		if (!in_span(j.fault_addr, j.dst, j.size) || !op_has_dst(j.op))
			_exit(14);
		break;
	case -EFAULT:
	case -EPERM:
	case -EBUSY:
		if (!(op_has_dst(j.op) && in_span(j.fault_addr, j.dst, j.size)) &&
		    !(op_has_src(j.op) && in_span(j.fault_addr, j.src, j.size)))
			_exit(14);
		break;
	default:
		_exit(14);
	}
	if (vsvm_vm_destroy(&fk->dev[d], vm))
		_exit(15);
	_exit(0);
}

static const char *const child_exit[] = {
	[10] = "EXEC on the parent's VM was not refused with -EACCES",
	[11] = "VM_CREATE in the child failed",
	[12] = "GPU fill of its copy of a private buffer failed",
	[13] = "its copy of a private buffer does not hold what its GPU wrote",
	[14] = "a job on scratch memory failed with an unexplained error",
	[15] = "VM_DESTROY in the child failed",
	[16] = "GPU fill of its copy of a private buffer failed: -EACCES",
	[17] = "GPU fill of its copy of a private buffer failed: -EFAULT",
	[18] = "GPU fill of its copy of a private buffer failed: -EPERM",
	[19] = "GPU fill of its copy of a private buffer failed: -EBUSY 5 times",
};

static void *fork_thread(void *arg)
{
	struct forker *fk = arg;
	unsigned int d;
	int err = 0;

	for (d = 0; d < ndev && !err; d++) {
		err = vsvm_open(d, &fk->dev[d]);
		if (err)
			break;
		fk->nopen++;
		err = vsvm_vm_create(&fk->dev[d], &fk->vm[d]);
	}
	if (err)
		fail(&fk->t, "setup: %s", errname(err));
	pthread_barrier_wait(&start_barrier);
	while (!err && running() && !no_fork) {
		struct rng child_rng = { rnd(&fk->t.rng) };
		double t0;
		int status;
		pid_t pid;

		usleep(300000 + rnd_below(&fk->t.rng, 1200000));
		if (!running())
			break;
		d = rnd_below(&fk->t.rng, ndev);
		t0 = now();
		pid = fork();
		if (pid < 0) {
			fail(&fk->t, "fork: %s", errname(-errno));
			break;
		}
		if (!pid)
			fork_child(fk, d, &child_rng);
		if (waitpid(pid, &status, 0) != pid) {
			fail(&fk->t, "waitpid: %s", errname(-errno));
			break;
		}
		lat_add(fk->t.c.lat_fork, t0);
		chaos_count(&fk->t, CH_FORK);
		if (WIFSIGNALED(status)) {
			fail(&fk->t, "fork child killed by signal %d",
			     WTERMSIG(status));
		} else if (WEXITSTATUS(status)) {
			int code = WEXITSTATUS(status);

			fail(&fk->t, "fork child (device %u) exit code %d: %s", d,
			     code, code >= 10 && code <= 19 ? child_exit[code] :
			     "?");
		}
	}
	for (d = 0; d < fk->nopen; d++) {
		if (fk->vm[d] && vsvm_vm_destroy(&fk->dev[d], fk->vm[d]))
			fail(&fk->t, "VM_DESTROY failed");
		vsvm_close(&fk->dev[d]);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Setup, run, summary                                                 */

/*
 * Reserve the region at its fixed address (see the header) and lay it
 * out: PROT_NONE everywhere first; the scratch slots mapped, their spare
 * halves unmapped; the userptr window stays PROT_NONE.
 */
static int setup_region(void)
{
	size_t near_size = nworkers * NEAR_AREA;
	unsigned int i;
	int err;

	/* Window 1 must hold the scratch memory and the near buffers. */
	if (SCRATCH_SIZE + UWIN_SIZE + near_size > WINDOW)
		return -E2BIG;
	region_size = WINDOW + MISC_SIZE + nworkers * WORKER_AREA;
	region = mmap((void *)REGION_ADDR, region_size, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		      MAP_FIXED_NOREPLACE, -1, 0);
	if (region == MAP_FAILED)
		return -errno;
	if (region != (uint8_t *)REGION_ADDR)
		return -EEXIST;
	scratch = region;
	uwin = scratch + SCRATCH_SIZE;
	near_area = uwin + UWIN_SIZE;
	misc = region + WINDOW;
	worker_area = misc + MISC_SIZE;

	churn.ucheck = misc;
	err = map_fixed(misc, UCHECK_SIZE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (err)
		return err;
	priv_bufs[2 * nworkers].p = misc;
	priv_bufs[2 * nworkers].size = UCHECK_SIZE;
	npriv_bufs = 2 * nworkers + 1;

	scratch_fd = memfd_create("vsvm-stress-scratch", MFD_CLOEXEC);
	if (scratch_fd < 0 || ftruncate(scratch_fd, NSLOTS * SLOT_SIZE))
		return -errno;
	for (i = 0; i < NSLOTS; i++) {
		struct slot *s = &vma_chaos.slot[i];

		s->home = scratch + i * SLOT_STRIDE;
		s->len = SLOT_SIZE;
		s->uniform = true;
		err = map_slot(i, 0, SLOT_SIZE, i % NR_SLOT_KINDS);
		if (err)
			return err;
		memset(s->home, i, SLOT_SIZE);
		if (munmap(s->home + SLOT_SIZE, SLOT_SIZE))
			return -errno;
	}
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-s SEED] [-d SECONDS] [-w WORKERS_PER_DEVICE] [-n] [-x vma,fork,gpu,churn]\n"
		"defaults: $VSVM_STRESS_SEED or a random seed, $VSVM_STRESS_SECONDS or 30, 2\n",
		argv0);
	exit(2);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return s[0] && !*end && !errno;
}

static void parse_args(int argc, char **argv)
{
	const char *env;
	uint64_t v;
	int opt;

	opt_seed = (uint64_t)time(NULL) * 1000003 ^ getpid();
	opt_seed %= 1000000000;
	env = getenv("VSVM_STRESS_SEED");
	if (env && !parse_u64(env, &opt_seed))
		usage(argv[0]);
	env = getenv("VSVM_STRESS_SECONDS");
	if (env) {
		if (!parse_u64(env, &v) || !v || v > 86400)
			usage(argv[0]);
		opt_seconds = v;
	}
	while ((opt = getopt(argc, argv, "s:d:w:nx:")) != -1) {
		switch (opt) {
		case 's':
			if (!parse_u64(optarg, &opt_seed))
				usage(argv[0]);
			break;
		case 'd':
			if (!parse_u64(optarg, &v) || !v || v > 86400)
				usage(argv[0]);
			opt_seconds = v;
			break;
		case 'n':
			opt_no_chaos = true;
			break;
		case 'x':
			no_vma |= !!strstr(optarg, "vma");
			no_fork |= !!strstr(optarg, "fork");
			no_gpu |= !!strstr(optarg, "gpu");
			no_churn |= !!strstr(optarg, "churn");
			break;
		case 'w':
			if (!parse_u64(optarg, &v) || !v || v > 8)
				usage(argv[0]);
			opt_workers_per_dev = v;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
}

static void print_counts(const struct counts *c, double secs)
{
	uint64_t own = 0, scratch_failed = 0;
	int k;

	for (k = 1; k <= 4; k++)
		own += c->own_jobs[k];
	for (k = 0; k < NR_SE; k++)
		scratch_failed += c->scratch_err[k];
	printf("# own-buffer jobs: %" PRIu64 " (%.0f/s): copy %" PRIu64
	       ", fill %" PRIu64 ", checksum %" PRIu64 ", atomic_add %" PRIu64
	       "; %" PRIu64 " submissions (%" PRIu64 " async)\n",
	       own, own / secs, c->own_jobs[DRM_VSVM_OP_COPY],
	       c->own_jobs[DRM_VSVM_OP_FILL], c->own_jobs[DRM_VSVM_OP_CHECKSUM],
	       c->own_jobs[DRM_VSVM_OP_ATOMIC_ADD], c->own_submits,
	       c->own_async);
	printf("# own-buffer expected failures: -EACCES %" PRIu64
	       " (at their read-only interval); clean failures: -EBUSY %" PRIu64
	       "; then -ECANCELED %" PRIu64 "; prefetch -EBUSY %" PRIu64 "\n",
	       c->own_eacces, c->own_busy, c->own_cancelled,
	       c->own_prefetch_busy);
	printf("# own-buffer prefetches: to device %" PRIu64 ", to system %"
	       PRIu64 "; attributes: read-only %" PRIu64 ", preferred loc %"
	       PRIu64 "; cpu writes %" PRIu64 "\n",
	       c->own_prefetch[DRM_VSVM_LOC_DEVICE],
	       c->own_prefetch[DRM_VSVM_LOC_SYSTEM], c->own_attr_ro,
	       c->own_attr_loc, c->cpu_writes);
	printf("# bytes checked: %" PRIu64 " MiB compared with the model on the CPU, %"
	       PRIu64 " MiB by GPU checksums\n",
	       c->bytes_cpu >> 20, c->bytes_gpu >> 20);
	printf("# scratch jobs: %" PRIu64 " (%.0f/s): %" PRIu64 " ok, %" PRIu64
	       " failed cleanly:", c->scratch_jobs, c->scratch_jobs / secs,
	       c->scratch_ok, scratch_failed);
	for (k = 0; k < NR_SE; k++)
		printf(" %s %" PRIu64, se_names[k], c->scratch_err[k]);
	printf("\n# latency (avg/max ms): own submission %.0f/%.0f, scratch submission %.0f/%.0f, fork (child run) %.0f/%.0f",
	       c->lat_own[0] ? c->lat_own[1] / 1e3 / c->lat_own[0] : 0,
	       c->lat_own[2] / 1e3,
	       c->lat_scratch[0] ? c->lat_scratch[1] / 1e3 / c->lat_scratch[0] : 0,
	       c->lat_scratch[2] / 1e3,
	       c->lat_fork[0] ? c->lat_fork[1] / 1e3 / c->lat_fork[0] : 0,
	       c->lat_fork[2] / 1e3);
	printf("\n# chaos ops:");
	for (k = 0; k < NR_CH; k++)
		printf("%s %s %" PRIu64, k ? "," : "", ch_names[k], c->chaos[k]);
	printf("\n");
}

static void print_device_stats(void)
{
	unsigned int d, i;

	for (d = 0; d < ndev; d++) {
		struct drm_vsvm_stats sum = { 0 }, vram = { 0 };

		for (i = 0; i < nworkers; i++) {
			const struct drm_vsvm_stats *s = &workers[i].stats;

			if (workers[i].dev_index != d || !workers[i].have_stats)
				continue;
			sum.faults += s->faults;
			sum.fault_retries += s->fault_retries;
			sum.fault_errors += s->fault_errors;
			sum.invalidations += s->invalidations;
			if (s->vram_pages_in >= vram.vram_pages_in)
				vram = *s;
		}
		printf("# device %u (workers' VMs): faults %llu, retries %llu, errors %llu, invalidations %llu; VRAM (device): pages in %llu, out %llu, evictions %llu\n",
		       d, (unsigned long long)sum.faults,
		       (unsigned long long)sum.fault_retries,
		       (unsigned long long)sum.fault_errors,
		       (unsigned long long)sum.invalidations,
		       (unsigned long long)vram.vram_pages_in,
		       (unsigned long long)vram.vram_pages_out,
		       (unsigned long long)vram.vram_evictions);
	}
}

/* Join a thread, or report it stuck (in the kernel: a hang to report). */
static bool join(pthread_t t, const char *name, double deadline)
{
	struct timespec ts;
	double left = deadline - now();

	clock_gettime(CLOCK_REALTIME, &ts);
	if (left < 1)
		left = 1;
	ts.tv_sec += (time_t)left;
	if (!pthread_timedjoin_np(t, NULL, &ts))
		return true;
	fail(NULL, "thread %s did not stop within %d s of the deadline", name,
	     STOP_TIMEOUT);
	return false;
}

int main(int argc, char **argv)
{
	pthread_rwlockattr_t rwattr;
	struct vsvm_dev dev0;
	struct counts total = { 0 };
	pthread_t vma_t, churn_t, fork_t, gpu_t[MAX_DEVICES];
	double t0, t_end, t_stop, secs, next_progress;
	bool all_joined = true;
	unsigned int i, nchaos;
	int n, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	printf("TAP version 13\n1..1\n");
	printf("# vsvm_stress: seed %" PRIu64 " (rerun: vsvm_stress -s %" PRIu64
	       " -d %u -w %u)\n", opt_seed, opt_seed, opt_seconds,
	       opt_workers_per_dev);

	n = vsvm_num_devices();
	if (n <= 0) {
		printf("ok 1 vsvm_stress # SKIP no vsvm device\n");
		return 0;
	}
	err = vsvm_open(0, &dev0);
	if (err) {
		printf("# FAIL (seed %" PRIu64 ") main: open device 0: %s\n",
		       opt_seed, errname(err));
		printf("not ok 1 vsvm_stress\n");
		return 1;
	}
	info = dev0.info;
	vsvm_close(&dev0);
	ndev = MIN((unsigned int)n, MAX_DEVICES);
	have_vram = info.vram_size != 0;
	nworkers = MIN(ndev * opt_workers_per_dev, MAX_WORKERS);
	printf("# %u devices, layout %s, VRAM %llu MiB per device, notifier window %llu MiB; %u workers, %u chaos threads, %u s\n",
	       ndev, vsvm_layout_name(info.layout),
	       (unsigned long long)(info.vram_size >> 20),
	       (unsigned long long)(info.notifier_size >> 20), nworkers,
	       opt_no_chaos ? 0 : 3 + ndev, opt_seconds);

	err = setup_region();
	if (err) {
		printf("# FAIL (seed %" PRIu64 ") main: address-space setup at %#lx: %s\n",
		       opt_seed, REGION_ADDR, errname(err));
		printf("not ok 1 vsvm_stress\n");
		return 1;
	}

	pthread_rwlockattr_init(&rwattr);
	pthread_rwlockattr_setkind_np(&rwattr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&victim.lock, &rwattr);
	nchaos = opt_no_chaos ? 0 : ndev + 3;
	pthread_barrier_init(&start_barrier, NULL, nworkers + nchaos + 1);

	/* Thread i's generator is stream i of the seed: reproducible. */
	for (i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		w->dev_index = i % ndev;
		snprintf(w->t.name, sizeof(w->t.name), "worker%u(dev%u)", i,
			 w->dev_index);
		rng_init(&w->t.rng, 1 + i);
		if (pthread_create(&w->thread, NULL, worker_thread, w))
			return 1;
	}
	for (i = 0; i < ndev && nchaos; i++) {
		struct gpu_chaos *g = &gpu_chaos[i];

		g->dev_index = i;
		snprintf(g->t.name, sizeof(g->t.name), "scratch-gpu(dev%u)", i);
		rng_init(&g->t.rng, 100 + i);
		if (pthread_create(&gpu_t[i], NULL, gpu_chaos_thread, g))
			return 1;
	}
	snprintf(vma_chaos.t.name, sizeof(vma_chaos.t.name), "vma-chaos");
	rng_init(&vma_chaos.t.rng, 200);
	snprintf(churn.t.name, sizeof(churn.t.name), "churn");
	rng_init(&churn.t.rng, 201);
	snprintf(forker.t.name, sizeof(forker.t.name), "fork");
	rng_init(&forker.t.rng, 202);
	if (nchaos &&
	    (pthread_create(&vma_t, NULL, vma_chaos_thread, &vma_chaos) ||
	     pthread_create(&churn_t, NULL, churn_thread, &churn) ||
	     pthread_create(&fork_t, NULL, fork_thread, &forker)))
		return 1;

	pthread_barrier_wait(&start_barrier);
	t0 = now();
	t_end = t0 + opt_seconds;
	next_progress = t0 + 10;
	while (running() && now() < t_end) {
		usleep(100000);
		if (now() >= next_progress) {
			printf("# %3.0f s: %lu own-buffer jobs, %lu scratch jobs, %lu chaos ops\n",
			       now() - t0, atomic_load(&prog_own_jobs),
			       atomic_load(&prog_scratch_jobs),
			       atomic_load(&prog_chaos));
			next_progress += 10;
		}
	}
	atomic_store(&stop_flag, true);
	t_stop = now();
	secs = t_stop - t0;

	t_stop += STOP_TIMEOUT;
	for (i = 0; i < nworkers; i++)
		all_joined &= join(workers[i].thread, workers[i].t.name, t_stop);
	if (nchaos) {
		for (i = 0; i < ndev; i++)
			all_joined &= join(gpu_t[i], gpu_chaos[i].t.name, t_stop);
		all_joined &= join(vma_t, vma_chaos.t.name, t_stop);
		all_joined &= join(churn_t, churn.t.name, t_stop);
		all_joined &= join(fork_t, forker.t.name, t_stop);
	}
	if (!all_joined) {
		/* Counters of running threads cannot be read: just the verdict. */
		printf("not ok 1 vsvm_stress # seed %" PRIu64 "\n", opt_seed);
		fflush(stdout);
		_exit(1);
	}

	for (i = 0; i < nworkers; i++)
		counts_add(&total, &workers[i].t.c);
	for (i = 0; i < ndev && nchaos; i++)
		counts_add(&total, &gpu_chaos[i].t.c);
	counts_add(&total, &vma_chaos.t.c);
	counts_add(&total, &churn.t.c);
	counts_add(&total, &forker.t.c);
	printf("# ran %.1f s (stopped in %.1f s)\n", secs, now() - t0 - secs);
	print_counts(&total, secs);
	print_device_stats();
	munmap(region, region_size);
	close(scratch_fd);

	if (atomic_load(&failed_flag)) {
		printf("not ok 1 vsvm_stress # seed %" PRIu64 "\n", opt_seed);
		return 1;
	}
	printf("ok 1 vsvm_stress\n");
	return 0;
}
