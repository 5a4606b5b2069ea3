// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the dmirror personality, the ioctls of the kernel's HMM test driver
 * (lib/test_hmm.c) on vsvm's GPU SVM.
 */

#include <linux/bitmap.h>
#include <linux/compat.h>
#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/interval_tree.h>
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
#include "vsvm_dmirror.h"

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
 *   (anonymous pages migrate, including the written pages of a private file
 *   mapping; shared memory and page-cache pages do not) it fails with
 *   -ENOENT, as test_hmm's read-back does.
 * - MIGRATE_TO_SYS is a prefetch to system memory; cpages counts the pages
 *   that were in this device's VRAM before.
 * - RELEASE: test_hmm evicts all of its device memory; vsvm brings the
 *   request's range back to system memory (as MIGRATE_TO_SYS).
 * - mmap() of the node maps zeroed kernel pages (a VM_MIXEDMAP mapping).
 * - SNAPSHOT reports the CPU page table's state of each page, something
 *   drm_gpusvm has no concept of: it calls hmm_range_fault() directly,
 *   without faulting, under a temporary interval notifier of its own.
 * - EXCLUSIVE gives the device exclusive access to the range's pages (for
 *   atomics), something else drm_gpusvm has no concept of: it calls the
 *   core's make_device_exclusive_range() directly, returns what the device
 *   reads there, and records the pages in the file's own exclusive map
 *   (&vsvm_dmirror.excl), under an interval notifier of the file's own
 *   that drops them at any invalidation: a CPU access, which revokes the
 *   exclusive access, mprotect(), munmap(), fork()... It works in passes
 *   of 64 pages, each watching its pages with a temporary interval notifier
 *   of its own: a pass that an invalidation overlaps is tried again.
 *   CHECK_EXCLUSIVE fails with -EPERM while a page of its range is still in
 *   that map. The GPU page table is not involved: making pages exclusive
 *   invalidates the VM's mappings of them (drm_gpusvm's notifier), and a
 *   later READ or WRITE faults them back through hmm_range_fault(), which
 *   revokes the exclusive access as a CPU access does (test_hmm's READ reads
 *   the pages it holds and keeps them exclusive; no hmm-test tells the two
 *   apart). As on test_hmm, pages of a transparent huge page cannot be made
 *   exclusive on 6.1 (-EBUSY). A kernel without CONFIG_DEVICE_PRIVATE has
 *   no device-exclusive entries: EXCLUSIVE fails with -EOPNOTSUPP there.
 *
 * Errors are test_hmm's, which come from hmm_range_fault(): a READ or WRITE
 * of memory without read access (PROT_NONE, or a VMA no device may mirror)
 * fails with -EFAULT, a WRITE of read-only memory with -EPERM. One
 * exception: EXCLUSIVE of memory the process may not write fails with the
 * -EFAULT of get_user_pages(), where test_hmm, which ignores that error,
 * says -EBUSY.
 */

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

/* Pages one EXCLUSIVE pass makes exclusive, one node of the exclusive map. */
#define VSVM_DMIRROR_EXCL_PAGES		64

/**
 * struct vsvm_dmirror - one open file: a mirror of the opening process
 * @vdev: the device
 * @vm: the VM doing the mirroring
 * @mm: the process mirrored (a reference on the mm_struct, mmgrab())
 * @excl_notifier: interval notifier over the whole address space, which
 *                 drops pages from @excl when they are invalidated
 * @excl_lock: protects @excl and orders it against the sequence of an
 *             EXCLUSIVE pass's notifier (&struct vsvm_dmirror_excl_pass)
 * @excl: the exclusive map: &struct vsvm_dmirror_excl nodes by page index,
 *        the pages the device holds exclusive access to
 */
struct vsvm_dmirror {
	struct vsvm_device *vdev;
	struct vsvm_vm *vm;
	struct mm_struct *mm;
	struct mmu_interval_notifier excl_notifier;
	spinlock_t excl_lock;	/* protects excl, orders it against passes */
	struct rb_root_cached excl;
};

/**
 * struct vsvm_dmirror_excl - a node of the exclusive map
 * @it: the interval of page indices (start and last) it covers
 * @pages: which of them are held exclusive, bit 0 for @it.start
 *
 * One EXCLUSIVE pass inserts one node; invalidations clear bits and free a
 * node with none left. Nodes of passes over the same pages may overlap.
 */
struct vsvm_dmirror_excl {
	struct interval_tree_node it;
	DECLARE_BITMAP(pages, VSVM_DMIRROR_EXCL_PAGES);
};

/* Drop the pages of an invalidated interval from the exclusive map. */
static void vsvm_dmirror_excl_clear(struct vsvm_dmirror *dm,
				    const struct mmu_notifier_range *range)
{
	unsigned long first = range->start >> PAGE_SHIFT;
	unsigned long last = (range->end - 1) >> PAGE_SHIFT;
	struct interval_tree_node *it, *next;

	lockdep_assert_held(&dm->excl_lock);

	for (it = interval_tree_iter_first(&dm->excl, first, last); it;
	     it = next) {
		struct vsvm_dmirror_excl *node =
			container_of(it, struct vsvm_dmirror_excl, it);
		unsigned long from = max(first, it->start) - it->start;
		unsigned long to = min(last, it->last) - it->start + 1;

		next = interval_tree_iter_next(it, first, last);
		bitmap_clear(node->pages, from, to - from);
		if (bitmap_empty(node->pages, VSVM_DMIRROR_EXCL_PAGES)) {
			interval_tree_remove(it, &dm->excl);
			kfree(node);
		}
	}
}

/* Our own make_device_exclusive_range() is not a revocation. */
static bool vsvm_dmirror_excl_ours(struct vsvm_dmirror *dm,
				   const struct mmu_notifier_range *range)
{
	return range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == dm;
}

static bool vsvm_dmirror_excl_invalidate(struct mmu_interval_notifier *mni,
					 const struct mmu_notifier_range *range,
					 unsigned long cur_seq)
{
	struct vsvm_dmirror *dm = container_of(mni, struct vsvm_dmirror,
					       excl_notifier);

	if (vsvm_dmirror_excl_ours(dm, range))
		return true;
	spin_lock(&dm->excl_lock);
	vsvm_dmirror_excl_clear(dm, range);
	spin_unlock(&dm->excl_lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvm_dmirror_excl_ops = {
	.invalidate = vsvm_dmirror_excl_invalidate,
};

/**
 * struct vsvm_dmirror_excl_pass - one EXCLUSIVE pass's interval notifier
 * @notifier: over the pass's pages only: its sequence tells whether they
 *            were invalidated during the pass (a notifier over the whole
 *            address space would make passes retry for unrelated
 *            invalidations)
 * @dm: the file
 */
struct vsvm_dmirror_excl_pass {
	struct mmu_interval_notifier notifier;
	struct vsvm_dmirror *dm;
};

/*
 * Clears the map too: the file's own notifier may have seen this
 * invalidation before the pass recorded its pages, and this one after.
 */
static bool
vsvm_dmirror_excl_pass_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct vsvm_dmirror_excl_pass *pass =
		container_of(mni, struct vsvm_dmirror_excl_pass, notifier);
	struct vsvm_dmirror *dm = pass->dm;

	if (vsvm_dmirror_excl_ours(dm, range))
		return true;
	spin_lock(&dm->excl_lock);
	mmu_interval_set_seq(mni, cur_seq);
	vsvm_dmirror_excl_clear(dm, range);
	spin_unlock(&dm->excl_lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvm_dmirror_excl_pass_ops = {
	.invalidate = vsvm_dmirror_excl_pass_invalidate,
};

static int vsvm_dmirror_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct vsvm_device *vdev = container_of(misc, struct vsvm_device,
						dmirror);
	struct vsvm_dmirror *dm;
	int err;

	if (!current->mm)
		return -EINVAL;
	dm = kzalloc(sizeof(*dm), GFP_KERNEL_ACCOUNT);
	if (!dm)
		return -ENOMEM;
	dm->vdev = vdev;
	spin_lock_init(&dm->excl_lock);
	dm->excl = RB_ROOT_CACHED;
	err = mmu_interval_notifier_insert(&dm->excl_notifier, current->mm, 0,
					   TASK_SIZE_MAX,
					   &vsvm_dmirror_excl_ops);
	if (err)
		goto err_free;
	dm->vm = vsvm_vm_create(vdev, current->mm);
	if (IS_ERR(dm->vm)) {
		err = PTR_ERR(dm->vm);
		goto err_remove;
	}
	dm->mm = current->mm;
	mmgrab(dm->mm);
	file->private_data = dm;
	return 0;

err_remove:
	mmu_interval_notifier_remove(&dm->excl_notifier);
err_free:
	kfree(dm);
	return err;
}

static int vsvm_dmirror_release(struct inode *inode, struct file *file)
{
	struct vsvm_dmirror *dm = file->private_data;
	struct interval_tree_node *it;

	vsvm_vm_destroy(dm->vm);
	mmu_interval_notifier_remove(&dm->excl_notifier);
	while ((it = interval_tree_iter_first(&dm->excl, 0, ULONG_MAX))) {
		interval_tree_remove(it, &dm->excl);
		kfree(container_of(it, struct vsvm_dmirror_excl, it));
	}
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
	 * (from hmm_range_fault()): a write to read-only memory (-EACCES from
	 * the fault) is -EPERM; any access to memory without read access or
	 * that no device may mirror (-EPERM from the fault), and a read
	 * refused otherwise, is -EFAULT.
	 */
	if (err == -EACCES && write)
		return -EPERM;
	if (err == -EACCES || err == -EPERM)
		return -EFAULT;
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
	unsigned long first = jiffies;
	unsigned int passes = 0;
	int err;

	while (addr < end) {
		if (vsvm_dmirror_copy_page(dm, addr, buf, write)) {
			addr += PAGE_SIZE;
			buf += PAGE_SIZE;
			cmd->cpages++;
			continue;
		}
		if (!vsvm_fault_retry(passes++, first))
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
	err = vsvm_svm_prefetch(dm->vm, cmd->addr, end,
				VSVM_PLACE_DEVICE_FROM_SYSTEM, 0);
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

	err = vsvm_svm_prefetch(dm->vm, cmd->addr, end, VSVM_PLACE_SYSTEM,
				0);
	if (err)
		return err == -EACCES ? -EPERM : err;
	cmd->cpages = cpages;
	return 0;
}

/*
 * Give the device exclusive access to [addr, addr + n pages), n at most
 * VSVM_DMIRROR_EXCL_PAGES, copy what it reads there to @buf and record the
 * pages in the exclusive map (@node, allocated by the caller, inserted or
 * left to the caller). The caller holds a reference on the mm.
 *
 * Return: 0, -EAGAIN if an invalidation raced (try again), -EBUSY if a
 * page could not be made exclusive, or make_device_exclusive_range()'s
 * error.
 */
static int vsvm_dmirror_exclusive_chunk(struct vsvm_dmirror *dm,
					unsigned long addr, unsigned long n,
					void *buf, struct vsvm_dmirror_excl *node)
{
	struct page *pages[VSVM_DMIRROR_EXCL_PAGES];
	struct vsvm_dmirror_excl_pass pass = { .dm = dm };
	unsigned long seq, i;
	long got;
	int err;

	/* make_device_exclusive_range() exists with device-private pages. */
	if (!IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		return -EOPNOTSUPP;

	/*
	 * Revoke, outside the notifier's critical section, an exclusive
	 * access the pages still have from an earlier pass: the GUP of
	 * make_device_exclusive_range() would revoke it inside, which is an
	 * invalidation that makes every pass over such pages retry.
	 */
	mmap_read_lock(dm->mm);
	got = get_user_pages_remote(dm->mm, addr, n, FOLL_WRITE, pages, NULL,
				    NULL);
	mmap_read_unlock(dm->mm);
	if (got < 0)
		return got;
	for (i = 0; i < got; i++)
		put_page(pages[i]);
	if (got < n)
		return -EBUSY;

	err = mmu_interval_notifier_insert(&pass.notifier, dm->mm, addr,
					   n << PAGE_SHIFT,
					   &vsvm_dmirror_excl_pass_ops);
	if (err)
		return err;
	seq = mmu_interval_read_begin(&pass.notifier);
	mmap_read_lock(dm->mm);
	got = make_device_exclusive_range(dm->mm, addr, addr + (n << PAGE_SHIFT),
					  pages, dm);
	if (got < 0) {
		err = got;
		goto out_unlock_mm;
	}
	err = got < n ? -EBUSY : 0;
	for (i = 0; i < got; i++) {
		void *p;

		if (!pages[i]) {
			err = -EBUSY;
			continue;
		}
		/* What the device reads, while it holds the page (locked). */
		p = kmap_local_page(pages[i]);
		memcpy(buf + (i << PAGE_SHIFT), p, PAGE_SIZE);
		kunmap_local(p);
	}
	if (!err) {
		/* The pages are locked: a CPU access waits until they are not. */
		spin_lock(&dm->excl_lock);
		if (mmu_interval_read_retry(&pass.notifier, seq)) {
			err = -EAGAIN;
		} else {
			node->it.start = addr >> PAGE_SHIFT;
			node->it.last = node->it.start + n - 1;
			bitmap_set(node->pages, 0, n);
			interval_tree_insert(&node->it, &dm->excl);
		}
		spin_unlock(&dm->excl_lock);
	}
	for (i = 0; i < got; i++) {
		if (pages[i]) {
			unlock_page(pages[i]);
			put_page(pages[i]);
		}
	}
out_unlock_mm:
	mmap_read_unlock(dm->mm);
	mmu_interval_notifier_remove(&pass.notifier);
	return err;
}

static int vsvm_dmirror_exclusive(struct vsvm_dmirror *dm,
				  struct vsvm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	size_t size = cmd->npages << PAGE_SHIFT;
	struct vsvm_dmirror_excl *node = NULL;
	unsigned long addr, n;
	unsigned int tries;
	void *buf;
	int err = 0;

	buf = kvmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!buf)
		return -ENOMEM;
	if (!mmget_not_zero(dm->mm)) {
		err = -EINVAL;
		goto out_free;
	}
	for (addr = cmd->addr; addr < end; addr += n << PAGE_SHIFT) {
		void *chunk = buf + (addr - cmd->addr);

		n = min_t(unsigned long, VSVM_DMIRROR_EXCL_PAGES,
			  (end - addr) >> PAGE_SHIFT);
		for (tries = 0; tries < VSVM_FAULT_TRIES; tries++) {
			if (fatal_signal_pending(current)) {
				err = -EINTR;
				goto out_mmput;
			}
			if (!node)
				node = kzalloc(sizeof(*node),
					       GFP_KERNEL_ACCOUNT);
			if (!node) {
				err = -ENOMEM;
				goto out_mmput;
			}
			err = vsvm_dmirror_exclusive_chunk(dm, addr, n, chunk,
							   node);
			if (err != -EAGAIN)
				break;
		}
		if (err == -EAGAIN)
			err = -EBUSY;
		if (err)
			goto out_mmput;
		node = NULL;	/* in the exclusive map */
		cmd->cpages += n;
	}
	if (copy_to_user(u64_to_user_ptr(cmd->ptr), buf, size))
		err = -EFAULT;
out_mmput:
	mmput(dm->mm);
	kfree(node);
out_free:
	kvfree(buf);
	return err;
}

/* -EPERM while the device holds a page of the range exclusive. */
static int vsvm_dmirror_check_exclusive(struct vsvm_dmirror *dm,
					struct vsvm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long last = first + cmd->npages - 1;
	struct interval_tree_node *it;
	int err = 0;

	spin_lock(&dm->excl_lock);
	for (it = interval_tree_iter_first(&dm->excl, first, last); it;
	     it = interval_tree_iter_next(it, first, last)) {
		struct vsvm_dmirror_excl *node =
			container_of(it, struct vsvm_dmirror_excl, it);
		unsigned long from = max(first, it->start) - it->start;
		unsigned long to = min(last, it->last) - it->start + 1;

		if (find_next_bit(node->pages, to, from) < to) {
			err = -EPERM;
			break;
		}
	}
	spin_unlock(&dm->excl_lock);
	return err;
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
		prot = drm_pagemap_page_to_dpagemap(page) ==
		       vsvm_vram_dpagemap(dm->vdev) ?
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
		.dev_private_owner = dm->vdev->page_owner,
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
		err = vsvm_dmirror_exclusive(dm, &cmd);
		break;
	case VSVM_DMIRROR_CHECK_EXCLUSIVE:
		err = vsvm_dmirror_check_exclusive(dm, &cmd);
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
	.compat_ioctl = compat_ptr_ioctl,
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
