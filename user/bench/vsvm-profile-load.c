// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm-profile-load: the workloads make profile runs under ftrace's
 * function profiler (vm/guest/profile), each the work of one bench figure
 * alone, on one side, with nothing else in the process:
 *
 *   vsvm-profile-load read NODE SIZE_KIB ROUNDS
 *	ROUNDS times: a fresh CPU-written buffer (THP off), a first READ and
 *	a warm READ through NODE (the dmirror ABI: /dev/vsvm_dmirror0,
 *	/dev/hmm_dmirror0 or /dev/vsvm_floor0), then munmap(): figures 1-3.
 *   vsvm-profile-load migrate NODE SIZE_KIB ROUNDS
 *	the same with MIGRATE_TO_DEV for the first access: figure 4.
 *   vsvm-profile-load prefetch NDEV SIZE_KIB ROUNDS
 *	ROUNDS prefetches of a fresh buffer naming vsvm devices 0..NDEV-1
 *	(N:1 layout): figure 5's map.
 *
 * It prints the mean time per round of each step and checks the data read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test_hmm_uapi.h"
#include "vsvm.h"

#define SZ_2M		(2UL << 20)
#define VSVM_MAX_PROFILE_DEVICES	8

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "vsvm-profile-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A 2 MiB-aligned buffer of small pages, every byte @seed. */
static char *fresh_buffer(size_t size, int seed)
{
	char *p = mmap(NULL, size + SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + SZ_2M - a);
	if (madvise(a, size, MADV_NOHUGEPAGE))
		die("madvise");
	memset(a, seed, size);
	return a;
}

static void dmirror(int fd, unsigned long req, char *p, char *bounce,
		    size_t size, int seed)
{
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)p,
		.ptr = (uintptr_t)bounce,
		.npages = size / 4096,
	};
	size_t i;

	memset(bounce, ~seed, size);
	if (ioctl(fd, req, &c))
		die("dmirror ioctl");
	for (i = 0; i < size; i++)
		if (bounce[i] != (char)seed) {
			errno = EIO;
			die("wrong data read");
		}
}

static void read_load(const char *node, size_t size, int rounds, bool migrate)
{
	int fd = open(node, O_RDWR), r;
	char *bounce = malloc(size);
	double first = 0, warm = 0, unmap = 0, t0;

	if (fd < 0 || !bounce)
		die(node);
	for (r = 0; r < rounds; r++) {
		char *p = fresh_buffer(size, r + 1);

		t0 = now_ms();
		dmirror(fd, migrate ? HMM_DMIRROR_MIGRATE_TO_DEV :
			HMM_DMIRROR_READ, p, bounce, size, r + 1);
		first += now_ms() - t0;
		t0 = now_ms();
		dmirror(fd, HMM_DMIRROR_READ, p, bounce, size, r + 1);
		warm += now_ms() - t0;
		t0 = now_ms();
		munmap(p, size);
		unmap += now_ms() - t0;
	}
	printf("%s %zu KiB: %s %.2f ms, warm read %.2f ms, munmap %.2f ms (mean of %d)\n",
	       node, size >> 10, migrate ? "migration" : "first read",
	       first / rounds, warm / rounds, unmap / rounds, rounds);
}

static void prefetch_load(int ndev, size_t size, int rounds)
{
	struct vsvm_dev dev[VSVM_MAX_PROFILE_DEVICES];
	uint32_t vm[VSVM_MAX_PROFILE_DEVICES];
	double t = 0, t0;
	int i, r, err;

	if (ndev < 1 || ndev > VSVM_MAX_PROFILE_DEVICES) {
		errno = EINVAL;
		die("devices");
	}
	for (i = 0; i < ndev; i++)
		if (vsvm_open(i, &dev[i]) || vsvm_vm_create(&dev[i], &vm[i]))
			die("vsvm device or VM");
	for (r = 0; r < rounds; r++) {
		char *p = fresh_buffer(size, r + 1);

		t0 = now_ms();
		err = vsvm_prefetch_devices(&dev[0], vm[0], p, size,
					    DRM_VSVM_LOC_SYSTEM,
					    (1u << ndev) - 1);
		t += now_ms() - t0;
		if (err) {
			errno = -err;
			die("prefetch");
		}
		munmap(p, size);
	}
	printf("prefetch of %zu KiB for %d device(s): %.2f ms (mean of %d)\n",
	       size >> 10, ndev, t / rounds, rounds);
}

static int usage(void)
{
	fprintf(stderr, "usage: vsvm-profile-load read|migrate NODE SIZE_KIB ROUNDS\n"
			"       vsvm-profile-load prefetch NDEV SIZE_KIB ROUNDS\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long kib;
	char *end;
	size_t size;
	int rounds;

	if (argc != 5)
		return usage();
	errno = 0;
	kib = strtoul(argv[3], &end, 0);
	rounds = atoi(argv[4]);
	if (errno || *end || !kib || kib > (1UL << 30) || kib % 4 || rounds < 1) {
		fprintf(stderr, "vsvm-profile-load: bad size or rounds\n");
		return usage();
	}
	size = kib << 10;
	if (!strcmp(argv[1], "prefetch"))
		prefetch_load(atoi(argv[2]), size, rounds);
	else if (!strcmp(argv[1], "read") || !strcmp(argv[1], "migrate"))
		read_load(argv[2], size, rounds, !strcmp(argv[1], "migrate"));
	else
		return usage();
	return 0;
}
