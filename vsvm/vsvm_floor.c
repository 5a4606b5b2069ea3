// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the raw floor of make bench, the least work a device mirroring
 * process memory can do.
 */

#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_drv.h"
#include "vsvm_dmirror.h"

/**
 * DOC: raw floor
 *
 * With the module parameter ``floor`` set, each vsvm device also has
 * ``/dev/vsvm_floorN``, which ``make bench`` compares vsvm and test_hmm
 * with: the dmirror ABI (vsvm_dmirror.h), READ and MIGRATE_TO_DEV only,
 * doing the least a device mirroring process memory must do, none of the
 * GPU SVM.
 *
 * - READ mirrors the request as one interval: the first READ of an
 *   interval faults it in with one hmm_range_fault() under an interval
 *   notifier, DMA-maps it for the device in the largest pieces the CPU page
 *   table maps (as drm_gpusvm_get_pages() does) and keeps both; every READ
 *   then copies each page into the bounce buffer through its kernel mapping
 *   (the work per byte of the dmirror personality's READ and of test_hmm's).
 *   An invalidation of the interval unmaps it: the next READ faults again.
 *   A READ of another interval replaces it. No ranges, no GPU page table,
 *   no driver lock.
 * - MIGRATE_TO_DEV moves the request to VRAM, 2 MiB-aligned block by block
 *   (less at a VMA's end), with vsvm_vram_migrate(): migrate_vma, the copy
 *   and nothing else, and no read-back. &vsvm_dmirror_cmd.cpages counts the
 *   pages migrated.
 *
 * The ioctls of one file are serialised. Like vsvm's SVM, the floor refuses
 * a device whose DMA is bounce-buffered (-EOPNOTSUPP).
 */

/* Pages one migration moves at most: a VRAM block. */
#define VSVM_FLOOR_MIGRATE_PAGES	(SZ_2M >> PAGE_SHIFT)

static bool vsvm_floor_enabled;
module_param_named(floor, vsvm_floor_enabled, bool, 0444);
MODULE_PARM_DESC(floor, "Create /dev/vsvm_floorN, make bench's raw floor");

/**
 * struct vsvm_floor - one open file: one mirrored interval of its process
 * @vdev: the device (DMA goes to its &drm_device.dev)
 * @mm: the process (mmgrab())
 * @ioctl_lock: serialises the file's ioctls, which own the interval: its
 *              place, size, arrays and notifier
 * @lock: protects the mapping (@mapped, @pfns, @dma), and orders the
 *        notifier's sequence
 * @notifier: over the interval, while there is one
 * @start: the interval's start
 * @npages: its pages (0: none)
 * @mapped: whether @pfns and @dma hold a valid mapping
 * @pfns: hmm_range_fault()'s result, a page per entry
 * @dma: the DMA address of each mapped piece, at its first page (0 else)
 */
struct vsvm_floor {
	struct vsvm_device *vdev;
	struct mm_struct *mm;
	struct mutex ioctl_lock;	/* serialises the ioctls */
	struct mutex lock;	/* protects the mapping */
	struct mmu_interval_notifier notifier;
	unsigned long start;
	unsigned long npages;
	bool mapped;
	unsigned long *pfns;
	dma_addr_t *dma;
};

/*
 * The order of the piece mapped at page @i of the interval: the CPU's
 * mapping's, if that piece is aligned and within the interval; else 0.
 */
static unsigned int vsvm_floor_order(struct vsvm_floor *fl, unsigned long i)
{
	unsigned int order = hmm_pfn_to_map_order(fl->pfns[i]);
	unsigned long n = 1UL << order;

	if ((((fl->start >> PAGE_SHIFT) + i) & (n - 1)) || i + n > fl->npages)
		return 0;
	return order;
}

/* DMA-unmap the interval. */
static void vsvm_floor_unmap(struct vsvm_floor *fl)
{
	struct device *dev = fl->vdev->drm.dev;
	unsigned long i;

	lockdep_assert_held(&fl->lock);

	for (i = 0; i < fl->npages; i++) {
		if (!fl->dma[i])
			continue;
		dma_unmap_page(dev, fl->dma[i],
			       PAGE_SIZE << vsvm_floor_order(fl, i),
			       DMA_BIDIRECTIONAL);
		fl->dma[i] = 0;
	}
	fl->mapped = false;
}

static bool vsvm_floor_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct vsvm_floor *fl = container_of(mni, struct vsvm_floor, notifier);

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&fl->lock);
	else if (!mutex_trylock(&fl->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	if (fl->mapped)
		vsvm_floor_unmap(fl);
	mutex_unlock(&fl->lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvm_floor_ops = {
	.invalidate = vsvm_floor_invalidate,
};

/* Drop the interval: its mapping, notifier and arrays. */
static void vsvm_floor_drop(struct vsvm_floor *fl)
{
	lockdep_assert_held(&fl->ioctl_lock);

	if (!fl->npages)
		return;
	mutex_lock(&fl->lock);
	vsvm_floor_unmap(fl);
	mutex_unlock(&fl->lock);
	mmu_interval_notifier_remove(&fl->notifier);
	kvfree(fl->pfns);
	kvfree(fl->dma);
	fl->pfns = NULL;
	fl->dma = NULL;
	fl->npages = 0;
}

/* Make [start, start + npages pages) the interval (not yet mapped). */
static int vsvm_floor_set(struct vsvm_floor *fl, unsigned long start,
			  unsigned long npages)
{
	int err;

	lockdep_assert_held(&fl->ioctl_lock);

	if (fl->npages == npages && fl->start == start)
		return 0;
	vsvm_floor_drop(fl);
	fl->pfns = kvcalloc(npages, sizeof(*fl->pfns),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	fl->dma = kvcalloc(npages, sizeof(*fl->dma),
			   GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!fl->pfns || !fl->dma) {
		err = -ENOMEM;
		goto err_free;
	}
	err = mmu_interval_notifier_insert(&fl->notifier, fl->mm, start,
					   npages << PAGE_SHIFT,
					   &vsvm_floor_ops);
	if (err)
		goto err_free;
	fl->start = start;
	fl->npages = npages;
	return 0;

err_free:
	kvfree(fl->pfns);
	kvfree(fl->dma);
	fl->pfns = NULL;
	fl->dma = NULL;
	return err;
}

/*
 * Fault the interval in and DMA-map it; returns with @fl->lock held and the
 * mapping valid.
 */
static int vsvm_floor_map(struct vsvm_floor *fl)
{
	struct device *dev = fl->vdev->drm.dev;
	struct hmm_range range = {
		.notifier = &fl->notifier,
		.start = fl->start,
		.end = fl->start + (fl->npages << PAGE_SHIFT),
		.default_flags = HMM_PFN_REQ_FAULT,
	};
	unsigned long i, n;
	int err = 0;

	mutex_lock(&fl->lock);
	if (fl->mapped)
		return 0;
	mutex_unlock(&fl->lock);

	/* Not fl->pfns: an invalidation unmaps with it meanwhile. */
	range.hmm_pfns = kvmalloc_array(fl->npages, sizeof(*range.hmm_pfns),
					GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!range.hmm_pfns)
		return -ENOMEM;
	for (;;) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		range.notifier_seq = mmu_interval_read_begin(&fl->notifier);
		mmap_read_lock(fl->mm);
		err = hmm_range_fault(&range);
		mmap_read_unlock(fl->mm);
		if (err == -EBUSY)
			continue;
		if (err)
			break;

		mutex_lock(&fl->lock);
		if (mmu_interval_read_retry(&fl->notifier, range.notifier_seq)) {
			mutex_unlock(&fl->lock);
			continue;
		}
		vsvm_floor_unmap(fl);
		memcpy(fl->pfns, range.hmm_pfns,
		       fl->npages * sizeof(*fl->pfns));
		for (i = 0; i < fl->npages; i += n) {
			unsigned int order = vsvm_floor_order(fl, i);
			dma_addr_t addr;

			n = 1UL << order;
			addr = dma_map_page(dev, hmm_pfn_to_page(fl->pfns[i]), 0,
					    PAGE_SIZE << order,
					    DMA_BIDIRECTIONAL);
			if (dma_mapping_error(dev, addr)) {
				vsvm_floor_unmap(fl);
				mutex_unlock(&fl->lock);
				err = -ENOMEM;
				break;
			}
			fl->dma[i] = addr;
		}
		if (err)
			break;
		fl->mapped = true;
		break;	/* with the lock held */
	}
	kvfree(range.hmm_pfns);
	return err;
}

static int vsvm_floor_read(struct vsvm_floor *fl, struct vsvm_dmirror_cmd *cmd)
{
	size_t size = cmd->npages << PAGE_SHIFT;
	unsigned long i;
	void *buf;
	int err;

	buf = kvmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!buf)
		return -ENOMEM;
	err = vsvm_floor_set(fl, cmd->addr, cmd->npages);
	if (!err)
		err = vsvm_floor_map(fl);
	if (err)
		goto out;
	for (i = 0; i < fl->npages; i++) {
		void *p = kmap_local_page(hmm_pfn_to_page(fl->pfns[i]));

		memcpy(buf + (i << PAGE_SHIFT), p, PAGE_SIZE);
		kunmap_local(p);
	}
	mutex_unlock(&fl->lock);
	cmd->cpages = cmd->npages;
	if (copy_to_user(u64_to_user_ptr(cmd->ptr), buf, size))
		err = -EFAULT;
out:
	kvfree(buf);
	return err;
}

static int vsvm_floor_migrate(struct vsvm_floor *fl,
			      struct vsvm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long addr, next;

	if (!fl->vdev->vram)
		return -EOPNOTSUPP;
	for (addr = cmd->addr; addr < end; addr = next) {
		struct vm_area_struct *vma;
		long migrated;

		if (fatal_signal_pending(current))
			return -EINTR;
		next = min(end, ALIGN(addr + 1,
				      VSVM_FLOOR_MIGRATE_PAGES << PAGE_SHIFT));
		mmap_read_lock(fl->mm);
		vma = vma_lookup(fl->mm, addr);
		if (vma)
			next = min(next, vma->vm_end);
		mmap_read_unlock(fl->mm);
		if (!vma)
			return -EFAULT;
		migrated = vsvm_vram_migrate(fl->vdev, fl->mm, addr, next);
		if (migrated < 0)
			return migrated;
		cmd->cpages += migrated;
	}
	return 0;
}

static int vsvm_floor_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct vsvm_floor *fl;

	if (!current->mm)
		return -EINVAL;
	fl = kzalloc(sizeof(*fl), GFP_KERNEL_ACCOUNT);
	if (!fl)
		return -ENOMEM;
	fl->vdev = container_of(misc, struct vsvm_device, floor);
	fl->mm = current->mm;
	mmgrab(fl->mm);
	mutex_init(&fl->ioctl_lock);
	mutex_init(&fl->lock);
	file->private_data = fl;
	return 0;
}

static int vsvm_floor_release(struct inode *inode, struct file *file)
{
	struct vsvm_floor *fl = file->private_data;

	mutex_lock(&fl->ioctl_lock);
	vsvm_floor_drop(fl);
	mutex_unlock(&fl->ioctl_lock);
	mmdrop(fl->mm);
	mutex_destroy(&fl->lock);
	mutex_destroy(&fl->ioctl_lock);
	kfree(fl);
	return 0;
}

static long vsvm_floor_ioctl(struct file *file, unsigned int op,
			     unsigned long arg)
{
	struct vsvm_floor *fl = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct vsvm_dmirror_cmd cmd;
	int err;

	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (!cmd.npages || cmd.npages >= (TASK_SIZE_MAX >> PAGE_SHIFT) ||
	    !PAGE_ALIGNED(cmd.addr) ||
	    cmd.addr + (cmd.npages << PAGE_SHIFT) < cmd.addr ||
	    cmd.addr + (cmd.npages << PAGE_SHIFT) > TASK_SIZE_MAX)
		return -EINVAL;
	if (current->mm != fl->mm)
		return -EINVAL;
	/* As vsvm's SVM: no device mapping of bounce-buffered DMA. */
	if (fl->vdev->dma_bounces)
		return -EOPNOTSUPP;
	cmd.cpages = 0;
	cmd.faults = 0;

	mutex_lock(&fl->ioctl_lock);
	switch (op) {
	case VSVM_DMIRROR_READ:
		err = vsvm_floor_read(fl, &cmd);
		break;
	case VSVM_DMIRROR_MIGRATE_TO_DEV:
		err = vsvm_floor_migrate(fl, &cmd);
		break;
	default:
		err = -EINVAL;
		break;
	}
	mutex_unlock(&fl->ioctl_lock);
	if (err)
		return err;
	return copy_to_user(uarg, &cmd, sizeof(cmd)) ? -EFAULT : 0;
}

static const struct file_operations vsvm_floor_fops = {
	.owner = THIS_MODULE,
	.open = vsvm_floor_open,
	.release = vsvm_floor_release,
	.unlocked_ioctl = vsvm_floor_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * vsvm_floor_register() - create a device's floor node, if asked for
 * @vdev: the device
 *
 * The misc device ``vsvm_floorN``, N the device's index, when the module
 * parameter ``floor`` is set.
 *
 * Return: 0 or a negative errno.
 */
int vsvm_floor_register(struct vsvm_device *vdev)
{
	if (!vsvm_floor_enabled)
		return 0;
	snprintf(vdev->floor_name, sizeof(vdev->floor_name), "vsvm_floor%u",
		 vdev->index);
	vdev->floor.minor = MISC_DYNAMIC_MINOR;
	vdev->floor.name = vdev->floor_name;
	vdev->floor.fops = &vsvm_floor_fops;
	vdev->floor.parent = vdev->drm.dev;
	return misc_register(&vdev->floor);
}

/**
 * vsvm_floor_unregister() - remove a device's floor node, if there is one
 * @vdev: the device
 */
void vsvm_floor_unregister(struct vsvm_device *vdev)
{
	if (vdev->floor.fops)
		misc_deregister(&vdev->floor);
}
