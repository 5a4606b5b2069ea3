// SPDX-License-Identifier: GPL-2.0
/*
 * Selftest of the test VM itself: the kernel features the framework and its
 * tests rely on, checked from user space. A failure here means the test kernel
 * (vm/kernel.config) or the VM setup regressed, not the framework.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define SZ_2M (2UL << 20)

/* Sum of a field (in kB) of /proc/self/smaps over the VMA starting at addr. */
static long smaps_field_kb(void *addr, const char *field)
{
	char line[256], want[64];
	long kb = -1;
	int in_vma = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
			in_vma = !strncmp(line, want, strlen(want));
		else if (in_vma && !strncmp(line, field, strlen(field)))
			kb = strtol(line + strlen(field) + 1, NULL, 10);
	}
	fclose(f);
	return kb;
}

/* A write to an aligned 2 MiB anonymous block gets one transparent huge page. */
TEST(thp_anonymous_2m)
{
	char *resv, *p;

	resv = mmap(NULL, 2 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(resv, MAP_FAILED);
	p = (char *)(((unsigned long)resv + SZ_2M - 1) & ~(SZ_2M - 1));
	ASSERT_EQ(mmap(p, SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), p);
	memset(p, 0x5a, SZ_2M);
	EXPECT_EQ(smaps_field_kb(p, "AnonHugePages:"), 2048);
	munmap(resv, 2 * SZ_2M);
}

/* hugetlbfs pages can be reserved and mapped. */
TEST(hugetlb_map)
{
	int fd = open("/proc/sys/vm/nr_hugepages", O_RDWR);
	char *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, "4", 1), 1);
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ASSERT_NE(p, MAP_FAILED);
	p[0] = 1;
	p[SZ_2M - 1] = 2;
	EXPECT_EQ(p[0] + p[SZ_2M - 1], 3);
	munmap(p, SZ_2M);
	EXPECT_EQ(pwrite(fd, "0", 1, 0), 1);
	close(fd);
}

/* userfaultfd exists (used to stall CPU faults in race tests). */
TEST(userfaultfd_available)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	ASSERT_GE(fd, 0) TH_LOG("userfaultfd: %s", strerror(errno));
	close(fd);
}

static int run(const char *cmd)
{
	int status = system(cmd);

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The framework module loads and unloads, and exports its API. */
TEST(drm_gpusvm_module)
{
	ASSERT_EQ(run("modprobe drm_gpusvm"), 0);
	EXPECT_EQ(run("grep -qw drm_gpusvm_get_pages /proc/kallsyms"), 0);
	EXPECT_EQ(run("grep -qw drm_gpusvm_range_find_or_insert /proc/kallsyms"), 0);
	EXPECT_EQ(run("modprobe -r drm_gpusvm"), 0);
	EXPECT_NE(run("grep -qw drm_gpusvm /proc/modules"), 0);
}

/*
 * Device-private memory (ZONE_DEVICE) can be created: the peer driver does.
 * It stays loaded: its 6.1 version leaks a device name on unload.
 */
TEST(device_private_memory)
{
	ASSERT_EQ(run("modprobe test_hmm"), 0);
	/* test_hmm hot-plugs its first device-private chunk at load. */
	EXPECT_EQ(run("dmesg | grep -q 'added new 256 MB chunk'"), 0);
	EXPECT_EQ(run("grep -qw HMM_DMIRROR /proc/devices"), 0);
}

TEST_HARNESS_MAIN
