// SPDX-License-Identifier: GPL-2.0
/*
 * Reliability of vsvm under memory cgroups and abrupt teardown:
 *
 * - memcg_charge: what the GPU fault path allocates for a process (page-table
 *   leaves, ranges, DMA address arrays, CPU page tables) is charged to the
 *   process's memory cgroup, although faults are serviced by a worker, and
 *   leaves it with the VM.
 * - oom: a process GPU-faulting far more memory than its cgroup's memory.max
 *   is OOM-killed (SIGKILL), also when the memory goes to VRAM; the device
 *   then works and its VRAM is free again.
 * - kill9: processes SIGKILLed at random points of GPU jobs, prefetches and
 *   CPU touches of VRAM-resident memory die promptly, and leave nothing.
 *
 * make check runs it once per GPU SVM layout; the cgroup tests skip without
 * cgroup v2 and its memory controller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sysfile.h"
#include "vsvm.h"

#define SZ_4K	4096UL
#define SZ_1M	(1UL << 20)
#define SZ_2M	(2UL << 20)

#define CG_ROOT	"/sys/fs/cgroup"
#define VSVM_MAX_TEST_DEVICES	8

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* @size bytes of anonymous memory at a 2 MiB boundary (leaked on purpose). */
static char *map_anon_2m(size_t size)
{
	char *p = map_anon(size + SZ_2M);

	if (!p)
		return NULL;
	return (char *)(((unsigned long)p + SZ_2M - 1) & ~(SZ_2M - 1));
}

static void *map_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * cgroup v2 with the memory controller, enabled for the root's children.
 * Returns NULL when it is there, else why not (the tests skip).
 */
static const char *memcg_unavailable(void)
{
	char buf[512];

	if (sysfile_read(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) < 0)
		return "no cgroup v2 at " CG_ROOT;
	if (!strstr(buf, "memory"))
		return "no memory controller";
	if (sysfile_write(CG_ROOT "/cgroup.subtree_control", "+memory"))
		return "cannot enable the memory controller";
	return NULL;
}

/* Make the child cgroup gpusvm-NAME-PID; its path goes to @path. */
static int cg_create(const char *name, char *path, size_t size)
{
	snprintf(path, size, CG_ROOT "/gpusvm-%s-%d", name, getpid());
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int cg_write(const char *cg, const char *file, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	return sysfile_write(path, value);
}

/* The value of @key in the "key value" lines of @cg's @file, or -1. */
static long long cg_read_key(const char *cg, const char *file, const char *key)
{
	char path[256], buf[8192], *line;
	size_t len = strlen(key);

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	if (sysfile_read(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = buf; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, key, len) && line[len] == ' ')
			return atoll(line + len + 1);
	}
	return -1;
}

/* Move the calling process into @cg. */
static int cg_enter(const char *cg)
{
	return cg_write(cg, "cgroup.procs", "0");
}

/* Remove @cg once its last process is reaped (it may take a moment). */
static int cg_remove(const char *cg)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (!rmdir(cg) || errno == ENOENT)
			return 0;
		usleep(20000);
	}
	return -errno;
}

/* Wait up to @timeout_s for @pid; its status in @status, -ETIME if alive. */
static int wait_timeout(pid_t pid, int *status, double timeout_s)
{
	double end = now_s() + timeout_s;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0)
			return -errno;
		if (now_s() > end)
			return -ETIME;
		usleep(1000);
	}
}

/* VRAM in use on the device of @dev, through a VM of it. */
static uint64_t vram_used(struct vsvm_dev *dev, uint32_t vm)
{
	struct drm_vsvm_stats s;

	memset(&s, 0, sizeof(s));
	return vsvm_stats(dev, vm, &s) ? ~0ULL : s.vram_used;
}

/* Poll until the device's VRAM use is at most @baseline (up to 5 s). */
static uint64_t vram_settle(struct vsvm_dev *dev, uint32_t vm,
			    uint64_t baseline)
{
	double end = now_s() + 5;
	uint64_t used;

	while ((used = vram_used(dev, vm)) > baseline && now_s() < end)
		usleep(10000);
	return used;
}

/* The device works: fill, check on the CPU, checksum. */
static int device_works(struct vsvm_dev *dev, uint32_t vm)
{
	const size_t size = 4 * SZ_1M;
	unsigned char *p = map_anon(size);
	uint64_t sum;
	size_t i;
	int err;

	if (!p)
		return -ENOMEM;
	err = vsvm_fill(dev, vm, p, 0xa5, size);
	for (i = 0; !err && i < size; i++)
		if (p[i] != 0xa5)
			err = -EIO;
	if (!err)
		err = vsvm_checksum(dev, vm, p, size, &sum);
	if (!err && sum != vsvm_fnv1a(p, size))
		err = -EILSEQ;
	munmap(p, size);
	return err;
}

/*
 * memcg_charge: a process in its own cgroup GPU-faults CHARGE_SLOTS fresh
 * 2 MiB slots of never-touched memory (reads: the zero page, so no user
 * memory is charged) and a userptr. Each slot costs at least one 4 KiB
 * page-table leaf, all allocated by the fault worker; the cgroup's "kernel"
 * counter (memory.stat) must grow by at least that, and fall back by as
 * much once the VM is destroyed.
 */
#define CHARGE_SLOTS		256
#define CHARGE_UP_SIZE		(32 * SZ_1M)
#define CHARGE_MIN		((long long)CHARGE_SLOTS * SZ_4K)

struct charge_result {
	int line;		/* where the worker failed, 0: it did not */
	int err;
	long long base;		/* "kernel" before the GPU faults */
	long long peak;		/* after them */
	long long after;	/* after VM_DESTROY and munmap */
	uint64_t faults;
};

#define CHARGE_CHECK(res, expr) do { \
	int __e = (expr); \
	if (__e) { \
		(res)->line = __LINE__; \
		(res)->err = __e; \
		_exit(1); \
	} \
} while (0)

static void charge_worker(const char *cg, struct charge_result *res)
{
	const unsigned int n = CHARGE_SLOTS + CHARGE_UP_SIZE / SZ_2M;
	struct drm_vsvm_stats stats;
	struct drm_vsvm_job *jobs;
	struct vsvm_dev dev;
	char *buf, *ubuf;
	uint32_t vm, up;
	unsigned int i;

	CHARGE_CHECK(res, cg_enter(cg));
	CHARGE_CHECK(res, vsvm_open(0, &dev));
	CHARGE_CHECK(res, vsvm_vm_create(&dev, &vm));
	buf = map_anon_2m(CHARGE_SLOTS * SZ_2M);
	ubuf = map_anon_2m(CHARGE_UP_SIZE);
	jobs = calloc(n, sizeof(*jobs));
	CHARGE_CHECK(res, !buf || !ubuf || !jobs ? -ENOMEM : 0);
	CHARGE_CHECK(res, vsvm_userptr_create(&dev, vm, ubuf, CHARGE_UP_SIZE,
					      0, &up));
	CHARGE_CHECK(res, vsvm_userptr_bind(&dev, vm, up,
					    (uintptr_t)ubuf));
	for (i = 0; i < n; i++) {
		char *p = i < CHARGE_SLOTS ? buf + i * SZ_2M :
			  ubuf + (i - CHARGE_SLOTS) * SZ_2M;

		jobs[i].op = DRM_VSVM_OP_CHECKSUM;
		jobs[i].src = (uintptr_t)p;
		jobs[i].size = 8;
	}

	res->base = cg_read_key(cg, "memory.stat", "kernel");
	CHARGE_CHECK(res, vsvm_exec(&dev, vm, jobs, n));
	CHARGE_CHECK(res, vsvm_jobs_status(jobs, n));
	res->peak = cg_read_key(cg, "memory.stat", "kernel");
	CHARGE_CHECK(res, vsvm_stats(&dev, vm, &stats));
	res->faults = stats.faults;

	CHARGE_CHECK(res, vsvm_userptr_destroy(&dev, vm, up));
	CHARGE_CHECK(res, vsvm_vm_destroy(&dev, vm));
	munmap(buf, CHARGE_SLOTS * SZ_2M);
	munmap(ubuf, CHARGE_UP_SIZE);
	res->after = cg_read_key(cg, "memory.stat", "kernel");
	vsvm_close(&dev);
	_exit(0);
}

TEST(memcg_charge)
{
	struct charge_result *res = map_shared(sizeof(*res));
	const char *why = memcg_unavailable();
	char cg[128];
	int status;
	pid_t pid;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_NE(NULL, res);
	ASSERT_EQ(0, cg_create("charge", cg, sizeof(cg)));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		charge_worker(cg, res);
	ASSERT_EQ(0, wait_timeout(pid, &status, 60));
	EXPECT_EQ(0, cg_remove(cg));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("worker failed at line %d: %d (%s)", res->line,
		       res->err, strerror(-res->err));
	TH_LOG("memory.stat kernel: %lld before the faults, %lld after (+%lld), %lld after VM_DESTROY; %llu GPU faults",
	       res->base, res->peak, res->peak - res->base, res->after,
	       (unsigned long long)res->faults);
	ASSERT_LE(0, res->base);
	/* One fault per slot, one for the whole userptr. */
	EXPECT_EQ(CHARGE_SLOTS + 1, res->faults);
	/* Charged to the process's cgroup although a worker allocated it... */
	EXPECT_GE(res->peak - res->base, CHARGE_MIN);
	/* ... and uncharged with the VM. */
	EXPECT_GE(res->peak - res->after, CHARGE_MIN);
}

/*
 * oom: a process in a cgroup with memory.max = OOM_LIMIT GPU-fills OOM_SIZE
 * of anonymous memory. The memory a GPU fault brings in is charged to the
 * process's cgroup (device-private VRAM pages too): the cgroup's OOM killer
 * kills the process, exactly as for a CPU fault (see DOC: Memory cgroups).
 */
#define OOM_LIMIT	"32M"
#define OOM_SIZE	(128 * SZ_1M)

FIXTURE(oom)
{
	struct vsvm_dev dev;
	uint32_t vm;
	char cg[128];
};

FIXTURE_VARIANT(oom)
{
	uint32_t preferred_loc;	/* DRM_VSVM_LOC_* of the buffer */
	bool prefetch;		/* prefetch it to the device first */
};

FIXTURE_VARIANT_ADD(oom, system)
{
	.preferred_loc = DRM_VSVM_LOC_SYSTEM,
};

FIXTURE_VARIANT_ADD(oom, preferred_device)
{
	.preferred_loc = DRM_VSVM_LOC_DEVICE,
};

FIXTURE_VARIANT_ADD(oom, prefetch_device)
{
	.preferred_loc = DRM_VSVM_LOC_DEVICE,
	.prefetch = true,
};

FIXTURE_SETUP(oom)
{
	self->dev.fd = -1;
}

FIXTURE_TEARDOWN(oom)
{
	if (self->cg[0])
		EXPECT_EQ(0, cg_remove(self->cg));
	if (self->dev.fd >= 0) {
		EXPECT_EQ(0, vsvm_vm_destroy(&self->dev, self->vm));
		vsvm_close(&self->dev);
	}
}

/* The child: exits 0 if the fill completed, 10 + step if a step failed. */
static void oom_worker(const char *cg, const FIXTURE_VARIANT(oom) *variant)
{
	struct vsvm_dev dev;
	uint32_t vm;
	char *buf;

	if (cg_enter(cg) || vsvm_open(0, &dev) || vsvm_vm_create(&dev, &vm))
		_exit(10);
	buf = map_anon_2m(OOM_SIZE);
	if (!buf)
		_exit(11);
	if (variant->preferred_loc != DRM_VSVM_LOC_SYSTEM &&
	    vsvm_set_attr(&dev, vm, buf, OOM_SIZE,
			  DRM_VSVM_ATTR_PREFERRED_LOC, variant->preferred_loc))
		_exit(12);
	if (variant->prefetch &&
	    vsvm_prefetch(&dev, vm, buf, OOM_SIZE, DRM_VSVM_LOC_DEVICE))
		_exit(13);
	if (vsvm_fill(&dev, vm, buf, 0x5a, OOM_SIZE))
		_exit(14);
	_exit(0);
}

TEST_F_TIMEOUT(oom, gpu_fault_past_memory_max, 120)
{
	const char *why = memcg_unavailable();
	uint64_t vram0, vram1;
	double t0;
	int status;
	pid_t pid;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vsvm_open(0, &self->dev));
	ASSERT_EQ(0, vsvm_vm_create(&self->dev, &self->vm));
	if (variant->preferred_loc == DRM_VSVM_LOC_DEVICE &&
	    !self->dev.info.vram_size)
		SKIP(return, "no device memory");
	ASSERT_EQ(0, cg_create("oom", self->cg, sizeof(self->cg)));
	ASSERT_EQ(0, cg_write(self->cg, "memory.max", OOM_LIMIT));
	/* No swap to escape to (the file exists only with swap support). */
	cg_write(self->cg, "memory.swap.max", "0");

	vram0 = vram_used(&self->dev, self->vm);
	t0 = now_s();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		oom_worker(self->cg, variant);
	ASSERT_EQ(0, wait_timeout(pid, &status, 90)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	TH_LOG("child %s %d after %.2f s; memory.events: oom_kill %lld, max %lld",
	       WIFSIGNALED(status) ? "killed by signal" : "exited with",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
	       now_s() - t0,
	       cg_read_key(self->cg, "memory.events", "oom_kill"),
	       cg_read_key(self->cg, "memory.events", "max"));
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));
	/* The cgroup's OOM killer did it. */
	EXPECT_LE(1, cg_read_key(self->cg, "memory.events", "oom_kill"));
	/* The device works for others, and the child's VRAM is free. */
	EXPECT_EQ(0, device_works(&self->dev, self->vm));
	vram1 = vram_settle(&self->dev, self->vm, vram0);
	EXPECT_EQ(vram0, vram1);
}

/*
 * kill9: KILL9_ROUNDS children run GPU work on every device (async and sync
 * jobs over buffers preferring VRAM and system memory, prefetches to VRAM
 * and back, CPU touches migrating VRAM pages back), and each is SIGKILLed
 * after a random 10-300 ms (seeded: VSVM_KILL_SEED reproduces a run). Each
 * must be dead within KILL9_BOUND_S of the signal; then every device works
 * and its VRAM use is back to where it was.
 */
#define KILL9_ROUNDS	20
#define KILL9_BOUND_S	2.0
#define KILL9_SIZE	(16 * SZ_1M)

static void kill9_worker(int ready_fd, unsigned int seed)
{
	struct vsvm_dev dev[VSVM_MAX_TEST_DEVICES];
	uint32_t vm[VSVM_MAX_TEST_DEVICES];
	char *buf[VSVM_MAX_TEST_DEVICES];
	int i, n = vsvm_num_devices();
	uint64_t seqno;

	if (n <= 0)
		_exit(10);
	if (n > VSVM_MAX_TEST_DEVICES)
		n = VSVM_MAX_TEST_DEVICES;
	for (i = 0; i < n; i++) {
		if (vsvm_open(i, &dev[i]) || vsvm_vm_create(&dev[i], &vm[i]))
			_exit(11);
		buf[i] = map_anon_2m(KILL9_SIZE);
		if (!buf[i])
			_exit(12);
		/* The first half prefers VRAM (no-op without). */
		vsvm_set_attr(&dev[i], vm[i], buf[i], KILL9_SIZE / 2,
			      DRM_VSVM_ATTR_PREFERRED_LOC, DRM_VSVM_LOC_DEVICE);
	}
	if (write(ready_fd, "r", 1) != 1)
		_exit(13);
	for (;;) {
		for (i = 0; i < n; i++) {
			struct drm_vsvm_job jobs[3] = {
				{ .op = DRM_VSVM_OP_FILL,
				  .dst = (uintptr_t)buf[i],
				  .size = KILL9_SIZE, .value = seed & 0xff },
				{ .op = DRM_VSVM_OP_COPY,
				  .dst = (uintptr_t)buf[i],
				  .src = (uintptr_t)buf[i] + KILL9_SIZE / 2,
				  .size = KILL9_SIZE / 2 },
				{ .op = DRM_VSVM_OP_CHECKSUM,
				  .src = (uintptr_t)buf[i],
				  .size = KILL9_SIZE },
			};
			bool async = !vsvm_submit(&dev[i], vm[i], jobs, 3,
						  &seqno);

			vsvm_fill(&dev[i], vm[i], buf[i] + KILL9_SIZE / 2,
				  seed >> 8, KILL9_SIZE / 2);
			vsvm_prefetch(&dev[i], vm[i], buf[i], KILL9_SIZE,
				      DRM_VSVM_LOC_DEVICE);
			/* CPU touches bring VRAM pages back. */
			memset(buf[i], i, KILL9_SIZE / 4);
			vsvm_prefetch(&dev[i], vm[i], buf[i], KILL9_SIZE,
				      DRM_VSVM_LOC_SYSTEM);
			if (async)
				vsvm_wait(&dev[i], vm[i], seqno, 10000000000LL);
			seed = seed * 1103515245 + 12345;
		}
	}
}

FIXTURE(kill9)
{
};

FIXTURE_SETUP(kill9)
{
}

FIXTURE_TEARDOWN(kill9)
{
}

TEST_F_TIMEOUT(kill9, during_faults_and_migrations, 300)
{
	struct vsvm_dev dev[VSVM_MAX_TEST_DEVICES];
	uint64_t vram0[VSVM_MAX_TEST_DEVICES];
	uint32_t vm[VSVM_MAX_TEST_DEVICES];
	const char *env = getenv("VSVM_KILL_SEED");
	unsigned int seed = env ? strtoul(env, NULL, 0) : time(NULL);
	int i, round, n = vsvm_num_devices();
	double worst = 0;

	TH_LOG("seed %u (VSVM_KILL_SEED=%u reproduces it)", seed, seed);
	ASSERT_LT(0, n);
	if (n > VSVM_MAX_TEST_DEVICES)
		n = VSVM_MAX_TEST_DEVICES;
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, vsvm_open(i, &dev[i]));
		ASSERT_EQ(0, vsvm_vm_create(&dev[i], &vm[i]));
		vram0[i] = vram_used(&dev[i], vm[i]);
	}
	srand(seed);
	for (round = 0; round < KILL9_ROUNDS; round++) {
		unsigned int delay_ms = 10 + rand() % 291;
		int fds[2], status, err;
		double t;
		char c;
		pid_t pid;

		ASSERT_EQ(0, pipe(fds));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(fds[0]);
			kill9_worker(fds[1], rand());
		}
		close(fds[1]);
		/* Ready: every VM exists; the work starts now. */
		EXPECT_EQ(1, read(fds[0], &c, 1)) TH_LOG("round %d: worker died", round);
		close(fds[0]);
		usleep(delay_ms * 1000);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		t = now_s();
		err = wait_timeout(pid, &status, KILL9_BOUND_S);
		t = now_s() - t;
		if (err) {
			waitpid(pid, &status, 0);
			TH_LOG("round %d: alive %.2f s after SIGKILL at %u ms (dead after %.2f s)",
			       round, KILL9_BOUND_S, delay_ms, now_s() - t);
		}
		ASSERT_EQ(0, err);
		ASSERT_TRUE(WIFSIGNALED(status));
		ASSERT_EQ(SIGKILL, WTERMSIG(status));
		if (t > worst)
			worst = t;
	}
	TH_LOG("%d children killed, slowest dead %.3f s after SIGKILL",
	       KILL9_ROUNDS, worst);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0, device_works(&dev[i], vm[i]));
		EXPECT_EQ(vram0[i], vram_settle(&dev[i], vm[i], vram0[i]))
			TH_LOG("device %d: VRAM still in use", i);
		EXPECT_EQ(0, vsvm_vm_destroy(&dev[i], vm[i]));
		vsvm_close(&dev[i]);
	}
}

TEST_HARNESS_MAIN
