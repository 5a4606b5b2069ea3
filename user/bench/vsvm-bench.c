// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm-bench: vsvm side by side with the kernel's own HMM test driver
 * (test_hmm, "dmirror") doing the same work on the same kind of memory, in
 * the same VM run. Prints the median of several rounds per workload and the
 * ratio; absolute times in an emulated VM mean little, the ratio is the
 * result.
 *
 * Workloads over SIZE bytes of CPU-populated anonymous memory:
 *   first read   the device faults the pages in and reads them (vsvm:
 *                checksum job; dmirror: HMM_DMIRROR_READ into a buffer)
 *   second read  the same again, pages already mapped
 *   to device    migrate to device memory (vsvm: prefetch to VRAM;
 *                dmirror: HMM_DMIRROR_MIGRATE_TO_DEV)
 *   CPU back     the CPU writes every page: migration back to RAM
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test_hmm_uapi.h"
#include "vsvm.h"

#define SIZE	(64UL << 20)
#define ROUNDS	5

enum { FIRST_READ, SECOND_READ, TO_DEVICE, CPU_BACK, NWORK };
static const char *const work_name[NWORK] = {
	"first read (fault + map + read)", "second read (mapped)",
	"migrate to device memory", "CPU write: migrate back",
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp_double);
	return v[ROUNDS / 2];
}

static char *fresh_buffer(void)
{
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, SIZE);
	return p;
}

static int dmirror(int fd, unsigned long req, void *addr, void *bounce)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)bounce,
		.npages = SIZE / 4096,
	};

	return ioctl(fd, req, &cmd) ? -errno : 0;
}

static void cpu_write_all(char *p)
{
	size_t off;

	for (off = 0; off < SIZE; off += 4096)
		p[off] = 1;
}

int main(void)
{
	double t_vsvm[NWORK][ROUNDS], t_hmm[NWORK][ROUNDS], t;
	struct vsvm_dev dev;
	char *bounce, *p;
	uint64_t sum;
	uint32_t vm;
	int fd, r, w, err = 0;

	if (vsvm_open(0, &dev) || vsvm_vm_create(&dev, &vm)) {
		fprintf(stderr, "no vsvm device\n");
		return 1;
	}
	if (!dev.info.vram_size || dev.info.vram_size < SIZE) {
		fprintf(stderr, "vsvm needs at least %lu MiB of VRAM\n", SIZE >> 20);
		return 1;
	}
	fd = open("/dev/hmm_dmirror0", O_RDWR);
	bounce = malloc(SIZE);
	if (fd < 0 || !bounce) {
		fprintf(stderr, "no test_hmm device (/dev/hmm_dmirror0)\n");
		return 1;
	}

	for (r = 0; r < ROUNDS && !err; r++) {
		p = fresh_buffer();
		t = now();
		err |= vsvm_checksum(&dev, vm, p, SIZE, &sum);
		t_vsvm[FIRST_READ][r] = now() - t;
		t = now();
		err |= vsvm_checksum(&dev, vm, p, SIZE, &sum);
		t_vsvm[SECOND_READ][r] = now() - t;
		t = now();
		err |= vsvm_prefetch(&dev, vm, p, SIZE, DRM_VSVM_LOC_DEVICE);
		t_vsvm[TO_DEVICE][r] = now() - t;
		t = now();
		cpu_write_all(p);
		t_vsvm[CPU_BACK][r] = now() - t;
		munmap(p, SIZE);

		p = fresh_buffer();
		t = now();
		err |= dmirror(fd, HMM_DMIRROR_READ, p, bounce);
		t_hmm[FIRST_READ][r] = now() - t;
		t = now();
		err |= dmirror(fd, HMM_DMIRROR_READ, p, bounce);
		t_hmm[SECOND_READ][r] = now() - t;
		t = now();
		err |= dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, bounce);
		t_hmm[TO_DEVICE][r] = now() - t;
		t = now();
		cpu_write_all(p);
		t_hmm[CPU_BACK][r] = now() - t;
		munmap(p, SIZE);
	}
	if (err) {
		fprintf(stderr, "a workload failed\n");
		return 1;
	}

	printf("%lu MiB of anonymous memory, median of %d rounds, one VM run\n",
	       SIZE >> 20, ROUNDS);
	printf("%-34s %12s %12s %8s\n", "workload", "vsvm ms", "test_hmm ms",
	       "ratio");
	for (w = 0; w < NWORK; w++) {
		double a = median(t_vsvm[w]) * 1e3, b = median(t_hmm[w]) * 1e3;

		printf("%-34s %12.1f %12.1f %8.2f\n", work_name[w], a, b, a / b);
	}
	vsvm_close(&dev);
	close(fd);
	return 0;
}
