// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm_fuzz: a seeded ioctl fuzzer of vsvm, the virtual SVM GPU.
 *
 *   vsvm_fuzz [-s SEED] [-n CALLS] [-p PROCS] [-t THREADS] [-v]
 *
 * PROCS processes (fork) of THREADS threads each issue CALLS ioctls in all
 * (default VSVM_FUZZ_CALLS, 10000; make check FUZZ_CALLS=N changes it):
 * random sequences of every vsvm ioctl and of the DRM core ioctls on vsvm's
 * render nodes, with valid, stale and random ids, malformed sizes, flags,
 * pad, reserved and unused fields, extension chains, and pointers to
 * unmapped, read-only, kernel and non-canonical addresses. Meanwhile the
 * threads remap, mprotect, madvise and touch the memory the jobs use,
 * replace the files under each other (dup2), and fork children that use the
 * inherited files: VMs and userptrs are created and destroyed while others
 * use them, also from other processes.
 *
 * The oracle is a model of the UAPI's argument rules. For each call it
 * computes what the kernel sees (the DRM core copies the size the command
 * encodes, zero-fills the rest) and either the one errno a broken rule gives
 * (-EINVAL, -EFAULT for an unreadable pointer, ...) or, for a well-formed
 * argument, the set below. Anything else, a job status the UAPI does not
 * document, a synchronous job that ran after a failed one, a crash of the
 * fuzzer or no progress for STALL_SECS fails the run with the seed and the
 * call. Errnos of well-formed calls:
 *
 *   GET_INFO          none
 *   VM_CREATE         ENOMEM, EOPNOTSUPP (bounce-buffered DMA)
 *   VM_DESTROY        ENOENT
 *   EXEC              ENOENT, EACCES (another process's VM), ENOMEM; EBUSY
 *                     (async, too many outstanding); EFAULT (sync, results
 *                     to read-only jobs)
 *   WAIT              ENOENT, EACCES, ETIME, EFAULT (read-only jobs)
 *   SET_ATTR          ENOENT, EACCES, ENOMEM; EINVAL for an unknown
 *                     attribute or value (checked after the lookup);
 *                     EOPNOTSUPP (device location without VRAM)
 *   PREFETCH          ENOENT, EACCES, EFAULT, EPERM, EBUSY, ENOMEM
 *   USERPTR_CREATE    ENOENT, EACCES, ENOMEM
 *   USERPTR_BIND      ENOENT, EACCES, EEXIST, EINVAL (the userptr's size
 *                     takes the binding out of user space)
 *   USERPTR_DESTROY   ENOENT, EACCES
 *   STATS             ENOENT
 *   VM_READ           ENOENT, EACCES, EFAULT (a hole, memory a device cannot
 *                     mirror, or data not writable), EBUSY, ENOMEM
 *   DRM core ioctls   EACCES (not for render nodes), EINVAL, EFAULT,
 *                     EOPNOTSUPP (no GEM), ENOSYS (no PRIME), ENOENT
 *                     (unknown syncobj), ETIME (syncobj wait), EMFILE
 *                     (syncobj file descriptors)
 *   any, argument over 128 bytes: ENOMEM (the DRM core's copy)
 *   job status        EFAULT, EACCES, EPERM, EBUSY, ECANCELED, ENOMEM
 *
 * A call whose argument sits in memory other threads change (the window
 * below) is only checked against everything its ioctl may return.
 *
 * Safety: jobs write only to a window of scratch memory at WIN_BASE (and to
 * addresses the kernel refuses), userptrs mirror only the window, and no
 * address of the fuzzer's own memory is ever written to the window, so
 * nothing the GPU or the kernel writes can land in the fuzzer's own data.
 *
 * Output: kselftest TAP with one result, "ok 1 vsvm_fuzz: ..." (the closing
 * line make check counts), after per-ioctl counts of each outcome. The seed
 * fixes every thread's choices; with -p 1 -t 1 the whole sequence replays
 * (up to timing: WAIT timeouts, racing invalidations).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vsvm.h"

#ifndef VSVM_FUZZ_CALLS
#define VSVM_FUZZ_CALLS	10000
#endif

#define PAGE		4096UL
#define MAX_PROCS	8
#define MAX_THREADS	8
#define STALL_SECS	120

/* The window: WIN_SLOTS slots of up to SLOT_MAX bytes, holes between. */
#define WIN_BASE	0x100000000000UL	/* 16 TiB, far below mmap_base */
#define WIN_SLOTS	32
#define SLOT_STRIDE	(4UL << 20)
#define SLOT_MAX	(2UL << 20)
#define WIN_END		(WIN_BASE + WIN_SLOTS * SLOT_STRIDE)
#define MEMFD_SIZE	(4UL << 20)

/* Per-thread buffers, each followed by an inaccessible guard page. */
#define ARG_SIZE	(4 * PAGE)	/* an ioctl argument of up to 16383 bytes */
#define RING_SLOTS	32		/* job arrays of async submissions */
#define RING_JOBS	64

#define NFD		4	/* files per process: 2 shared by all, 2 own */
#define FD_BASE		100	/* slot i is always fd FD_BASE + i (dup2) */
#define BAD_FD		99	/* never open */
#define NVM		6
#define NUP		8
#define NSUB		16

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define NR_ERRNO	134

/* --- Errno sets ---------------------------------------------------------- */

/* Bit e: errno e is allowed (bit 0: success). */
struct eset {
	uint64_t w[3];
};

#define ES(...)	eset_of((const int []){ __VA_ARGS__, -1 })

static struct eset eset_of(const int *e)
{
	struct eset s = { { 0 } };

	for (; *e >= 0; e++)
		s.w[*e / 64] |= 1ULL << (*e % 64);
	return s;
}

static struct eset eset_or(struct eset a, struct eset b)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(a.w); i++)
		a.w[i] |= b.w[i];
	return a;
}

static bool eset_has(const struct eset *s, int e)
{
	return e >= 0 && e < 64 * (int)ARRAY_SIZE(s->w) &&
	       (s->w[e / 64] >> (e % 64) & 1);
}

static const char *errname(int e)
{
	static __thread char buf[16];
	const char *n;

	if (!e)
		return "0";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void eset_print(char *buf, size_t len, const struct eset *s)
{
	size_t n = snprintf(buf, len, "{");
	int e;

	for (e = 0; e < 64 * (int)ARRAY_SIZE(s->w) && n < len; e++)
		if (eset_has(s, e))
			n += snprintf(buf + n, len - n, "%s%s",
				      n > 1 ? ", " : "", errname(e));
	if (n < len)
		snprintf(buf + n, len - n, "}");
}

/* --- The calls ----------------------------------------------------------- */

enum kind {
	K_GET_INFO, K_VM_CREATE, K_VM_DESTROY, K_EXEC, K_WAIT, K_SET_ATTR,
	K_PREFETCH, K_UP_CREATE, K_UP_BIND, K_UP_DESTROY, K_STATS, K_VM_READ,
	K_DRM_CORE,	/* a DRM core ioctl, real number, random argument */
	K_DRM_ANY,	/* any DRM number, size and direction */
	NR_KINDS,
	K_JOB = NR_KINDS,	/* job statuses, counted like calls */
	NR_COUNTED
};

struct field {
	const char *name;
	unsigned short off, size;
};

#define F(type, f) { #f, offsetof(type, f), sizeof(((type *)0)->f) }

static const struct field f_info[] = {
	F(struct drm_vsvm_info, index), F(struct drm_vsvm_info, version), {}
};
static const struct field f_vm_create[] = {
	F(struct drm_vsvm_vm_create, flags), F(struct drm_vsvm_vm_create, vm_id),
	F(struct drm_vsvm_vm_create, extensions), {}
};
static const struct field f_vm_destroy[] = {
	F(struct drm_vsvm_vm_destroy, vm_id), F(struct drm_vsvm_vm_destroy, pad), {}
};
static const struct field f_exec[] = {
	F(struct drm_vsvm_exec, vm_id), F(struct drm_vsvm_exec, flags),
	F(struct drm_vsvm_exec, num_jobs), F(struct drm_vsvm_exec, pad),
	F(struct drm_vsvm_exec, jobs), F(struct drm_vsvm_exec, seqno),
	F(struct drm_vsvm_exec, extensions), {}
};
static const struct field f_wait[] = {
	F(struct drm_vsvm_wait, vm_id), F(struct drm_vsvm_wait, flags),
	F(struct drm_vsvm_wait, seqno), F(struct drm_vsvm_wait, timeout_ns), {}
};
static const struct field f_set_attr[] = {
	F(struct drm_vsvm_set_attr, vm_id), F(struct drm_vsvm_set_attr, attr),
	F(struct drm_vsvm_set_attr, start), F(struct drm_vsvm_set_attr, size),
	F(struct drm_vsvm_set_attr, value), F(struct drm_vsvm_set_attr, reserved), {}
};
static const struct field f_prefetch[] = {
	F(struct drm_vsvm_prefetch, vm_id), F(struct drm_vsvm_prefetch, region),
	F(struct drm_vsvm_prefetch, start), F(struct drm_vsvm_prefetch, size),
	F(struct drm_vsvm_prefetch, devices), {}
};
static const struct field f_up_create[] = {
	F(struct drm_vsvm_userptr_create, vm_id),
	F(struct drm_vsvm_userptr_create, flags),
	F(struct drm_vsvm_userptr_create, addr),
	F(struct drm_vsvm_userptr_create, size),
	F(struct drm_vsvm_userptr_create, handle),
	F(struct drm_vsvm_userptr_create, pad), {}
};
static const struct field f_up_bind[] = {
	F(struct drm_vsvm_userptr_bind, vm_id), F(struct drm_vsvm_userptr_bind, handle),
	F(struct drm_vsvm_userptr_bind, gpu_va),
	F(struct drm_vsvm_userptr_bind, reserved), {}
};
static const struct field f_up_destroy[] = {
	F(struct drm_vsvm_userptr_destroy, vm_id),
	F(struct drm_vsvm_userptr_destroy, handle), {}
};
static const struct field f_stats[] = {
	F(struct drm_vsvm_stats, vm_id), F(struct drm_vsvm_stats, pad),
	F(struct drm_vsvm_stats, reserved), {}
};
static const struct field f_vm_read[] = {
	F(struct drm_vsvm_vm_read, vm_id), F(struct drm_vsvm_vm_read, flags),
	F(struct drm_vsvm_vm_read, addr), F(struct drm_vsvm_vm_read, size),
	F(struct drm_vsvm_vm_read, data), F(struct drm_vsvm_vm_read, reserved), {}
};
static const struct field f_job[] = {
	F(struct drm_vsvm_job, op), F(struct drm_vsvm_job, flags),
	F(struct drm_vsvm_job, dst), F(struct drm_vsvm_job, src),
	F(struct drm_vsvm_job, size), F(struct drm_vsvm_job, value),
	F(struct drm_vsvm_job, status), F(struct drm_vsvm_job, pad), {}
};

static const struct kind_desc {
	const char *name;
	unsigned long cmd;
	unsigned int weight;		/* percent of the calls */
	const struct field *fields;
	bool window_ok;			/* may take its argument from the window */
	const int *loose;		/* all it may return, -1 ends */
} kinds[NR_KINDS] = {
	[K_GET_INFO] = { "GET_INFO", DRM_IOCTL_VSVM_GET_INFO, 2, f_info, true,
			 (const int []){ 0, EFAULT, -1 } },
	[K_VM_CREATE] = { "VM_CREATE", DRM_IOCTL_VSVM_VM_CREATE, 6, f_vm_create, true,
			  (const int []){ 0, EINVAL, EFAULT, ENOMEM, EOPNOTSUPP, -1 } },
	[K_VM_DESTROY] = { "VM_DESTROY", DRM_IOCTL_VSVM_VM_DESTROY, 4, f_vm_destroy, true,
			   (const int []){ 0, EINVAL, EFAULT, ENOENT, -1 } },
	[K_EXEC] = { "EXEC", DRM_IOCTL_VSVM_EXEC, 21, f_exec, false,
		     (const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES, EBUSY,
				     ENOMEM, -1 } },
	[K_WAIT] = { "WAIT", DRM_IOCTL_VSVM_WAIT, 8, f_wait, true,
		     (const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES, ETIME, -1 } },
	[K_SET_ATTR] = { "SET_ATTR", DRM_IOCTL_VSVM_SET_ATTR, 7, f_set_attr, true,
			 (const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES,
					 EOPNOTSUPP, ENOMEM, -1 } },
	[K_PREFETCH] = { "PREFETCH", DRM_IOCTL_VSVM_PREFETCH, 7, f_prefetch, true,
			 (const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES,
					 EOPNOTSUPP, EPERM, EBUSY, ENOMEM, -1 } },
	[K_UP_CREATE] = { "USERPTR_CREATE", DRM_IOCTL_VSVM_USERPTR_CREATE, 7,
			  f_up_create, false,
			  (const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES,
					  ENOMEM, -1 } },
	[K_UP_BIND] = { "USERPTR_BIND", DRM_IOCTL_VSVM_USERPTR_BIND, 7, f_up_bind, true,
			(const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES, EEXIST, -1 } },
	[K_UP_DESTROY] = { "USERPTR_DESTROY", DRM_IOCTL_VSVM_USERPTR_DESTROY, 5,
			   f_up_destroy, true,
			   (const int []){ 0, EFAULT, ENOENT, EACCES, -1 } },
	[K_STATS] = { "STATS", DRM_IOCTL_VSVM_STATS, 5, f_stats, true,
		      (const int []){ 0, EINVAL, EFAULT, ENOENT, -1 } },
	[K_VM_READ] = { "VM_READ", DRM_IOCTL_VSVM_VM_READ, 5, f_vm_read, true,
			(const int []){ 0, EINVAL, EFAULT, ENOENT, EACCES, EBUSY,
					ENOMEM, -1 } },
	[K_DRM_CORE] = { "DRM core", 0, 8, NULL, false, NULL },
	[K_DRM_ANY] = { "DRM any", 0, 8, NULL, false, NULL },
};

/* What the DRM core ioctls may return on a vsvm render node. */
static const int core_errnos[] = {
	0, EACCES, EINVAL, EFAULT, EOPNOTSUPP, ENOSYS, ENOMEM, ENOENT, ETIME,
	EMFILE, -1
};

static const int job_statuses[] = {
	0, EFAULT, EACCES, EPERM, EBUSY, ECANCELED, ENOMEM, -1
};

/* DRM core ioctls K_DRM_CORE picks from. */
static const unsigned long core_cmds[] = {
	DRM_IOCTL_VERSION, DRM_IOCTL_GET_UNIQUE, DRM_IOCTL_GET_MAGIC,
	DRM_IOCTL_IRQ_BUSID, DRM_IOCTL_GET_MAP, DRM_IOCTL_GET_CLIENT,
	DRM_IOCTL_GET_STATS, DRM_IOCTL_SET_VERSION, DRM_IOCTL_MODESET_CTL,
	DRM_IOCTL_GEM_CLOSE, DRM_IOCTL_GEM_FLINK, DRM_IOCTL_GEM_OPEN,
	DRM_IOCTL_GET_CAP, DRM_IOCTL_SET_CLIENT_CAP, DRM_IOCTL_SET_UNIQUE,
	DRM_IOCTL_AUTH_MAGIC, DRM_IOCTL_ADD_MAP, DRM_IOCTL_RM_MAP,
	DRM_IOCTL_SET_MASTER, DRM_IOCTL_DROP_MASTER, DRM_IOCTL_ADD_CTX,
	DRM_IOCTL_LOCK, DRM_IOCTL_PRIME_HANDLE_TO_FD,
	DRM_IOCTL_PRIME_FD_TO_HANDLE, DRM_IOCTL_AGP_ACQUIRE,
	DRM_IOCTL_SG_ALLOC, DRM_IOCTL_WAIT_VBLANK,
	DRM_IOCTL_CRTC_GET_SEQUENCE, DRM_IOCTL_CRTC_QUEUE_SEQUENCE,
	DRM_IOCTL_MODE_GETRESOURCES, DRM_IOCTL_MODE_GETCRTC,
	DRM_IOCTL_MODE_GETCONNECTOR, DRM_IOCTL_MODE_GETPROPERTY,
	DRM_IOCTL_MODE_ADDFB2, DRM_IOCTL_MODE_PAGE_FLIP,
	DRM_IOCTL_MODE_CREATE_DUMB, DRM_IOCTL_MODE_MAP_DUMB,
	DRM_IOCTL_MODE_DESTROY_DUMB, DRM_IOCTL_MODE_GETPLANERESOURCES,
	DRM_IOCTL_MODE_OBJ_GETPROPERTIES, DRM_IOCTL_MODE_ATOMIC,
	DRM_IOCTL_MODE_CREATEPROPBLOB, DRM_IOCTL_MODE_CREATE_LEASE,
	DRM_IOCTL_MODE_LIST_LESSEES, DRM_IOCTL_MODE_GET_LEASE,
	DRM_IOCTL_MODE_REVOKE_LEASE, DRM_IOCTL_MODE_GETFB2,
	DRM_IOCTL_SYNCOBJ_CREATE, DRM_IOCTL_SYNCOBJ_DESTROY,
	DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD, DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE,
	DRM_IOCTL_SYNCOBJ_TRANSFER,
};

/*
 * The syncobj ioctls taking an array of handles. The 6.1 DRM core allocates
 * the array with the count user space gives, without __GFP_NOWARN: a count
 * beyond the page allocator's largest order warns (a core bug, not vsvm's;
 * vsvm supports syncobjs since UAPI version 2). The fuzzer leaves them out.
 */
static bool syncobj_array_cmd(unsigned long cmd)
{
	switch (_IOC_NR(cmd)) {
	case _IOC_NR(DRM_IOCTL_SYNCOBJ_WAIT):
	case _IOC_NR(DRM_IOCTL_SYNCOBJ_RESET):
	case _IOC_NR(DRM_IOCTL_SYNCOBJ_SIGNAL):
	case _IOC_NR(DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT):
	case _IOC_NR(DRM_IOCTL_SYNCOBJ_QUERY):
	case _IOC_NR(DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL):
		return _IOC_TYPE(cmd) == DRM_IOCTL_BASE;
	}
	return false;
}

/* Where a call's argument is. */
enum where {
	AT_PRIV,	/* the thread's argument buffer */
	AT_RO,		/* a read-only page */
	AT_WIN,		/* the window: other threads and the GPU change it */
	AT_BAD,		/* an address nothing can read */
	AT_BADFD,	/* a file descriptor that is not open */
};

static const char *const where_names[] = {
	"private", "read-only", "window", "unreadable", "bad fd"
};

union args {
	struct drm_vsvm_info info;
	struct drm_vsvm_vm_create vm_create;
	struct drm_vsvm_vm_destroy vm_destroy;
	struct drm_vsvm_exec exec;
	struct drm_vsvm_wait wait;
	struct drm_vsvm_set_attr set_attr;
	struct drm_vsvm_prefetch prefetch;
	struct drm_vsvm_userptr_create up_create;
	struct drm_vsvm_userptr_bind up_bind;
	struct drm_vsvm_userptr_destroy up_destroy;
	struct drm_vsvm_stats stats;
	struct drm_vsvm_vm_read vm_read;
	uint64_t raw[64];
};

/* A call, kept in shared memory for crash and stall reports. */
struct call {
	enum kind kind;
	uint64_t n;			/* the worker's call number */
	int fdi;
	unsigned long cmd;
	enum where where;
	unsigned int off;		/* offset in the argument buffer */
	uint64_t arg;
	union args a;			/* the argument as passed */
	unsigned int njobs;		/* jobs copied below */
	struct drm_vsvm_job jobs[2];
};

struct shared {
	uint64_t calls;
	int failed;
	uint64_t count[NR_COUNTED][NR_ERRNO];
	struct call cur[MAX_PROCS][MAX_THREADS];
};

/* --- Global configuration ------------------------------------------------ */

static uint64_t seed;
static uint64_t total_calls = VSVM_FUZZ_CALLS;
static unsigned int nprocs = 3, nthreads = 3;
static bool verbose;
static uint64_t task_size_max;	/* end of the user address space */
static struct shared *shared;
static unsigned int ndev;
static unsigned long interconnect;	/* vsvm's parameter: peer devices */
static char dev_path[8][64];
static struct drm_vsvm_info info;	/* device 0's */
static unsigned long vdso;

/* --- Per process and per thread ------------------------------------------ */

struct proc {
	unsigned int index;
	uint32_t vm[NFD][NVM];
	uint64_t up[NFD][NUP];		/* vm << 32 | handle */
	uint32_t sub_vm[NFD][NSUB];
	uint64_t sub_seqno[NFD][NSUB];
	int memfd, sinkfd, zerofd;
};

struct rng {
	uint64_t s;
};

struct worker {
	struct proc *proc;
	unsigned int p, t;
	struct rng rng;
	uint64_t n;			/* calls made */
	bool in_child;
	bool safe;			/* building an argument for the window */
	char *arg;			/* ARG_SIZE, guard */
	char *ro_arg, *ro_jobs;		/* a read-only page each, guard */
	struct drm_vsvm_job *jobs;	/* info.max_jobs, guard */
	struct drm_vsvm_job *ring;	/* RING_SLOTS * RING_JOBS, guard */
	unsigned int ring_next;
	struct drm_vsvm_user_extension *ext;	/* a page, guard */
	int pipe[2];
	struct call *c;			/* shared->cur[p][t] */
};

static __thread struct worker *cur_worker;
static char data_word[64] = { 1 };	/* .data, for reads */

static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng.s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct worker *w, uint64_t n)
{
	return n ? rnd(w) % n : 0;
}

/* True with a probability of @permille / 1000. */
static bool chance(struct worker *w, unsigned int permille)
{
	return below(w, 1000) < permille;
}

/* --- Reports ------------------------------------------------------------- */

static size_t print_fields(char *buf, size_t len, const struct field *f,
			   const void *p)
{
	size_t n = 0;

	for (; f && f->name && n < len; f++) {
		uint64_t v = 0;

		memcpy(&v, (const char *)p + f->off,
		       f->size < 8 ? f->size : 8);
		n += snprintf(buf + n, len - n, " %s=%#" PRIx64, f->name, v);
	}
	return n < len ? n : len;
}

static void print_call(char *buf, size_t len, const struct call *c)
{
	size_t n;
	unsigned int i;

	n = snprintf(buf, len, "#   %s (call %" PRIu64 ") fd %d cmd %#lx arg %#" PRIx64 " (%s, offset %u):",
		     c->kind < NR_KINDS ? kinds[c->kind].name : "?", c->n,
		     FD_BASE + c->fdi, c->cmd, c->arg, where_names[c->where],
		     c->off);
	if (n >= len)
		return;
	if (c->kind < NR_KINDS && kinds[c->kind].fields) {
		n += print_fields(buf + n, len - n, kinds[c->kind].fields, &c->a);
	} else {
		for (i = 0; i < 8 && n < len; i++)
			n += snprintf(buf + n, len - n, " %#" PRIx64, c->a.raw[i]);
	}
	for (i = 0; i < c->njobs && n < len; i++) {
		n += snprintf(buf + n, len - n, "\n#   job %u:", i);
		if (n < len)
			n += print_fields(buf + n, len - n, f_job, &c->jobs[i]);
	}
	if (n < len)
		snprintf(buf + n, len - n, "\n");
}

static void repro(char *buf, size_t len)
{
	snprintf(buf, len, "# reproduce: vsvm_fuzz -s %#" PRIx64 " -n %" PRIu64 " -p %u -t %u\n",
		 seed, total_calls, nprocs, nthreads);
}

/* A finding: print it with the call and the seed, end the process. */
static void __attribute__((noreturn, format(printf, 2, 3)))
fail(struct worker *w, const char *fmt, ...)
{
	char msg[4096];
	size_t n;
	va_list ap;

	n = snprintf(msg, sizeof(msg), "# FAIL: process %u thread %u%s: ",
		     w->p, w->t, w->in_child ? " (forked child)" : "");
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	if (n < sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - n, "\n");
	if (n < sizeof(msg))
		print_call(msg + n, sizeof(msg) - n, w->c);
	n = strlen(msg);
	repro(msg + n, sizeof(msg) - n);
	STORE(shared->failed, 1);
	if (write(1, msg, strlen(msg)) < 0)
		_exit(2);
	_exit(1);
}

static void crash_handler(int sig)
{
	struct worker *w = cur_worker;
	char msg[4096];
	size_t n;

	n = snprintf(msg, sizeof(msg), "# CRASH: signal %d (%s)", sig,
		     strsignal(sig));
	if (w) {
		n += snprintf(msg + n, sizeof(msg) - n,
			      " in process %u thread %u%s, last call:\n",
			      w->p, w->t, w->in_child ? " (forked child)" : "");
		print_call(msg + n, sizeof(msg) - n, w->c);
	} else {
		snprintf(msg + n, sizeof(msg) - n, "\n");
	}
	n = strlen(msg);
	repro(msg + n, sizeof(msg) - n);
	if (write(1, msg, strlen(msg)) < 0)
		_exit(2);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void count(enum kind k, int err)
{
	__atomic_fetch_add(&shared->count[k][err < NR_ERRNO ? err : NR_ERRNO - 1],
			   1, __ATOMIC_RELAXED);
}

/* --- Addresses ----------------------------------------------------------- */

static uint64_t slot_addr(unsigned int slot)
{
	return WIN_BASE + slot * SLOT_STRIDE;
}

/* Somewhere in the window: mapped or not, any protection. */
static uint64_t win_addr(struct worker *w)
{
	uint64_t s = slot_addr(below(w, WIN_SLOTS));

	switch (below(w, 4)) {
	case 0:
		return s;
	case 1:
		return s + below(w, SLOT_MAX / PAGE) * PAGE;
	case 2:
		return s + below(w, SLOT_STRIDE);
	default:
		return s + (below(w, SLOT_MAX) & ~7UL);
	}
}

/* An address no access can reach: low, kernel, non-canonical, past the end. */
static uint64_t bad_addr(struct worker *w)
{
	static const uint64_t bad[] = {
		0, 8, PAGE, 0xfff0, 0x0000800000000000ULL,
		0x8000000000000000ULL, 0xffff800000000000ULL,
		0xffff888000000000ULL, 0xffffffff81000000ULL,
		0xffffffffff600000ULL, ~0ULL, ~0ULL - PAGE + 1,
		0xdead000000000000ULL,
	};

	switch (below(w, 8)) {
	case 0:
		return task_size_max + below(w, 4) * PAGE;
	case 1:
		return rnd(w) | 1ULL << 63;
	default:
		return bad[below(w, ARRAY_SIZE(bad))];
	}
}

static bool is_bad(uint64_t p, uint64_t len)
{
	return p < 0x10000 || p + len < p || p + len > task_size_max;
}

/* Memory of the fuzzer itself, only ever read. */
static uint64_t own_addr(struct worker *w)
{
	switch (below(w, 9)) {
	case 0:
		return (uintptr_t)&own_addr;			/* text */
	case 1:
		return (uintptr_t)data_word;			/* .data */
	case 2:
		return (uintptr_t)__builtin_frame_address(0);	/* stack */
	case 3:
		return (uintptr_t)w->jobs;
	case 4:
		return (uintptr_t)w->ring;
	case 5:
		return (uintptr_t)w->arg;
	case 6:
		return (uintptr_t)shared;			/* MAP_SHARED */
	case 7:
		return vdso;					/* special */
	default:
		return vdso - 4 * PAGE;				/* [vvar] */
	}
}

static uint64_t page_down(uint64_t a)
{
	return a & ~(PAGE - 1);
}

/* The start of an interval SET_ATTR, PREFETCH or USERPTR_BIND works on. */
static uint64_t interval_start(struct worker *w, bool *own)
{
	unsigned int r = below(w, 100);

	*own = false;
	if (r < 75)
		return page_down(win_addr(w));
	if (r < 82 && !w->safe) {
		*own = true;
		return page_down(own_addr(w));
	}
	if (r < 90)
		return page_down(bad_addr(w));
	if (r < 95)
		return win_addr(w) | (1 + below(w, PAGE - 1));
	return rnd(w) & ~(PAGE - 1) & ~(1ULL << 63);
}

static uint64_t interval_size(struct worker *w, bool own)
{
	unsigned int r = below(w, 100);

	if (r < 75 || own)
		return (1 + below(w, own ? 16 : SLOT_MAX / PAGE)) * PAGE;
	if (r < 80)
		return 0;
	if (r < 85)
		return 1ULL << (40 + below(w, 8));
	if (r < 90)
		return 1 + below(w, SLOT_MAX);
	if (r < 95)
		return ~0ULL & ~(PAGE - 1);
	return rnd(w);
}

/* A value for a random argument: ids, sizes, window and bad addresses. */
static uint64_t junk(struct worker *w)
{
	switch (below(w, 8)) {
	case 0:
		return 0;
	case 1:
		return below(w, 16);
	case 2:
		return win_addr(w);
	case 3:
		return bad_addr(w);
	case 4:
		return 1ULL << (32 + below(w, 32));
	case 5:		/* 2-4 GiB: nothing of the fuzzer is there */
		return (uint32_t)rnd(w) | 1U << 31;
	default:
		return rnd(w) | 1ULL << 63;
	}
}

/* --- The model of the argument rules ------------------------------------- */

struct model {
	struct eset allowed;
	const char *rule;	/* the rule that gave the one errno */
};

static void exact(struct model *m, int err, const char *rule)
{
	m->allowed = ES(err);
	m->rule = rule;
}

static bool user_range_ok(uint64_t addr, uint64_t size)
{
	return addr + size >= addr && addr + size <= task_size_max;
}

static bool user_pages_ok(uint64_t addr, uint64_t size)
{
	return size && !(addr % PAGE) && !(size % PAGE) &&
	       user_range_ok(addr, size);
}

static bool job_ok(const struct drm_vsvm_job *j)
{
	if (j->flags || j->pad)
		return false;
	switch (j->op) {
	case DRM_VSVM_OP_COPY:
		return !j->value && user_range_ok(j->src, j->size) &&
		       user_range_ok(j->dst, j->size);
	case DRM_VSVM_OP_FILL:
		return !j->src && j->value <= 0xff &&
		       user_range_ok(j->dst, j->size);
	case DRM_VSVM_OP_CHECKSUM:
		return !j->dst && !j->value && user_range_ok(j->src, j->size);
	case DRM_VSVM_OP_ATOMIC_ADD:
		return !j->src && !(j->dst % 8) && !(j->size % 8) &&
		       user_range_ok(j->dst, j->size);
	default:
		return false;
	}
}

enum mem {
	MEM_BAD,	/* cannot be read */
	MEM_UNKNOWN,	/* may be readable, content unknown */
	MEM_READABLE,	/* readable, content others may change */
	MEM_STABLE,	/* readable, only this thread writes it */
};

static bool within(uint64_t p, uint64_t len, const void *buf, size_t size)
{
	uint64_t b = (uintptr_t)buf;

	return p >= b && p + len <= b + size;
}

/*
 * What reading @len bytes at @p gives. A private buffer and its guard page:
 * in the buffer, readable; across the end, unreadable. @writable: the
 * kernel can write the bytes back.
 */
static enum mem classify(struct worker *w, uint64_t p, uint64_t len,
			 bool *writable)
{
	static const struct {
		size_t off;	/* of the buffer pointer in struct worker */
		bool ro, shared;
	} bufs[] = {
		{ offsetof(struct worker, jobs), false, false },
		{ offsetof(struct worker, ring), false, true },
		{ offsetof(struct worker, ext), false, false },
		{ offsetof(struct worker, ro_jobs), true, false },
		{ offsetof(struct worker, ro_arg), true, false },
	};
	size_t sizes[] = {
		info.max_jobs * sizeof(struct drm_vsvm_job),
		RING_SLOTS * RING_JOBS * sizeof(struct drm_vsvm_job),
		PAGE, PAGE, PAGE,
	};
	unsigned int i;

	*writable = false;
	if (is_bad(p, len))
		return MEM_BAD;
	for (i = 0; i < ARRAY_SIZE(bufs); i++) {
		const void *b = *(void **)((char *)w + bufs[i].off);

		if (within(p, len, b, sizes[i])) {
			*writable = !bufs[i].ro;
			return bufs[i].shared ? MEM_READABLE : MEM_STABLE;
		}
		if (within(p, 1, b, sizes[i] + PAGE))
			return MEM_BAD;		/* runs into the guard */
	}
	return MEM_UNKNOWN;
}

/*
 * An extension chain. @known is the one extension name the ioctl knows (0:
 * none): a readable chain naming another is -EINVAL. One naming it (EXEC's
 * syncs) is then read further; the fuzzer creates no syncobj, so a
 * well-formed one fails on its handle (-ENOENT) if not on the VM first.
 */
static void model_extensions(struct worker *w, uint64_t ext, struct model *m,
			     uint32_t known)
{
	const struct drm_vsvm_user_extension *e = (const void *)(uintptr_t)ext;
	bool writable;

	switch (classify(w, ext, sizeof(*e), &writable)) {
	case MEM_BAD:
		exact(m, EFAULT, "unreadable extension");
		break;
	case MEM_STABLE:
		if (!known || e->name != known)
			return exact(m, EINVAL, "unknown extension");
		/* fall through */
	case MEM_UNKNOWN:
	case MEM_READABLE:
		m->allowed = known ? ES(EINVAL, EFAULT, ENOENT, EACCES, ENOMEM) :
				     ES(EINVAL, EFAULT);
		m->rule = "extension chain";
		break;
	default:
		exact(m, EINVAL, "unknown extension");
	}
}

static void model_exec(struct worker *w, const struct drm_vsvm_exec *a,
		       struct model *m)
{
	bool async = a->flags & DRM_VSVM_EXEC_ASYNC, writable;
	uint64_t len = (uint64_t)a->num_jobs * sizeof(struct drm_vsvm_job);
	const struct drm_vsvm_job *j = (const void *)(uintptr_t)a->jobs;
	unsigned int i;

	if (a->flags & ~DRM_VSVM_EXEC_ASYNC || a->pad || !a->num_jobs ||
	    a->num_jobs > info.max_jobs)
		return exact(m, EINVAL, "exec flags, pad or num_jobs");
	if (a->extensions)
		return model_extensions(w, a->extensions, m,
					DRM_VSVM_EXT_EXEC_SYNCS);

	m->allowed = ES(0, ENOENT, EACCES, ENOMEM);
	if (async)
		m->allowed = eset_or(m->allowed, ES(EBUSY));
	switch (classify(w, a->jobs, len, &writable)) {
	case MEM_BAD:
		return exact(m, EFAULT, "unreadable jobs");
	case MEM_UNKNOWN:
		m->allowed = eset_or(m->allowed, ES(EINVAL, EFAULT));
		return;
	case MEM_READABLE:
		m->allowed = eset_or(m->allowed, ES(EINVAL));
		break;
	case MEM_STABLE:
		for (i = 0; i < a->num_jobs; i++)
			if (!job_ok(&j[i]))
				return exact(m, EINVAL, "malformed job");
		break;
	}
	if (!writable && !async)
		m->allowed = eset_or(m->allowed, ES(EFAULT));
}

/* The errnos of a vsvm ioctl given the argument the kernel sees. */
static void model_vsvm(struct worker *w, enum kind k, const union args *v,
		       struct model *m)
{
	m->rule = NULL;
	switch (k) {
	case K_GET_INFO:
		m->allowed = ES(0);
		break;
	case K_VM_CREATE:
		if (v->vm_create.flags)
			return exact(m, EINVAL, "VM_CREATE flags");
		if (v->vm_create.extensions)
			return model_extensions(w, v->vm_create.extensions, m,
						0);
		m->allowed = ES(0, ENOMEM, EOPNOTSUPP);
		break;
	case K_VM_DESTROY:
		if (v->vm_destroy.pad)
			return exact(m, EINVAL, "VM_DESTROY pad");
		m->allowed = ES(0, ENOENT);
		break;
	case K_EXEC:
		model_exec(w, &v->exec, m);
		break;
	case K_WAIT:
		if (v->wait.flags || v->wait.timeout_ns < 0)
			return exact(m, EINVAL, "WAIT flags or timeout");
		m->allowed = ES(0, ENOENT, EACCES, ETIME, EFAULT);
		break;
	case K_SET_ATTR: {
		const struct drm_vsvm_set_attr *a = &v->set_attr;

		if (a->reserved || !user_pages_ok(a->start, a->size))
			return exact(m, EINVAL, "SET_ATTR reserved or interval");
		if ((a->attr == DRM_VSVM_ATTR_READ_ONLY && a->value <= 1) ||
		    (a->attr == DRM_VSVM_ATTR_PREFERRED_LOC &&
		     a->value <= DRM_VSVM_LOC_DEVICE)) {
			m->allowed = ES(0, ENOENT, EACCES, ENOMEM);
			if (a->attr == DRM_VSVM_ATTR_PREFERRED_LOC &&
			    a->value == DRM_VSVM_LOC_DEVICE && !info.vram_size)
				m->allowed = eset_or(m->allowed, ES(EOPNOTSUPP));
		} else {
			m->allowed = ES(EINVAL, ENOENT, EACCES);
		}
		break;
	}
	case K_PREFETCH: {
		const struct drm_vsvm_prefetch *a = &v->prefetch;
		/* Which device the call's file is on, the model cannot tell. */
		int named = __builtin_popcountll(a->devices);
		bool shared = info.layout == DRM_VSVM_LAYOUT_NTO1;

		if (!user_pages_ok(a->start, a->size) ||
		    a->region > DRM_VSVM_LOC_DEVICE || a->devices >> ndev)
			return exact(m, EINVAL, "PREFETCH interval, region or devices");
		if (!shared && named > 1)
			return exact(m, EINVAL, "PREFETCH of several devices in 1:1");
		if (a->region == DRM_VSVM_LOC_DEVICE && !info.vram_size) {
			/* In 1:1 another device's bit is -EINVAL first. */
			if (!shared && named) {
				m->allowed = ES(EINVAL, EOPNOTSUPP);
				break;
			}
			return exact(m, EOPNOTSUPP, "PREFETCH to absent VRAM");
		}
		if (a->region == DRM_VSVM_LOC_DEVICE && named > 1 && !interconnect)
			return exact(m, EOPNOTSUPP, "PREFETCH to VRAM for non-peers");
		m->allowed = ES(0, ENOENT, EACCES, EFAULT, EPERM, EBUSY, ENOMEM);
		if (named && !shared)
			m->allowed = eset_or(m->allowed, ES(EINVAL));
		if (named && a->region == DRM_VSVM_LOC_DEVICE)
			m->allowed = eset_or(m->allowed, ES(EOPNOTSUPP));
		break;
	}
	case K_UP_CREATE: {
		const struct drm_vsvm_userptr_create *a = &v->up_create;

		if (a->flags & ~DRM_VSVM_USERPTR_READ_ONLY || a->pad ||
		    !user_pages_ok(a->addr, a->size) || a->size > (256UL << 20))
			return exact(m, EINVAL, "USERPTR_CREATE flags, pad or interval");
		m->allowed = ES(0, ENOENT, EACCES, ENOMEM);
		break;
	}
	case K_UP_BIND:
		if (v->up_bind.reserved || v->up_bind.gpu_va % PAGE)
			return exact(m, EINVAL, "USERPTR_BIND reserved or alignment");
		m->allowed = ES(0, ENOENT, EACCES, EEXIST, EINVAL);
		break;
	case K_UP_DESTROY:
		m->allowed = ES(0, ENOENT, EACCES);
		break;
	case K_STATS:
		if (v->stats.pad || v->stats.reserved[0] || v->stats.reserved[1])
			return exact(m, EINVAL, "STATS pad or reserved");
		m->allowed = ES(0, ENOENT);
		break;
	case K_VM_READ: {
		const struct drm_vsvm_vm_read *a = &v->vm_read;

		if (a->flags || a->reserved || !a->size ||
		    a->size > DRM_VSVM_VM_READ_MAX_SIZE ||
		    !user_range_ok(a->addr, a->size))
			return exact(m, EINVAL, "VM_READ flags, reserved or interval");
		m->allowed = ES(0, ENOENT, EACCES, EFAULT, EBUSY, ENOMEM);
		break;
	}
	default:
		break;
	}
}

/*
 * The errnos of a call: what the DRM core does with the command's size and
 * direction and the argument's place, then the ioctl's own rules on what it
 * copied in.
 */
static void model_call(struct worker *w, const struct call *c, struct model *m)
{
	unsigned int nr = _IOC_NR(c->cmd), size = _IOC_SIZE(c->cmd);
	unsigned long drv_cmd;
	unsigned int in, out, readable = 0, writable = 0, drv_size;
	union args view;
	enum kind k;

	m->rule = NULL;
	if (c->where == AT_BADFD)
		return exact(m, EBADF, "bad file descriptor");
	if (_IOC_TYPE(c->cmd) != DRM_IOCTL_BASE)
		return exact(m, ENOTTY, "not a DRM ioctl");
	if (nr < DRM_COMMAND_BASE || nr >= DRM_COMMAND_END) {
		m->allowed = eset_of(core_errnos);
		return;
	}
	k = nr - DRM_COMMAND_BASE;
	if (k >= K_DRM_CORE)
		return exact(m, EINVAL, "unknown driver ioctl");
	if (c->where == AT_WIN) {
		m->allowed = eset_of(kinds[k].loose);
		return;
	}

	drv_cmd = kinds[k].cmd;
	drv_size = _IOC_SIZE(drv_cmd);
	in = (_IOC_DIR(c->cmd) & _IOC_DIR(drv_cmd) & _IOC_WRITE) ? size : 0;
	out = (_IOC_DIR(c->cmd) & _IOC_DIR(drv_cmd) & _IOC_READ) ? size : 0;
	if (c->where == AT_PRIV)
		readable = writable = ARG_SIZE - c->off;
	else if (c->where == AT_RO)
		readable = PAGE - c->off;
	if (in > readable) {
		exact(m, EFAULT, "unreadable argument");
		if (in > 128)
			m->allowed = eset_or(m->allowed, ES(ENOMEM));
		return;
	}

	memset(&view, 0, sizeof(view));
	if (in)
		memcpy(&view, (void *)(uintptr_t)c->arg,
		       in < drv_size ? in : drv_size);
	model_vsvm(w, k, &view, m);
	if (out > writable)
		exact(m, EFAULT, "unwritable argument");
	if (in > 128 || out > 128)	/* the DRM core allocates the copy */
		m->allowed = eset_or(m->allowed, ES(ENOMEM));
}

/* --- Issuing a call ------------------------------------------------------ */

/* Write @len bytes at @dst through the kernel: no signal if it cannot. */
static void window_write(struct worker *w, uint64_t dst, const void *src,
			 size_t len)
{
	char drain[512];

	if (write(w->pipe[1], src, len) != (ssize_t)len)
		return;
	if (read(w->pipe[0], (void *)(uintptr_t)dst, len) == (ssize_t)len)
		return;
	while (read(w->pipe[0], drain, sizeof(drain)) > 0)
		;
}

/* Pick where the argument goes; window arguments hold no own address. */
static void start_call(struct worker *w, struct call *c, enum kind k)
{
	unsigned int r = below(w, 100);

	memset(c, 0, offsetof(struct call, jobs));
	c->kind = k;
	c->fdi = below(w, NFD);
	c->cmd = kinds[k].cmd;
	if (r < 3 && kinds[k].window_ok)
		c->where = AT_WIN;
	else if (r < 5)
		c->where = AT_RO;
	else if (r < 7)
		c->where = AT_BAD;
	else if (r < 8)
		c->where = AT_BADFD;
	else
		c->where = AT_PRIV;
	w->safe = c->where == AT_WIN;
}

/* Sometimes encode another size or direction in the command. */
static void mutate_cmd(struct worker *w, struct call *c, unsigned int len)
{
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE
	};
	unsigned int size = _IOC_SIZE(c->cmd), dir = _IOC_DIR(c->cmd);

	if (!chance(w, 50))
		return;
	switch (below(w, 6)) {
	case 0:
		size = below(w, len + 1);
		break;
	case 1:
		size = len + 8 * (1 + below(w, 8));
		break;
	case 2:
		size = below(w, 1 << 14);
		break;
	case 3:
		dir = dirs[below(w, 4)];
		break;
	default:
		size = below(w, 1 << 14);
		dir = dirs[below(w, 4)];
	}
	c->cmd = _IOC(dir, _IOC_TYPE(c->cmd), _IOC_NR(c->cmd), size);
}

/*
 * Issue the call built in @c (argument in c->a, @len bytes), check and count
 * its outcome. Return 0 or the errno; c->a then holds what the kernel wrote
 * back when it could be read (the argument was private, of full size).
 */
static int issue(struct worker *w, struct call *c, unsigned int len)
{
	struct model m;
	char set[256];
	void *p = NULL;
	int fd = FD_BASE + c->fdi, err;

	mutate_cmd(w, c, len);
	switch (c->where) {
	case AT_PRIV:
		c->off = chance(w, 100) ? ARG_SIZE - len : 0;
		p = w->arg + c->off;
		memcpy(p, &c->a, len);
		break;
	case AT_RO:
		c->off = chance(w, 500) ? PAGE - len : 0;
		p = w->ro_arg + c->off;
		mprotect(w->ro_arg, PAGE, PROT_READ | PROT_WRITE);
		memcpy(p, &c->a, len);
		mprotect(w->ro_arg, PAGE, PROT_READ);
		break;
	case AT_WIN:
		p = (void *)(uintptr_t)(win_addr(w) & ~7UL);
		window_write(w, (uintptr_t)p, &c->a, len);
		break;
	case AT_BAD:
		p = (void *)(uintptr_t)bad_addr(w);
		break;
	case AT_BADFD:
		p = w->arg;
		memcpy(p, &c->a, len);
		fd = BAD_FD;
		break;
	}
	c->arg = (uintptr_t)p;
	c->n = w->n++;
	model_call(w, c, &m);
	if (verbose) {
		char buf[2048];

		print_call(buf, sizeof(buf), c);
		printf("# %u.%u%s\n%s", w->p, w->t, w->in_child ? "c" : "", buf);
	}

	err = ioctl(fd, c->cmd, p) ? errno : 0;
	__atomic_fetch_add(&shared->calls, 1, __ATOMIC_RELAXED);
	count(c->kind, err);
	if (!eset_has(&m.allowed, err)) {
		eset_print(set, sizeof(set), &m.allowed);
		fail(w, "%s returned %s, expected %s%s%s", kinds[c->kind].name,
		     errname(err), set, m.rule ? " by the rule: " : "",
		     m.rule ? m.rule : "");
	}
	if (c->where == AT_PRIV && c->cmd == kinds[c->kind].cmd)
		memcpy(&c->a, p, len);
	else if (!err)
		err = -1;	/* succeeded, but nothing to read back */
	return err;
}

/* --- Ids ----------------------------------------------------------------- */

static uint32_t pick_vm(struct worker *w, int fdi)
{
	struct proc *pr = w->proc;
	unsigned int r = below(w, 20);

	if (r < 14) {
		uint32_t vm = 0;
		unsigned int i;

		for (i = 0; i < 3 && !vm; i++)	/* an id in use, if any */
			vm = LOAD(pr->vm[fdi][below(w, NVM)]);
		return vm;
	}
	if (r < 16)
		return LOAD(pr->vm[below(w, NFD)][below(w, NVM)]);
	if (r < 19)
		return below(w, 16);
	return rnd(w);
}

/* A userptr of the table (the entry's index), or a random one (-1). */
static int pick_userptr(struct worker *w, int fdi, uint32_t *vm,
			uint32_t *handle)
{
	uint64_t up = 0;
	unsigned int i, tries;

	for (tries = 0; tries < 3 && !up; tries++) {
		i = below(w, NUP);
		up = LOAD(w->proc->up[fdi][i]);
	}
	*vm = up >> 32;
	*handle = up;
	if (chance(w, 100)) {
		*vm = pick_vm(w, fdi);
		return -1;
	}
	if (chance(w, 100)) {
		*handle = below(w, 16);
		return -1;
	}
	return i;
}

static void forget(uint64_t *entry, uint64_t value)
{
	__atomic_compare_exchange_n(entry, &value, 0, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

/* A destroyed VM leaves the tables, its userptrs with it. */
static void forget_vm(struct worker *w, int fdi, uint32_t vm)
{
	unsigned int i;

	for (i = 0; i < NVM; i++)
		__atomic_compare_exchange_n(&w->proc->vm[fdi][i], &vm, 0, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	for (i = 0; i < NUP; i++) {
		uint64_t up = LOAD(w->proc->up[fdi][i]);

		if (up >> 32 == vm)
			forget(&w->proc->up[fdi][i], up);
	}
}

/* --- The ioctls ---------------------------------------------------------- */

static void op_get_info(struct worker *w, struct call *c)
{
	struct drm_vsvm_info *a = &c->a.info;
	unsigned int i;

	for (i = 0; i < sizeof(*a) / 8; i++)
		c->a.raw[i] = junk(w);	/* out only: ignored */
	if (issue(w, c, sizeof(*a)))
		return;
	if (a->version != DRM_VSVM_UAPI_VERSION || a->index >= a->num_devices ||
	    a->num_devices != ndev || a->layout > DRM_VSVM_LAYOUT_NTO1 ||
	    a->max_jobs != info.max_jobs || a->reserved[0] || a->reserved[1] ||
	    a->reserved[2] || a->reserved[3])
		fail(w, "GET_INFO returned version %u index %u of %u layout %u max_jobs %u",
		     a->version, a->index, a->num_devices, a->layout,
		     a->max_jobs);
}

static uint64_t pick_extensions(struct worker *w)
{
	struct drm_vsvm_user_extension *e = w->ext;

	if (w->safe || chance(w, 400))
		return bad_addr(w);
	e[0] = (struct drm_vsvm_user_extension){
		.next_extension = chance(w, 500) ? (uintptr_t)&e[1] : 0,
		.name = chance(w, 500) ? below(w, 4) : rnd(w),
		.pad = chance(w, 200) ? rnd(w) : 0,
	};
	e[1] = (struct drm_vsvm_user_extension){ .name = below(w, 4) };
	if (chance(w, 100))	/* runs into the guard page */
		return (uintptr_t)w->ext + PAGE - 8;
	return (uintptr_t)e;
}

static void op_vm_create(struct worker *w, struct call *c)
{
	struct drm_vsvm_vm_create *a = &c->a.vm_create;

	if (chance(w, 30))
		a->flags = 1u << below(w, 32);
	if (chance(w, 40))
		a->extensions = pick_extensions(w);
	a->vm_id = rnd(w);	/* out only */
	if (issue(w, c, sizeof(*a)))
		return;
	if (!a->vm_id)
		fail(w, "VM_CREATE returned VM id 0");
	STORE(w->proc->vm[c->fdi][below(w, NVM)], a->vm_id);
}

static void op_vm_destroy(struct worker *w, struct call *c)
{
	struct drm_vsvm_vm_destroy *a = &c->a.vm_destroy;

	a->vm_id = pick_vm(w, c->fdi);
	if (chance(w, 30))
		a->pad = rnd(w) | 1;
	if (!issue(w, c, sizeof(*a)))
		forget_vm(w, c->fdi, a->vm_id);
}

/* Addresses the kernel takes but no fault can map: they fail at run time. */
static uint64_t hole_addr(struct worker *w)
{
	static const uint64_t holes[] = { 0, 8, PAGE, 0xfff0 };

	return holes[below(w, ARRAY_SIZE(holes))];
}

/* Where a well-formed job writes: the window, sometimes nothing. */
static uint64_t job_dst(struct worker *w)
{
	return chance(w, 950) ? win_addr(w) : hole_addr(w);
}

/* Where it reads: the same, or (checksums) the fuzzer's own memory. */
static uint64_t job_src(struct worker *w, bool own)
{
	unsigned int r = below(w, 1000);

	if (own && !w->safe && r < 200)
		return own_addr(w);
	return r < 950 ? win_addr(w) : hole_addr(w);
}

/* A job size: mostly small, sometimes as far as the memory goes. */
static uint64_t job_size(struct worker *w, bool cheap)
{
	unsigned int r = below(w, 1000);

	if (cheap)
		return below(w, 257);
	if (r < 30)
		return 0;
	if (r < 60)
		return 1ULL << 40;	/* stops at the first hole */
	if (r < 130)
		return 1 + below(w, SLOT_MAX);
	if (r < 500)
		return 1 + below(w, 64 << 10);
	return 1 + below(w, PAGE);
}

/*
 * A well-formed job: the kernel takes it, it may fail at run time. Jobs
 * write to the window only; checksums also read the fuzzer's memory.
 */
static void gen_job(struct worker *w, struct drm_vsvm_job *j, bool cheap)
{
	unsigned int r = below(w, 100);

	memset(j, 0, sizeof(*j));
	j->size = job_size(w, cheap);
	if (r < 30) {
		j->op = DRM_VSVM_OP_FILL;
		j->dst = job_dst(w);
		j->value = below(w, 256);
	} else if (r < 55) {
		j->op = DRM_VSVM_OP_COPY;
		j->dst = job_dst(w);
		j->src = job_src(w, false);
	} else if (r < 75) {
		j->op = DRM_VSVM_OP_CHECKSUM;
		j->src = job_src(w, true);
		if ((j->src < WIN_BASE || j->src >= WIN_END) && j->size > PAGE)
			j->size = PAGE;	/* own memory: a little */
	} else {
		j->op = DRM_VSVM_OP_ATOMIC_ADD;
		j->dst = job_dst(w) & ~7ULL;
		j->size &= ~7ULL;
		j->value = rnd(w);
	}
	/* Out fields: ignored on input. */
	if (chance(w, 200)) {
		j->status = rnd(w);
		j->fault_addr = rnd(w);
		j->result = rnd(w);
	}
}

/* Break one rule of the UAPI in a job: the whole exec is refused. */
static void break_job(struct worker *w, struct drm_vsvm_job *j)
{
	switch (below(w, 11)) {
	case 0:
		j->flags = 1u << below(w, 32);
		break;
	case 1:
		j->pad = rnd(w) | 1;
		break;
	case 2:		/* a field the op does not use */
		if (j->op == DRM_VSVM_OP_FILL || j->op == DRM_VSVM_OP_ATOMIC_ADD)
			j->src = job_src(w, false) | 1;
		else if (j->op == DRM_VSVM_OP_CHECKSUM && chance(w, 500))
			j->dst = job_dst(w) | 1;
		else
			j->value = rnd(w) | 1;
		break;
	case 3:
		j->op = chance(w, 500) ? 0 : DRM_VSVM_OP_ATOMIC_ADD + 1 + below(w, 1000);
		break;
	case 4:
		j->op = DRM_VSVM_OP_FILL;
		j->src = 0;
		j->value = 256 + below(w, 1000);
		break;
	case 5:
		j->op = DRM_VSVM_OP_ATOMIC_ADD;
		j->src = 0;
		j->value = 0;
		j->dst |= 1 + below(w, 7);
		break;
	case 6:
		j->op = DRM_VSVM_OP_ATOMIC_ADD;
		j->src = 0;
		j->value = 0;
		j->size = (j->size & ~7ULL) + 1 + below(w, 7);
		break;
	case 7:		/* runs past the end of the address space */
		j->size = task_size_max + 1 + below(w, 1ULL << 40);
		break;
	case 8:
		j->size = ~0ULL - below(w, PAGE);
		break;
	default:	/* kernel, non-canonical, past the end */
		if (j->op == DRM_VSVM_OP_CHECKSUM) {
			j->src = task_size_max + below(w, 2) * PAGE;
			j->src = chance(w, 500) ? j->src : bad_addr(w) | 1ULL << 63;
		} else {
			j->dst = task_size_max - 8 * below(w, 512);
			j->size = task_size_max - j->dst + 8 * (1 + below(w, 8));
		}
	}
}

static unsigned int pick_njobs(struct worker *w)
{
	unsigned int r = below(w, 1000);

	if (r < 700)
		return 1 + below(w, 4);
	if (r < 900)
		return 1 + below(w, 16);
	if (r < 960)
		return 1 + below(w, info.max_jobs);
	if (r < 975)
		return 0;
	if (r < 990)
		return info.max_jobs + 1 + below(w, 4);
	return rnd(w);
}

static void check_statuses(struct worker *w, const struct drm_vsvm_job *j,
			   unsigned int n, bool in_order)
{
	struct eset ok = eset_of(job_statuses);
	bool failed = false;
	unsigned int i;

	for (i = 0; i < n; i++) {
		int e = -j[i].status;

		count(K_JOB, e >= 0 ? e : NR_ERRNO - 1);
		if (!eset_has(&ok, e))
			fail(w, "job %u of %u: status %d (%s) is not one the UAPI documents",
			     i, n, j[i].status, e >= 0 ? errname(e) : "?");
		if (in_order && failed && e != ECANCELED)
			fail(w, "job %u of %u: status %s after a failed job, not ECANCELED",
			     i, n, errname(e));
		failed |= e != 0;
	}
}

static void op_exec(struct worker *w, struct call *c)
{
	struct drm_vsvm_exec *a = &c->a.exec;
	bool async = chance(w, 300);
	unsigned int n = pick_njobs(w), gen, i, slot = 0;
	struct drm_vsvm_job *buf, tmp[RING_JOBS];
	bool cheap, broken = chance(w, 100);

	a->vm_id = pick_vm(w, c->fdi);
	a->num_jobs = n;
	a->flags = async ? DRM_VSVM_EXEC_ASYNC : 0;
	if (chance(w, 10))
		a->flags |= 2u << below(w, 31);
	if (chance(w, 10))
		a->pad = rnd(w) | 1;
	if (chance(w, 15))
		a->extensions = pick_extensions(w);
	a->seqno = rnd(w);	/* out only */
	cheap = n > 4;

	switch (below(w, 20)) {
	case 0:		/* read-only: results cannot be written back */
		gen = n < RING_JOBS ? n : RING_JOBS;
		for (i = 0; i < gen; i++)
			gen_job(w, &tmp[i], cheap);
		if (broken && gen)
			break_job(w, &tmp[below(w, gen)]);
		mprotect(w->ro_jobs, PAGE, PROT_READ | PROT_WRITE);
		memcpy(w->ro_jobs, tmp, gen * sizeof(tmp[0]));
		mprotect(w->ro_jobs, PAGE, PROT_READ);
		a->jobs = (uintptr_t)w->ro_jobs;
		buf = NULL;
		break;
	case 1:
		a->jobs = bad_addr(w);
		buf = NULL;
		gen = 0;
		break;
	case 2:		/* the last jobs before a guard page */
		gen = chance(w, 500) ? n : 1 + below(w, 4);
		gen = gen < 4 ? gen : 4;
		/* Not the private array: results come back at any WAIT. */
		if (async)
			buf = w->ring + RING_SLOTS * RING_JOBS - gen;
		else
			buf = w->jobs + info.max_jobs - gen;
		a->jobs = (uintptr_t)buf;
		break;
	default:
		if (async) {
			slot = w->ring_next++ % RING_SLOTS;
			buf = w->ring + slot * RING_JOBS;
			gen = n < RING_JOBS ? n : RING_JOBS;
		} else {
			buf = w->jobs;
			gen = n <= info.max_jobs ? n : 1;
		}
		a->jobs = (uintptr_t)buf;
	}
	if (buf) {
		for (i = 0; i < gen; i++)
			gen_job(w, &buf[i], cheap);
		if (broken && gen)
			break_job(w, &buf[below(w, gen)]);
	}
	c->njobs = gen < 2 ? gen : 2;
	if (buf)
		memcpy(c->jobs, buf, c->njobs * sizeof(c->jobs[0]));

	if (issue(w, c, sizeof(*a)))
		return;
	if (async) {
		i = below(w, NSUB);
		STORE(w->proc->sub_vm[c->fdi][i], a->vm_id);
		STORE(w->proc->sub_seqno[c->fdi][i], a->seqno);
	} else if (buf == w->jobs) {
		check_statuses(w, buf, n, true);
	}
}

static void op_wait(struct worker *w, struct call *c)
{
	struct drm_vsvm_wait *a = &c->a.wait;
	unsigned int i = 0, tries, r = below(w, 100);
	uint64_t seqno;

	for (tries = 0; tries < 3 && !a->seqno; tries++) {	/* outstanding */
		i = below(w, NSUB);
		a->vm_id = LOAD(w->proc->sub_vm[c->fdi][i]);
		a->seqno = LOAD(w->proc->sub_seqno[c->fdi][i]);
	}
	seqno = a->seqno;
	if (chance(w, 150))
		a->vm_id = pick_vm(w, c->fdi);
	if (chance(w, 150))
		a->seqno = below(w, 64);
	if (chance(w, 30))
		a->flags = 1u << below(w, 32);
	if (r < 50)
		a->timeout_ns = 0;
	else if (r < 80)
		a->timeout_ns = below(w, 2000000);
	else if (r < 97)
		a->timeout_ns = below(w, 200000000);
	else
		a->timeout_ns = -1 - (int64_t)below(w, 1000);
	if (!issue(w, c, sizeof(*a)) && a->seqno == seqno)	/* waited: done */
		forget(&w->proc->sub_seqno[c->fdi][i], seqno);
}

static void op_set_attr(struct worker *w, struct call *c)
{
	struct drm_vsvm_set_attr *a = &c->a.set_attr;
	bool own;

	a->vm_id = pick_vm(w, c->fdi);
	a->attr = chance(w, 950) ? 1 + below(w, 2) : rnd(w);
	a->value = chance(w, 950) ? below(w, 2) : rnd(w);
	a->start = interval_start(w, &own);
	a->size = interval_size(w, own);
	if (chance(w, 30))
		a->reserved = rnd(w) | 1;
	issue(w, c, sizeof(*a));
}

static void op_prefetch(struct worker *w, struct call *c)
{
	struct drm_vsvm_prefetch *a = &c->a.prefetch;
	bool own;

	a->vm_id = pick_vm(w, c->fdi);
	a->region = chance(w, 970) ? below(w, 2) : rnd(w);
	a->start = interval_start(w, &own);
	a->size = interval_size(w, own);
	if (chance(w, 100))
		a->devices = below(w, 1u << ndev);
	else if (chance(w, 30))
		a->devices = rnd(w) | 1ULL << ndev;
	issue(w, c, sizeof(*a));
}

static void op_up_create(struct worker *w, struct call *c)
{
	struct drm_vsvm_userptr_create *a = &c->a.up_create;
	unsigned int r = below(w, 100);

	a->vm_id = pick_vm(w, c->fdi);
	a->flags = chance(w, 970) ? below(w, 2) : rnd(w);
	if (r < 85)
		a->addr = page_down(win_addr(w));
	else if (r < 93)
		a->addr = page_down(bad_addr(w));
	else
		a->addr = win_addr(w) | (1 + below(w, PAGE - 1));
	r = below(w, 100);
	if (r < 80)
		a->size = (1 + below(w, SLOT_MAX / PAGE)) * PAGE;
	else if (r < 85)
		a->size = 0;
	else if (r < 90)
		a->size = (256UL << 20) + PAGE * (1 + below(w, 16));
	else if (r < 95)
		a->size = 1ULL << (40 + below(w, 24));
	else
		a->size = 1 + below(w, SLOT_MAX);
	if (chance(w, 30))
		a->pad = rnd(w) | 1;
	a->handle = rnd(w);	/* out only */
	if (issue(w, c, sizeof(*a)))
		return;
	if (!a->handle)
		fail(w, "USERPTR_CREATE returned handle 0");
	STORE(w->proc->up[c->fdi][below(w, NUP)],
	      (uint64_t)a->vm_id << 32 | a->handle);
}

static void op_up_bind(struct worker *w, struct call *c)
{
	struct drm_vsvm_userptr_bind *a = &c->a.up_bind;
	bool own;

	pick_userptr(w, c->fdi, &a->vm_id, &a->handle);
	a->gpu_va = interval_start(w, &own);
	if (chance(w, 30))
		a->reserved = rnd(w) | 1;
	issue(w, c, sizeof(*a));
}

static void op_up_destroy(struct worker *w, struct call *c)
{
	struct drm_vsvm_userptr_destroy *a = &c->a.up_destroy;
	int i = pick_userptr(w, c->fdi, &a->vm_id, &a->handle);

	if (!issue(w, c, sizeof(*a)) && i >= 0)
		forget(&w->proc->up[c->fdi][i], (uint64_t)a->vm_id << 32 | a->handle);
}

static void op_stats(struct worker *w, struct call *c)
{
	struct drm_vsvm_stats *a = &c->a.stats;
	uint32_t vm = pick_vm(w, c->fdi);
	unsigned int i;

	for (i = 0; i < sizeof(*a) / 8; i++)
		c->a.raw[i] = rnd(w);	/* out fields: ignored */
	a->vm_id = vm;
	a->pad = chance(w, 30) ? rnd(w) | 1 : 0;
	a->reserved[0] = chance(w, 20) ? rnd(w) | 1 : 0;
	a->reserved[1] = chance(w, 20) ? rnd(w) | 1 : 0;
	if (issue(w, c, sizeof(*a)))
		return;
	if (a->vm_id != vm || a->vram_used > info.vram_size ||
	    a->pad || a->reserved[0] || a->reserved[1])
		fail(w, "STATS returned vm_id %u (asked %u), vram_used %llu",
		     a->vm_id, vm, (unsigned long long)a->vram_used);
}

/*
 * Where VM_READ writes: the window, a read-only page, or nowhere. What it
 * reads lands in the window only from the window: the fuzzer's own memory
 * (its addresses) is read only into places nothing can be written to, and
 * an argument built for the window holds no own address.
 */
static void op_vm_read(struct worker *w, struct call *c)
{
	struct drm_vsvm_vm_read *a = &c->a.vm_read;
	unsigned int r = below(w, 100);
	bool to_window = r < 75;

	a->vm_id = pick_vm(w, c->fdi);
	if (to_window)
		a->data = win_addr(w);
	else if (r < 85 && !w->safe)
		a->data = (uintptr_t)w->ro_arg + below(w, PAGE);
	else
		a->data = bad_addr(w);

	r = below(w, 100);
	if (r < 75 || w->safe || to_window)
		a->addr = win_addr(w) + (r < 40 ? below(w, PAGE) : 0);
	else if (r < 90)
		a->addr = own_addr(w) + below(w, PAGE);
	else
		a->addr = r < 95 ? bad_addr(w) : hole_addr(w);

	r = below(w, 100);
	if (r < 60)
		a->size = 1 + below(w, 2 * PAGE);
	else if (r < 80)
		a->size = 1 + below(w, DRM_VSVM_VM_READ_MAX_SIZE);
	else if (r < 85)
		a->size = DRM_VSVM_VM_READ_MAX_SIZE;
	else if (r < 90)
		a->size = 0;
	else if (r < 95)
		a->size = DRM_VSVM_VM_READ_MAX_SIZE + 1 + below(w, 1 << 20);
	else
		a->size = rnd(w);
	if (chance(w, 30))
		a->flags = 1u << below(w, 32);
	if (chance(w, 30))
		a->reserved = rnd(w) | 1;
	issue(w, c, sizeof(*a));
}

static void op_drm(struct worker *w, struct call *c, bool any)
{
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE
	};
	unsigned int len, i, nr;

	if (!any) {
		c->cmd = core_cmds[below(w, ARRAY_SIZE(core_cmds))];
	} else {
		do {
			nr = chance(w, 400) ? DRM_COMMAND_BASE + below(w, 16) :
					     below(w, 256);
			c->cmd = _IOC(dirs[below(w, 4)],
				      chance(w, 980) ? DRM_IOCTL_BASE : 'V', nr,
				      chance(w, 800) ? below(w, 129) :
						       below(w, 1 << 14));
		} while (syncobj_array_cmd(c->cmd));
	}
	len = _IOC_SIZE(c->cmd);
	if (len > sizeof(c->a))
		len = sizeof(c->a);
	for (i = 0; i < sizeof(c->a) / 8; i++)
		c->a.raw[i] = junk(w);
	issue(w, c, len);
}

/* --- Memory and files under the calls ------------------------------------ */

static void remap_slot(struct worker *w, unsigned int slot)
{
	struct proc *pr = w->proc;
	void *s = (void *)(uintptr_t)slot_addr(slot);
	size_t size = (1 + below(w, SLOT_MAX / PAGE)) * PAGE;
	off_t off = below(w, (MEMFD_SIZE - SLOT_MAX) / PAGE) * PAGE;
	int flags = MAP_FIXED_NOREPLACE;
	void *p = MAP_FAILED;

	munmap(s, SLOT_MAX);
	switch (below(w, 10)) {
	case 0:		/* leave a hole */
		return;
	case 1:
		p = mmap(s, SLOT_MAX, PROT_READ | PROT_WRITE,
			 flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			madvise(p, SLOT_MAX, MADV_HUGEPAGE);
		return;
	case 2:
		p = mmap(s, size, PROT_READ, flags | MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		return;
	case 3:
		p = mmap(s, size, PROT_NONE, flags | MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		return;
	case 4:
		p = mmap(s, size, PROT_READ | PROT_WRITE, flags | MAP_SHARED,
			 pr->memfd, off);
		return;
	case 5:
		p = mmap(s, size, PROT_READ, flags | MAP_SHARED, pr->memfd, off);
		return;
	case 6:
		p = mmap(s, size, PROT_READ | PROT_WRITE, flags | MAP_PRIVATE,
			 pr->memfd, off);
		return;
	case 7:
		p = mmap(s, size, PROT_READ | PROT_WRITE,
			 flags | MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		return;
	default:
		p = mmap(s, size, PROT_READ | PROT_WRITE,
			 flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	(void)p;
}

static void reopen_file(struct worker *w)
{
	unsigned int fdi = below(w, NFD), dev = below(w, ndev), i;
	int fd = open(dev_path[dev], O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, FD_BASE + fdi);
	close(fd);
	/* Ids of the old file mean nothing (or something else) now. */
	for (i = 0; i < NVM; i++)
		STORE(w->proc->vm[fdi][i], 0);
	for (i = 0; i < NUP; i++)
		STORE(w->proc->up[fdi][i], 0);
	for (i = 0; i < NSUB; i++)
		STORE(w->proc->sub_seqno[fdi][i], 0);
}

static void run(struct worker *w, uint64_t budget);

/* A child that uses the inherited files (other process: -EACCES) and exits. */
static void fork_child(struct worker *w, uint64_t budget)
{
	uint64_t k = 1 + below(w, 16);
	int status;
	pid_t pid;

	if (w->n + k > budget)
		k = budget - w->n;
	if (!k)
		return;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		w->in_child = true;
		w->rng.s ^= 0x5bd1e9955bd1e995ULL;
		run(w, w->n + k);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		fail(w, "forked child killed by signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status))
		_exit(WEXITSTATUS(status));	/* it reported */
	w->n += k;
}

static void chaos(struct worker *w, uint64_t budget)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT,
		MADV_WILLNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTFORK,
		MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_NORMAL,
	};
	static const int prots[] = {
		PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
	};
	struct proc *pr = w->proc;
	uint64_t s = slot_addr(below(w, WIN_SLOTS));
	uint64_t a = s + below(w, SLOT_MAX / PAGE) * PAGE;
	size_t len = (1 + below(w, 64)) * PAGE;
	unsigned int r = below(w, 100);

	if (r < 30) {
		remap_slot(w, below(w, WIN_SLOTS));
	} else if (r < 44) {
		mprotect((void *)(uintptr_t)a, len, prots[below(w, 3)]);
	} else if (r < 58) {
		madvise((void *)(uintptr_t)a, len,
			advice[below(w, ARRAY_SIZE(advice))]);
	} else if (r < 72) {	/* CPU writes (zeros), through the kernel */
		if (read(pr->zerofd, (void *)(uintptr_t)a, len) < 0)
			return;
	} else if (r < 84) {	/* CPU reads, through the kernel */
		if (pwrite(pr->sinkfd, (void *)(uintptr_t)a, len, 0) < 0)
			return;
	} else if (r < 89) {
		mremap((void *)(uintptr_t)a, len, (1 + below(w, 64)) * PAGE,
		       MREMAP_MAYMOVE | MREMAP_FIXED,
		       (void *)(uintptr_t)slot_addr(below(w, WIN_SLOTS)));
	} else if (r < 96) {
		reopen_file(w);
	} else if (!w->in_child) {
		fork_child(w, budget);
	}
}

static void run(struct worker *w, uint64_t budget)
{
	struct call *c = w->c;
	unsigned int k, r;

	while (w->n < budget) {
		if (chance(w, 80))
			chaos(w, budget);
		if (w->n >= budget)
			break;
		r = below(w, 100);
		for (k = 0; r >= kinds[k].weight; k++)
			r -= kinds[k].weight;
		start_call(w, c, k);
		switch (k) {
		case K_GET_INFO:
			op_get_info(w, c);
			break;
		case K_VM_CREATE:
			op_vm_create(w, c);
			break;
		case K_VM_DESTROY:
			op_vm_destroy(w, c);
			break;
		case K_EXEC:
			op_exec(w, c);
			break;
		case K_WAIT:
			op_wait(w, c);
			break;
		case K_SET_ATTR:
			op_set_attr(w, c);
			break;
		case K_PREFETCH:
			op_prefetch(w, c);
			break;
		case K_UP_CREATE:
			op_up_create(w, c);
			break;
		case K_UP_BIND:
			op_up_bind(w, c);
			break;
		case K_UP_DESTROY:
			op_up_destroy(w, c);
			break;
		case K_STATS:
			op_stats(w, c);
			break;
		case K_VM_READ:
			op_vm_read(w, c);
			break;
		default:
			op_drm(w, c, k == K_DRM_ANY);
		}
	}
}

/* --- Processes and threads ----------------------------------------------- */

/* @size bytes, then an inaccessible guard page. */
static void *map_guarded(size_t size)
{
	char *p = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	mprotect(p + size, PAGE, PROT_NONE);
	return p;
}

struct thread_arg {
	struct proc *proc;
	unsigned int t;
	uint64_t budget;
};

static void *worker_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct worker w = {
		.proc = ta->proc,
		.p = ta->proc->index,
		.t = ta->t,
		.rng = { seed ^ ((uint64_t)(ta->proc->index * MAX_THREADS + ta->t + 1) << 48) },
	};

	w.arg = map_guarded(ARG_SIZE);
	w.ro_arg = map_guarded(PAGE);
	w.ro_jobs = map_guarded(PAGE);
	w.jobs = map_guarded(info.max_jobs * sizeof(struct drm_vsvm_job));
	w.ring = map_guarded(RING_SLOTS * RING_JOBS * sizeof(struct drm_vsvm_job));
	w.ext = map_guarded(PAGE);
	mprotect(w.ro_arg, PAGE, PROT_READ);
	mprotect(w.ro_jobs, PAGE, PROT_READ);
	if (pipe2(w.pipe, O_NONBLOCK | O_CLOEXEC)) {
		perror("pipe2");
		exit(2);
	}
	w.c = &shared->cur[w.p][w.t];
	cur_worker = &w;
	run(&w, ta->budget);
	return NULL;
}

static void window_init(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < WIN_SLOTS; i++)
		remap_slot(w, i);
}

static void __attribute__((noreturn)) worker_process(unsigned int p)
{
	struct proc pr = { .index = p };
	struct thread_arg ta[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	struct worker setup = {
		.proc = &pr, .p = p, .rng = { seed ^ (uint64_t)(p + 1) << 56 },
	};
	unsigned int t, i;
	uint64_t workers = (uint64_t)nprocs * nthreads;

	/* Files 0 and 1 are shared by all processes, 2 and 3 are our own. */
	for (i = 2; i < NFD; i++) {
		int fd = open(dev_path[i % ndev], O_RDWR | O_CLOEXEC);

		if (fd < 0 || dup2(fd, FD_BASE + i) < 0) {
			perror("open");
			_exit(2);
		}
		close(fd);
	}
	pr.memfd = memfd_create("vsvm_fuzz", MFD_CLOEXEC);
	pr.sinkfd = memfd_create("vsvm_fuzz_sink", MFD_CLOEXEC);
	pr.zerofd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (pr.memfd < 0 || pr.sinkfd < 0 || pr.zerofd < 0 ||
	    ftruncate(pr.memfd, MEMFD_SIZE)) {
		perror("memfd");
		_exit(2);
	}
	window_init(&setup);

	for (t = 0; t < nthreads; t++) {
		uint64_t idx = (uint64_t)p * nthreads + t;

		ta[t] = (struct thread_arg){
			.proc = &pr, .t = t,
			.budget = total_calls / workers + (idx < total_calls % workers),
		};
		if (pthread_create(&tid[t], NULL, worker_thread, &ta[t])) {
			perror("pthread_create");
			_exit(2);
		}
	}
	for (t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	_exit(0);
}

/* --- Main ---------------------------------------------------------------- */

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SEED] [-n CALLS] [-p PROCS (1-%d)] [-t THREADS (1-%d)] [-v]\n",
		prog, MAX_PROCS, MAX_THREADS);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_devices(void)
{
	int n = vsvm_num_devices(), i;

	if (n <= 0 || n > (int)ARRAY_SIZE(dev_path))
		return -ENODEV;
	ndev = n;
	for (i = 0; i < n; i++) {
		struct vsvm_dev dev;
		char link[64];
		ssize_t len;
		int err = vsvm_open(i, &dev);

		if (err)
			return err;
		if (!i)
			info = dev.info;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dev.fd);
		len = readlink(link, dev_path[i], sizeof(dev_path[i]) - 1);
		if (len < 0)
			return -errno;
		dev_path[i][len] = 0;
		/* Files 0 and 1, shared by every process. */
		if (i < 2 && dup2(dev.fd, FD_BASE + i) < 0)
			return -errno;
		if (n == 1 && dup2(dev.fd, FD_BASE + 1) < 0)
			return -errno;
		vsvm_close(&dev);
	}
	return 0;
}

/* Devices on one interconnect (vsvm's ``interconnect`` parameter). */
static void read_interconnect(void)
{
	FILE *f = fopen("/sys/module/vsvm/parameters/interconnect", "r");

	if (!f)
		return;
	if (fscanf(f, "%lu", &interconnect) != 1)
		interconnect = 0;
	fclose(f);
}

/* 4- or 5-level page tables: where user space ends. */
static void probe_task_size(void)
{
	void *p = mmap((void *)(1UL << 50), PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	task_size_max = (1ULL << 47) - PAGE;
	if (p != MAP_FAILED) {
		task_size_max = (1ULL << 56) - PAGE;
		munmap(p, PAGE);
	}
}

static void print_counts(void)
{
	unsigned int k;
	int e;

	for (k = 0; k < NR_COUNTED; k++) {
		char line[1024];
		uint64_t total = 0;
		size_t n;

		for (e = 0; e < NR_ERRNO; e++)
			total += shared->count[k][e];
		n = snprintf(line, sizeof(line), "# %-16s %8" PRIu64 ":",
			     k < NR_KINDS ? kinds[k].name : "job status", total);
		for (e = 0; e < NR_ERRNO && n < sizeof(line); e++)
			if (shared->count[k][e])
				n += snprintf(line + n, sizeof(line) - n, " %s %" PRIu64,
					      e ? errname(e) : "ok",
					      shared->count[k][e]);
		puts(line);
	}
}

/* Wait for the workers; a failure or a stall kills the others. */
static int supervise(pid_t *pids)
{
	uint64_t last = 0;
	double last_change = now();
	unsigned int left = nprocs, p, t;
	int status, result = 0;
	bool stalled = false;

	while (left) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			for (p = 0; p < nprocs && pids[p] != pid; p++)
				;
			if (p == nprocs)
				continue;
			pids[p] = 0;
			left--;
			if (WIFSIGNALED(status)) {
				printf("# process %u killed by signal %d\n", p,
				       WTERMSIG(status));
				result = 1;
			} else if (WEXITSTATUS(status)) {
				printf("# process %u failed (exit %d)\n", p,
				       WEXITSTATUS(status));
				result = 1;
			}
			if (result)
				break;
			continue;
		}
		usleep(100000);
		if (LOAD(shared->calls) != last) {
			last = LOAD(shared->calls);
			last_change = now();
		} else if (now() - last_change > STALL_SECS) {
			char buf[2048];

			printf("# STALL: no call finished in %d s, the calls in progress:\n",
			       STALL_SECS);
			for (p = 0; p < nprocs; p++)
				for (t = 0; t < nthreads; t++) {
					print_call(buf, sizeof(buf), &shared->cur[p][t]);
					printf("# process %u thread %u\n%s", p, t, buf);
				}
			repro(buf, sizeof(buf));
			fputs(buf, stdout);
			result = 1;
			stalled = true;
			break;
		}
	}
	for (p = 0; p < nprocs; p++)
		if (pids[p])
			kill(pids[p], SIGKILL);
	/* Every process gone, children of killed ones too: the files close. */
	while (!stalled && (waitpid(-1, &status, 0) > 0 || errno == EINTR))
		;
	return result;
}

int main(int argc, char **argv)
{
	static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa = { .sa_handler = crash_handler };
	pid_t pids[MAX_PROCS] = { 0 };
	unsigned int p, i;
	double t0, secs;
	int opt, err, result;

	seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ getpid();
	while ((opt = getopt(argc, argv, "s:n:p:t:vh")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			total_calls = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			nprocs = atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || !nprocs || nprocs > MAX_PROCS || !nthreads ||
	    nthreads > MAX_THREADS)
		usage(argv[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..1\n");
	printf("# vsvm_fuzz -s %#" PRIx64 " -n %" PRIu64 " -p %u -t %u\n", seed,
	       total_calls, nprocs, nthreads);
	err = open_devices();
	if (err) {
		printf("not ok 1 vsvm_fuzz: no vsvm device (%s)\n", errname(-err));
		return 1;
	}
	probe_task_size();
	read_interconnect();
	vdso = getauxval(AT_SYSINFO_EHDR);
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(crash_signals); i++)
		sigaction(crash_signals[i], &sa, NULL);
	/* Orphans (children of killed workers) become ours to wait for. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	printf("# %u devices, layout %s, VRAM %llu MiB, user space ends at %#" PRIx64 "\n",
	       ndev, vsvm_layout_name(info.layout),
	       (unsigned long long)info.vram_size >> 20, task_size_max);

	t0 = now();
	for (p = 0; p < nprocs; p++) {
		fflush(stdout);
		pids[p] = fork();
		if (pids[p] < 0) {
			perror("fork");
			return 2;
		}
		if (!pids[p])
			worker_process(p);
	}
	close(FD_BASE);
	close(FD_BASE + 1);
	result = supervise(pids);
	secs = now() - t0;

	print_counts();
	if (result || LOAD(shared->failed)) {
		printf("not ok 1 vsvm_fuzz: seed %#" PRIx64 ", a finding above (%" PRIu64 " calls made)\n",
		       seed, LOAD(shared->calls));
		return 1;
	}
	printf("ok 1 vsvm_fuzz: seed %#" PRIx64 ", %" PRIu64 " calls by %u processes x %u threads in %.1f s, %.0f calls/s\n",
	       seed, LOAD(shared->calls), nprocs, nthreads, secs,
	       LOAD(shared->calls) / secs);
	return 0;
}
