// SPDX-License-Identifier: GPL-2.0
/*
 * vsvm on a kernel whose DMA is bounce-buffered (booted with swiotlb=force,
 * as confidential guests are): the device and the CPU would not share
 * memory (the engine would work on bounce buffers the CPU never sees), so
 * every vsvm device refuses SVM: VM_CREATE fails with -EOPNOTSUPP, nothing
 * else changes. make check runs it in a VM of its own booted that way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "vsvm.h"

static int kernel_cmdline_has(const char *word)
{
	char buf[4096] = "";
	FILE *f = fopen("/proc/cmdline", "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, word) != NULL;
}

TEST(every_device_refuses_svm)
{
	int i, n = vsvm_num_devices();

	ASSERT_TRUE(kernel_cmdline_has("swiotlb=force"))
		TH_LOG("this test expects a kernel booted with swiotlb=force");
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++) {
		struct vsvm_dev dev;
		uint32_t vm = 0;

		ASSERT_EQ(0, vsvm_open(i, &dev));
		EXPECT_EQ(i, (int)dev.info.index);
		EXPECT_EQ(-EOPNOTSUPP, vsvm_vm_create(&dev, &vm));
		EXPECT_EQ(0, vm);
		vsvm_close(&dev);
	}
}

TEST_HARNESS_MAIN
