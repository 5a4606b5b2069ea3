// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the dmirror personality, the ioctls of the kernel's HMM test driver
 * (lib/test_hmm.c) on vsvm's GPU SVM.
 */

#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/ioctl.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "vsvm_drv.h"

/**
 * DOC: dmirror personality
 *
 * Each vsvm device also has a character device, ``/dev/vsvm_dmirrorN`` (a
 * misc device), that speaks the ioctls of the kernel's HMM test driver
 * (``lib/test_hmm.c``, ``/dev/hmm_dmirrorN``): the same ioctl numbers and
 * &struct vsvm_dmirror_cmd, the ABI of ``lib/test_hmm_uapi.h``, so the
 * kernel's ``hmm-tests`` runs on vsvm (``make check``, see README.md).
 *
 * Each open file is one mirror of the opening process: a VM of the device
 * (vsvm_vm_create()), in no DRM file, destroyed when the file is released.
 * The ioctls map onto the GPU SVM:
 *
 * - READ and WRITE copy between the user's buffer and the mirrored range
 *   through the VM's GPU page table, page by page, as the engine accesses
 *   memory (vsvm_engine_kmap() under the device's TLB). A missing or
 *   read-only PTE is a GPU fault, serviced in the ioctl by
 *   vsvm_handle_fault() for every range from there to the end of the
 *   request: one "fault pass", counted in &vsvm_dmirror_cmd.faults as
 *   test_hmm counts its own. The copy runs on the CPU in the ioctl rather
 *   than as engine jobs: test_hmm's semantics are synchronous and per page,
 *   and the page table and the fault path are the same ones the engine
 *   uses.
 * - MIGRATE_TO_DEV is (after test_hmm's check that VMAs with read access
 *   cover the range, -EINVAL otherwise) a prefetch to the device's VRAM
 *   (vsvm_svm_prefetch()), then a READ of the range into the user's buffer
 *   (test_hmm returns what the device read). &vsvm_dmirror_cmd.cpages counts
 *   the pages the GPU page table maps in VRAM; if some page is not in VRAM
 *   (drm_gpusvm migrates anonymous memory only) it fails with -ENOENT, as
 *   test_hmm's read-back does.
 * - MIGRATE_TO_SYS is a prefetch to system memory; cpages counts the pages
 *   that were in this device's VRAM before.
 * - RELEASE: test_hmm evicts all of its device memory; vsvm brings the
 *   request's range back to system memory (as MIGRATE_TO_SYS).
 * - mmap() of the node maps zeroed kernel pages (a VM_MIXEDMAP mapping).
 * - SNAPSHOT reports the CPU page table's state of each page, something
 *   drm_gpusvm has no concept of: it calls hmm_range_fault() directly,
 *   without faulting, under a temporary interval notifier of its own.
 *
 * EXCLUSIVE and CHECK_EXCLUSIVE (device-exclusive access for atomics) are
 * not implemented yet: they fail with -EOPNOTSUPP.
 */

/**
 * struct vsvm_dmirror_cmd - the argument of every dmirror ioctl
 * @addr: start of the mirrored range (page aligned)
 * @ptr: the user buffer the data, or the snapshot, goes to or comes from
 * @npages: pages in the range
 * @cpages: out: pages completed
 * @faults: out: fault passes needed
 *
 * The ABI of &struct hmm_dmirror_cmd in the kernel's lib/test_hmm_uapi.h,
 * which is not a UAPI header: it is defined again here, identically.
 */
struct vsvm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

#define VSVM_DMIRROR_READ		_IOWR('H', 0x00, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_WRITE		_IOWR('H', 0x01, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct vsvm_dmirror_cmd)

/* Snapshot bytes, as HMM_DMIRROR_PROT_* of lib/test_hmm_uapi.h. */
#define VSVM_DMIRROR_PROT_ERROR			0xff
#define VSVM_DMIRROR_PROT_NONE			0x00
#define VSVM_DMIRROR_PROT_READ			0x01
#define VSVM_DMIRROR_PROT_WRITE			0x02
#define VSVM_DMIRROR_PROT_PMD			0x04
#define VSVM_DMIRROR_PROT_PUD			0x08
#define VSVM_DMIRROR_PROT_ZERO			0x10
#define VSVM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	0x20
#define VSVM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	0x30

/* Pages one snapshot pass asks hmm_range_fault() about. */
#define VSVM_DMIRROR_SNAPSHOT_PAGES	64

/**
 * struct vsvm_dmirror - one open file: a mirror of the opening process
 * @vdev: the device
 * @vm: the VM doing the mirroring
 * @mm: the process mirrored (a reference on the mm_struct, mmgrab())
 */
struct vsvm_dmirror {
	struct vsvm_device *vdev;
	struct vsvm_vm *vm;
	struct mm_struct *mm;
};

static int vsvm_dmirror_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct vsvm_device *vdev = container_of(misc, struct vsvm_device,
						dmirror);
	struct vsvm_dmirror *dm;

	if (!current->mm)
		return -EINVAL;
	dm = kzalloc(sizeof(*dm), GFP_KERNEL_ACCOUNT);
	if (!dm)
		return -ENOMEM;
	dm->vdev = vdev;
	dm->vm = vsvm_vm_create(vdev, current->mm);
	if (IS_ERR(dm->vm)) {
		int err = PTR_ERR(dm->vm);

		kfree(dm);
		return err;
	}
	dm->mm = current->mm;
	mmgrab(dm->mm);
	file->private_data = dm;
	return 0;
}

static int vsvm_dmirror_release(struct inode *inode, struct file *file)
{
	struct vsvm_dmirror *dm = file->private_data;

	vsvm_vm_destroy(dm->vm);
	mmdrop(dm->mm);
	kfree(dm);
	return 0;
}

/*
 * One fault pass: service a GPU fault for every range of [addr, end), as
 * test_hmm faults the rest of a request at its first miss.
 */
static int vsvm_dmirror_fault(struct vsvm_dmirror *dm, unsigned long addr,
			      unsigned long end, bool write)
{
	int err = 0;

	for (; addr < end; addr += PAGE_SIZE) {
		u64 pte = vsvm_pt_lookup(dm->vm, addr);

		if ((pte & VSVM_PTE_VALID) && (!write || (pte & VSVM_PTE_WRITE)))
			continue;
		if (fatal_signal_pending(current))
			return -EINTR;
		err = vsvm_handle_fault(dm->vm, addr, write);
		if (err)
			break;
	}
	/*
	 * Memory the process may not access this way, as test_hmm reports it
	 * (from hmm_range_fault()): -EPERM for a write, -EFAULT for a read.
	 */
	if (err == -EACCES)
		return write ? -EPERM : -EFAULT;
	return err;
}

/*
 * Copy one page between @buf and the mirror at @addr through the GPU page
 * table. Return: true if done, false if the PTE is missing or read-only.
 */
static bool vsvm_dmirror_copy_page(struct vsvm_dmirror *dm, unsigned long addr,
				   void *buf, bool write)
{
	struct vsvm_device *vdev = dm->vdev;
	bool done = false;
	void *p;
	u64 pte;

	down_read(&vdev->tlb_sem);
	pte = vsvm_pt_lookup(dm->vm, addr);
	if ((pte & VSVM_PTE_VALID) && (!write || (pte & VSVM_PTE_WRITE))) {
		p = vsvm_engine_kmap(vdev, pte, addr);
		if (write)
			memcpy(p, buf, PAGE_SIZE);
		else
			memcpy(buf, p, PAGE_SIZE);
		kunmap_local(p);
		done = true;
	}
	up_read(&vdev->tlb_sem);
	return done;
}

/*
 * Copy between the kernel buffer @buf and the mirrored range of @cmd, in
 * the direction @write, faulting as needed.
 */
static int vsvm_dmirror_copy(struct vsvm_dmirror *dm,
			     struct vsvm_dmirror_cmd *cmd, void *buf,
			     bool write)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long addr = cmd->addr;
	unsigned int passes = 0;
	int err;

	while (addr < end) {
		if (vsvm_dmirror_copy_page(dm, addr, buf, write)) {
			addr += PAGE_SIZE;
			buf += PAGE_SIZE;
			cmd->cpages++;
			continue;
		}
		if (++passes > VSVM_FAULT_TRIES)
			return -EBUSY;
		err = vsvm_dmirror_fault(dm, addr, end, write);
		if (err)
			return err;
		cmd->faults++;
	}
	return 0;
}

/* Whether the command's range is a valid user range. */
static bool vsvm_dmirror_range_ok(const struct vsvm_dmirror_cmd *cmd)
{
	u64 size = cmd->npages << PAGE_SHIFT;

	return cmd->npages && cmd->npages < (TASK_SIZE_MAX >> PAGE_SHIFT) &&
	       PAGE_ALIGNED(cmd->addr) && cmd->addr + size > cmd->addr &&
	       cmd->addr + size <= TASK_SIZE_MAX;
}

static int vsvm_dmirror_read(struct vsvm_dmirror *dm,
			     struct vsvm_dmirror_cmd *cmd)
{
	size_t size = cmd->npages << PAGE_SHIFT;
	void *buf;
	int err;

	/* User space chose the size: too big is -ENOMEM, not a warning. */
	buf = kvmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!buf)
		return -ENOMEM;
	err = vsvm_dmirror_copy(dm, cmd, buf, false);
	if (!err && copy_to_user(u64_to_user_ptr(cmd->ptr), buf, size))
		err = -EFAULT;
	kvfree(buf);
	return err;
}

static int vsvm_dmirror_write(struct vsvm_dmirror *dm,
			      struct vsvm_dmirror_cmd *cmd)
{
	size_t size = cmd->npages << PAGE_SHIFT;
	void *buf;
	int err;

	buf = kvmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!buf)
		return -ENOMEM;
	err = copy_from_user(buf, u64_to_user_ptr(cmd->ptr), size) ? -EFAULT : 0;
	if (!err)
		err = vsvm_dmirror_copy(dm, cmd, buf, true);
	kvfree(buf);
	return err;
}

/* Pages of [start, end) the VM maps in the device's VRAM. */
static u64 vsvm_dmirror_count_devmem(struct vsvm_dmirror *dm,
				     unsigned long start, unsigned long end)
{
	unsigned long addr;
	u64 n = 0;

	for (addr = start; addr < end; addr += PAGE_SIZE) {
		u64 pte = vsvm_pt_lookup(dm->vm, addr);

		if ((pte & VSVM_PTE_VALID) && (pte & VSVM_PTE_DEVMEM))
			n++;
	}
	return n;
}

/*
 * Whether VMAs cover [start, end) with read access: test_hmm refuses to
 * migrate anything else with -EINVAL. The caller's own mm.
 */
static bool vsvm_dmirror_readable(struct mm_struct *mm, unsigned long start,
				  unsigned long end)
{
	struct vm_area_struct *vma;
	bool ok = true;

	mmap_read_lock(mm);
	while (start < end) {
		vma = vma_lookup(mm, start);
		if (!vma || !(vma->vm_flags & VM_READ)) {
			ok = false;
			break;
		}
		start = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ok;
}

static int vsvm_dmirror_migrate_to_dev(struct vsvm_dmirror *dm,
				       struct vsvm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	u64 cpages;
	int err;

	if (!dm->vdev->vram)
		return -EOPNOTSUPP;
	if (!vsvm_dmirror_readable(dm->mm, cmd->addr, end))
		return -EINVAL;
	err = vsvm_svm_prefetch(dm->vm, cmd->addr, end, true);
	if (err)
		return err == -EACCES ? -EPERM : err;
	cpages = vsvm_dmirror_count_devmem(dm, cmd->addr, end);
	/*
	 * test_hmm's read-back fails with -ENOENT when a page did not
	 * migrate (shared memory, for one): so does this one. Otherwise
	 * return what the device reads there, as test_hmm does.
	 */
	if (cpages < cmd->npages)
		return -ENOENT;
	err = vsvm_dmirror_read(dm, cmd);
	cmd->cpages = cpages;
	cmd->faults = 0;
	return err;
}

static int vsvm_dmirror_migrate_to_sys(struct vsvm_dmirror *dm,
				       struct vsvm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	u64 cpages = vsvm_dmirror_count_devmem(dm, cmd->addr, end);
	int err;

	err = vsvm_svm_prefetch(dm->vm, cmd->addr, end, false);
	if (err)
		return err == -EACCES ? -EPERM : err;
	cmd->cpages = cpages;
	return 0;
}

/**
 * struct vsvm_dmirror_snap - a snapshot's temporary interval notifier
 * @notifier: the notifier over the pages asked about
 * @lock: orders invalidations against the check of the sequence
 */
struct vsvm_dmirror_snap {
	struct mmu_interval_notifier notifier;
	struct mutex lock;	/* orders invalidations and the seq check */
};

static bool vsvm_dmirror_snap_invalidate(struct mmu_interval_notifier *mni,
					 const struct mmu_notifier_range *range,
					 unsigned long cur_seq)
{
	struct vsvm_dmirror_snap *snap =
		container_of(mni, struct vsvm_dmirror_snap, notifier);

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&snap->lock);
	else if (!mutex_trylock(&snap->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	mutex_unlock(&snap->lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvm_dmirror_snap_ops = {
	.invalidate = vsvm_dmirror_snap_invalidate,
};

/* The snapshot byte of one hmm_range_fault() entry. */
static u8 vsvm_dmirror_prot(struct vsvm_dmirror *dm, unsigned long entry)
{
	struct page *page;
	u8 prot;

	if (entry & HMM_PFN_ERROR)
		return VSVM_DMIRROR_PROT_ERROR;
	if (!(entry & HMM_PFN_VALID))
		return VSVM_DMIRROR_PROT_NONE;
	page = hmm_pfn_to_page(entry);
	if (is_device_private_page(page))
		prot = page->pgmap->owner == dm->vdev ?
		       VSVM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
		       VSVM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		prot = VSVM_DMIRROR_PROT_ZERO;
	else
		prot = VSVM_DMIRROR_PROT_NONE;
	prot |= entry & HMM_PFN_WRITE ? VSVM_DMIRROR_PROT_WRITE :
					VSVM_DMIRROR_PROT_READ;
	if (hmm_pfn_to_map_order(entry) + PAGE_SHIFT == PMD_SHIFT)
		prot |= VSVM_DMIRROR_PROT_PMD;
	else if (hmm_pfn_to_map_order(entry) + PAGE_SHIFT == PUD_SHIFT)
		prot |= VSVM_DMIRROR_PROT_PUD;
	return prot;
}

/* Snapshot [start, end) (at most VSVM_DMIRROR_SNAPSHOT_PAGES) into @prot. */
static int vsvm_dmirror_snapshot_chunk(struct vsvm_dmirror *dm,
				       unsigned long start, unsigned long end,
				       u8 *prot)
{
	unsigned long pfns[VSVM_DMIRROR_SNAPSHOT_PAGES];
	struct vsvm_dmirror_snap snap = {};
	struct hmm_range range = {
		.notifier = &snap.notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.dev_private_owner = dm->vdev,
	};
	unsigned long i;
	int err;

	mutex_init(&snap.lock);
	err = mmu_interval_notifier_insert(&snap.notifier, dm->mm, start,
					   end - start, &vsvm_dmirror_snap_ops);
	if (err)
		goto out;
	for (;;) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		range.notifier_seq = mmu_interval_read_begin(&snap.notifier);
		mmap_read_lock(dm->mm);
		err = hmm_range_fault(&range);
		mmap_read_unlock(dm->mm);
		if (err == -EBUSY)
			continue;
		if (err)
			break;
		mutex_lock(&snap.lock);
		if (mmu_interval_read_retry(&snap.notifier, range.notifier_seq)) {
			mutex_unlock(&snap.lock);
			continue;
		}
		for (i = 0; i < (end - start) >> PAGE_SHIFT; i++)
			prot[i] = vsvm_dmirror_prot(dm, pfns[i]);
		mutex_unlock(&snap.lock);
		break;
	}
	mmu_interval_notifier_remove(&snap.notifier);
out:
	mutex_destroy(&snap.lock);
	return err;
}

static int vsvm_dmirror_snapshot(struct vsvm_dmirror *dm,
				 struct vsvm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	u8 prot[VSVM_DMIRROR_SNAPSHOT_PAGES];
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long addr, next;
	int err = 0;

	if (!mmget_not_zero(dm->mm))
		return -EINVAL;
	for (addr = cmd->addr; addr < end; addr = next) {
		unsigned long n;

		next = min(end, addr + VSVM_DMIRROR_SNAPSHOT_PAGES * PAGE_SIZE);
		n = (next - addr) >> PAGE_SHIFT;
		err = vsvm_dmirror_snapshot_chunk(dm, addr, next, prot);
		if (err)
			break;
		if (copy_to_user(uptr, prot, n)) {
			err = -EFAULT;
			break;
		}
		uptr += n;
		cmd->cpages += n;
	}
	mmput(dm->mm);
	return err;
}

static long vsvm_dmirror_ioctl(struct file *file, unsigned int op,
			       unsigned long arg)
{
	struct vsvm_dmirror *dm = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct vsvm_dmirror_cmd cmd;
	int err;

	BUILD_BUG_ON(sizeof(cmd) != 40);
	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (!vsvm_dmirror_range_ok(&cmd))
		return -EINVAL;
	/* Only the process the mirror was opened by. */
	if (current->mm != dm->mm)
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (op) {
	case VSVM_DMIRROR_READ:
		err = vsvm_dmirror_read(dm, &cmd);
		break;
	case VSVM_DMIRROR_WRITE:
		err = vsvm_dmirror_write(dm, &cmd);
		break;
	case VSVM_DMIRROR_MIGRATE_TO_DEV:
		err = vsvm_dmirror_migrate_to_dev(dm, &cmd);
		break;
	case VSVM_DMIRROR_MIGRATE_TO_SYS:
	case VSVM_DMIRROR_RELEASE:
		err = vsvm_dmirror_migrate_to_sys(dm, &cmd);
		break;
	case VSVM_DMIRROR_SNAPSHOT:
		err = vsvm_dmirror_snapshot(dm, &cmd);
		break;
	case VSVM_DMIRROR_EXCLUSIVE:
	case VSVM_DMIRROR_CHECK_EXCLUSIVE:
		err = -EOPNOTSUPP;
		break;
	default:
		err = -EINVAL;
		break;
	}
	if (err)
		return err;
	return copy_to_user(uarg, &cmd, sizeof(cmd)) ? -EFAULT : 0;
}

/*
 * mmap() of the node: zeroed kernel pages inserted in the VMA, which makes
 * it VM_MIXEDMAP (hmm-tests' mixedmap test snapshots such a mapping). The
 * VMA holds the only references: the pages go with the mapping.
 */
static int vsvm_dmirror_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long addr;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page;
		int err;

		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!page)
			return -ENOMEM;
		err = vm_insert_page(vma, addr, page);
		put_page(page);
		if (err)
			return err;
	}
	return 0;
}

static const struct file_operations vsvm_dmirror_fops = {
	.mmap = vsvm_dmirror_mmap,
	.owner = THIS_MODULE,
	.open = vsvm_dmirror_open,
	.release = vsvm_dmirror_release,
	.unlocked_ioctl = vsvm_dmirror_ioctl,
	.llseek = default_llseek,
};

/**
 * vsvm_dmirror_register() - create a device's dmirror node
 * @vdev: the device
 *
 * The misc device ``vsvm_dmirrorN``, N the device's index.
 *
 * Return: 0 or a negative errno.
 */
int vsvm_dmirror_register(struct vsvm_device *vdev)
{
	snprintf(vdev->dmirror_name, sizeof(vdev->dmirror_name),
		 "vsvm_dmirror%u", vdev->index);
	vdev->dmirror.minor = MISC_DYNAMIC_MINOR;
	vdev->dmirror.name = vdev->dmirror_name;
	vdev->dmirror.fops = &vsvm_dmirror_fops;
	vdev->dmirror.parent = vdev->drm.dev;
	return misc_register(&vdev->dmirror);
}

/**
 * vsvm_dmirror_unregister() - remove a device's dmirror node
 * @vdev: the device
 *
 * Open files keep the module, hence the device, alive.
 */
void vsvm_dmirror_unregister(struct vsvm_device *vdev)
{
	misc_deregister(&vdev->dmirror);
}
