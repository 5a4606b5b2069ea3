// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the device's CPU agent, reading a VM's memory through a pages object
 * without a DMA device.
 */

#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_drv.h"

/**
 * DOC: CPU agent
 *
 * DRM_IOCTL_VSVM_VM_READ reads a VM's memory the way a GPU debugger does
 * (xe's eudebug reads a VM with pread): not with the engine, but with the
 * device's CPU agent, code of the driver running on the CPU. It is the user
 * of pages objects without a DMA device (drm_gpusvm_init_pages() with a
 * NULL &struct drm_device), an extension of this tree that mainline
 * drm_gpusvm does not have.
 *
 * The agent has no device, so there is nothing to DMA-map:
 * drm_gpusvm_get_pages() faults the pages in with hmm_range_fault() as for
 * any pages object, then stores their CPU physical addresses
 * (%DRM_INTERCONNECT_CPU), one &struct drm_pagemap_addr per CPU mapping of
 * 1 << order pages, and the agent reads them through the kernel's mapping
 * of the page (kmap_local_page()). Without a DMA mapping nothing holds the
 * pages: a physical address is only valid while the notifier sequence it was
 * taken at holds. Like userptr (DOC: Userptr), each pass of a read is a
 * pages object without a range, validated by an MMU interval notifier of its
 * own inserted over the page-aligned interval for the duration of the pass;
 * its invalidate callback unmaps the pages object under the GPU SVM's
 * notifier lock held for write. The agent copies the bytes into a kernel
 * bounce buffer while it holds the notifier lock for read and
 * drm_gpusvm_pages_valid() says the mapping is current: an invalidation
 * (munmap, migration, reclaim, COW) waits for the copy to finish before the
 * pages can be freed, and a copy never starts on pages an invalidation has
 * already taken away. When an invalidation raced the fault, the pass is
 * retried, as a GPU fault is (vsvm_fault_retry()), and fails with -EBUSY if
 * the memory never settles. The bounce buffer goes to user space after the
 * notifier lock is dropped: copy_to_user() may fault, and a fault may
 * invalidate.
 *
 * The agent reads what a CPU access would see. It faults with no
 * device-private page owner (&drm_gpusvm_ctx.device_private_page_owner is
 * NULL, an owner no device pagemap has): hmm_range_fault() migrates pages
 * in device memory (this or any device's VRAM) back to system memory
 * through their provider's migrate_to_ram, exactly as a CPU access would,
 * and the agent reads the system pages. It faults for read only
 * (&drm_gpusvm_ctx.read_only): read-only memory is readable, a page never
 * touched reads as zeroes (the zero page), and nothing is ever written
 * through the agent. The addresses are CPU addresses of the VM's process:
 * userptr bindings, which alias the process's memory at other GPU VAs, play
 * no part. Memory a device cannot mirror (holes, PROT_NONE, I/O and special
 * mappings) fails the read with -EFAULT.
 */

/* The bounce buffer: the most one pass reads under the notifier lock. */
#define VSVM_CPU_AGENT_CHUNK	SZ_256K

/**
 * struct vsvm_cpu_agent - one pass of a CPU-agent read
 * @gpusvm: the GPU SVM whose notifier lock guards @pages
 * @notifier: the pass's own MMU interval notifier over [@start, @end)
 * @pages: the pages object, without a DMA device
 * @start: first page of the pass
 * @end: end of the pass's last page
 */
struct vsvm_cpu_agent {
	struct drm_gpusvm *gpusvm;
	struct mmu_interval_notifier notifier;
	struct drm_gpusvm_pages pages;
	unsigned long start;
	unsigned long end;
};

/**
 * vsvm_cpu_agent_npages() - pages a pass covers
 * @ca: the pass
 *
 * Return: the number of pages of [@ca->start, @ca->end).
 */
static unsigned long vsvm_cpu_agent_npages(struct vsvm_cpu_agent *ca)
{
	return (ca->end - ca->start) >> PAGE_SHIFT;
}

/**
 * vsvm_cpu_agent_invalidate() - the invalidate callback of a pass's notifier
 * @mni: the notifier
 * @mmu_range: what changes
 * @cur_seq: the new sequence number
 *
 * As userptr's: under the notifier lock held for write, set the sequence and
 * unmap the pages object (which has no DMA mapping: it only stops being
 * valid). A copy in progress holds the lock for read: the pages are freed
 * only after it.
 *
 * Return: false when the caller cannot block (the OOM reaper), else true.
 */
static bool vsvm_cpu_agent_invalidate(struct mmu_interval_notifier *mni,
				      const struct mmu_notifier_range *mmu_range,
				      unsigned long cur_seq)
{
	struct vsvm_cpu_agent *ca = container_of(mni, struct vsvm_cpu_agent,
						 notifier);
	struct drm_gpusvm_ctx ctx = { .in_notifier = true };

	/* It may wait for a copy in progress, which the OOM reaper cannot. */
	if (!mmu_notifier_range_blockable(mmu_range))
		return false;

	down_write(&ca->gpusvm->notifier_lock);
	mmu_interval_set_seq(mni, cur_seq);
	drm_gpusvm_unmap_pages(ca->gpusvm, &ca->pages,
			       vsvm_cpu_agent_npages(ca), &ctx);
	up_write(&ca->gpusvm->notifier_lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvm_cpu_agent_notifier_ops = {
	.invalidate = vsvm_cpu_agent_invalidate,
};

/**
 * vsvm_cpu_agent_copy() - copy bytes out of the physical pages of a pass
 * @ca: the pass, its pages valid
 * @addr: first byte, in the pass's first page
 * @len: bytes, up to the pass's end
 * @buf: the kernel buffer
 *
 * Notifier lock held: the pages stay where they are until it drops.
 */
static void vsvm_cpu_agent_copy(struct vsvm_cpu_agent *ca, unsigned long addr,
				size_t len, void *buf)
{
	const struct drm_pagemap_addr *chunk = ca->pages.dma_addr;
	unsigned long k;

	lockdep_assert_held(&ca->gpusvm->notifier_lock);

	for (; len; chunk++) {
		/* A CPU physical address, for the chunk's 1 << order pages. */
		for (k = 0; k < (1UL << chunk->order) && len; k++) {
			size_t off = offset_in_page(addr);
			size_t n = min_t(size_t, len, PAGE_SIZE - off);
			void *va;

			va = kmap_local_page(pfn_to_page(PHYS_PFN(chunk->addr) + k));
			memcpy(buf, va + off, n);
			kunmap_local(va);
			buf += n;
			addr += n;
			len -= n;
		}
	}
}

/**
 * vsvm_cpu_agent_pass() - read one piece of a VM's memory into a buffer
 * @vm: the VM (a reference is held)
 * @addr: first byte
 * @len: bytes, 1 .. %VSVM_CPU_AGENT_CHUNK
 * @buf: the kernel buffer
 *
 * Faults [@addr, @addr + @len) into a pages object without a DMA device
 * under a notifier of its own and copies it under the notifier lock while
 * the pages are valid, retrying when an invalidation raced.
 *
 * Return: 0, -EFAULT (a hole or memory a device cannot mirror), -EBUSY
 * (invalidations kept racing), -EINTR (fatal signal), -ENOMEM.
 */
static int vsvm_cpu_agent_pass(struct vsvm_vm *vm, unsigned long addr,
			       size_t len, void *buf)
{
	struct drm_gpusvm *gpusvm = &vm->svm->gpusvm;
	/* No page owner: device pages come back to system memory. */
	struct drm_gpusvm_ctx ctx = { .read_only = true };
	struct vsvm_cpu_agent ca = {
		.gpusvm = gpusvm,
		.start = ALIGN_DOWN(addr, PAGE_SIZE),
		.end = ALIGN(addr + len, PAGE_SIZE),
	};
	u32 delay_us = READ_ONCE(vm->vdev->cpu_agent_delay_us);
	unsigned long first = jiffies;
	unsigned int tries;
	int err;

	/* Before the notifier: no invalidation may see it uninitialised. */
	drm_gpusvm_init_pages(&ca.pages, NULL);
	err = mmu_interval_notifier_insert(&ca.notifier, gpusvm->mm, ca.start,
					   ca.end - ca.start,
					   &vsvm_cpu_agent_notifier_ops);
	if (err)
		return err;

	err = -EBUSY;
	for (tries = 0; vsvm_fault_retry(tries, first); tries++) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		err = drm_gpusvm_get_pages(gpusvm, &ca.pages, gpusvm->mm,
					   &ca.notifier, ca.start, ca.end,
					   &ctx);
		if (err == -EAGAIN) {
			err = -EBUSY;
			continue;
		}
		if (err)
			break;

		if (delay_us)	/* tests: see &vsvm_device.cpu_agent_delay_us */
			usleep_range(delay_us, delay_us + delay_us / 4);
		drm_gpusvm_notifier_lock(gpusvm);
		if (drm_gpusvm_pages_valid(gpusvm, &ca.pages)) {
			vsvm_cpu_agent_copy(&ca, addr, len, buf);
			drm_gpusvm_notifier_unlock(gpusvm);
			break;
		}
		drm_gpusvm_notifier_unlock(gpusvm);
		err = -EBUSY;
	}

	/* Waits for a running invalidation; none can start afterwards. */
	mmu_interval_notifier_remove(&ca.notifier);
	drm_gpusvm_free_pages(gpusvm, &ca.pages, vsvm_cpu_agent_npages(&ca));
	return err;
}

/**
 * vsvm_cpu_agent_read() - read a VM's memory as the device's CPU agent
 * @vm: the VM (a reference is held), mirroring the caller's process
 * @addr: first byte (any alignment)
 * @size: bytes, 1 .. %DRM_VSVM_VM_READ_MAX_SIZE, [@addr, @addr + @size) in
 *        user space
 * @data: where the bytes go
 *
 * Reads in passes of at most %VSVM_CPU_AGENT_CHUNK bytes (see DOC: CPU
 * agent), each copied to @data once the notifier lock is dropped. On
 * failure the bytes of @data are undefined.
 *
 * Return: 0, -EFAULT (a hole or memory a device cannot mirror, or @data
 * not writable), -EBUSY (invalidations kept racing), -EINTR (fatal signal),
 * -ENOMEM.
 */
int vsvm_cpu_agent_read(struct vsvm_vm *vm, u64 addr, u64 size,
			void __user *data)
{
	size_t bufsize = min_t(u64, size, VSVM_CPU_AGENT_CHUNK);
	void *buf;
	int err = 0;

	buf = kvmalloc(bufsize, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	while (size) {
		size_t len = min_t(u64, size, bufsize);

		err = vsvm_cpu_agent_pass(vm, addr, len, buf);
		if (err)
			break;
		if (copy_to_user(data, buf, len)) {
			err = -EFAULT;
			break;
		}
		addr += len;
		data += len;
		size -= len;
	}
	kvfree(buf);
	return err;
}
