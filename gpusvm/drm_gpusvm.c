// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * drm_gpusvm: GPU shared virtual memory helpers.
 *
 * Follows the upstream drm_gpusvm helper in its restructured form: the SVM
 * context is pure MM level and device state lives in pages objects.
 */

#include <kunit/resource.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/hmm.h>
#include <linux/hugetlb.h>
#include <linux/log2.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/rhashtable.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/userfaultfd_k.h>
#include <uapi/linux/magic.h>

#include <drm/drm_device.h>
#include <drm/drm_gpusvm.h>

/**
 * DOC: Overview
 *
 * GPU shared virtual memory (SVM) lets a GPU use the CPU virtual addresses of
 * a process: any pointer a malloc() or mmap() returned is valid on the device.
 * drm_gpusvm is the machinery every such driver needs:
 *
 * - It tracks which parts of the address space the GPU has touched, as
 *   *ranges* (&struct drm_gpusvm_range) grouped under *notifiers*
 *   (&struct drm_gpusvm_notifier), each notifier one MMU interval notifier
 *   over an aligned window of &drm_gpusvm.notifier_size bytes.
 * - On a GPU page fault, drm_gpusvm_range_find_or_insert() returns the range
 *   around the address, created at the largest chunk size that fits.
 * - drm_gpusvm_get_pages() faults the CPU pages in with hmm_range_fault() and
 *   DMA-maps them for a device, one mapping per CPU mapping (a 2 MiB THP is
 *   one DMA mapping), into a *pages* object (&struct drm_gpusvm_pages).
 * - When the CPU side changes (munmap, mprotect, migration, COW after fork,
 *   reclaim), the MMU notifier calls the driver's &drm_gpusvm_ops.invalidate
 *   with the notifier lock held for write; the driver zaps its GPU mappings and
 *   unmaps the pages.
 * - A range lives inside one CPU VMA. When the VMA is split under it
 *   (mprotect(), mlock(), madvise() or mremap() of part of it), the next
 *   fault there retires the range as a partial munmap() would, and the
 *   driver's garbage collector replaces it with ranges that fit.
 * - Not every VMA can be mirrored: I/O and special mappings (the vDSO),
 *   memory without read permission, memfd_secret() memory and
 *   userfaultfd-registered memory are refused.
 *
 * The design separates two pairs of things that an earlier form of the helper
 * tied together:
 *
 * - **Range vs pages.** &struct drm_gpusvm_range holds only MM / VA state
 *   (interval, notifier, refcount, the *unmapped* and *partial_unmap* flags).
 *   &struct drm_gpusvm_pages holds the device-side state (DMA addresses,
 *   device-memory provider, notifier sequence number, its own flags). The two
 *   have independent lifetimes: a pages object can exist with no range at all
 *   (userptr).
 * - **GPU SVM vs device.** &struct drm_gpusvm knows the mm, the VA window, the
 *   notifier and chunk sizes, the ops and the notifier lock: it has no
 *   &struct drm_device. Each pages object carries its device
 *   (&drm_gpusvm_pages.drm) and all DMA mapping goes through it, so several
 *   devices can share one GPU SVM.
 *
 * Only pages helpers exist for the device side: drm_gpusvm_init_pages(),
 * drm_gpusvm_get_pages(), drm_gpusvm_pages_valid(),
 * drm_gpusvm_unmap_pages() and drm_gpusvm_free_pages(). A driver calls them
 * on the pages objects it embeds in its ranges.
 *
 * A GPU SVM created without an mm supports only pages objects (userptr) and no
 * ranges.
 *
 * Device memory: a range created with &drm_gpusvm_ctx.devmem_possible over
 * anonymous memory or a writable private file mapping (not hugetlbfs) is
 * marked &drm_gpusvm_range_flags.migrate_devmem; the driver
 * migrates it with the drm_pagemap helpers (gpusvm/drm_pagemap.c, DOC: Device
 * memory). drm_gpusvm_get_pages() then maps the device pages owned by
 * &drm_gpusvm_ctx.device_private_page_owner through their provider's
 * device_map (%DRM_INTERCONNECT_DRIVER, &drm_gpusvm_pages_flags.has_devmem_pages),
 * and drm_gpusvm_range_evict() brings a range back to system memory.
 * drm_gpusvm_scan_mm() tells where the pages of a range are now (not present,
 * system memory, which device pagemap, or a mix) without faulting or
 * migrating anything: the hint for deciding whether to migrate.
 *
 * Walking an interval: drm_gpusvm_for_each_notifier() visits the notifiers
 * overlapping it, drm_gpusvm_for_each_range() the ranges of one notifier
 * (both with a _safe variant for removal), and drm_gpusvm_find_vma_start()
 * skips the holes between CPU VMAs. A GPU SVM allocated by itself is torn
 * down and freed with drm_gpusvm_free().
 */

/**
 * DOC: Driver layouts
 *
 * A driver embeds &struct drm_gpusvm_range in its own range struct together
 * with its pages objects, and allocates that struct in
 * &drm_gpusvm_ops.range_alloc:
 *
 * 1:1, one device per GPU SVM (an xe-style VM)::
 *
 *	struct driver_range {
 *		struct drm_gpusvm_range base;
 *		struct drm_gpusvm_pages pages;
 *		struct list_head gc_link;
 *	};
 *
 *	static struct drm_gpusvm_range *driver_range_alloc(struct drm_gpusvm *svm)
 *	{
 *		struct driver_vm *vm = container_of(svm, struct driver_vm, svm);
 *		struct driver_range *r = kzalloc(sizeof(*r), GFP_KERNEL);
 *
 *		if (!r)
 *			return NULL;
 *		drm_gpusvm_init_pages(&r->pages, vm->drm);
 *		return &r->base;
 *	}
 *
 * N:1, several devices share one GPU SVM (one per process mm, as amdgpu does
 * for multi-GPU processes); the range embeds one pages object per device, in
 * one contiguous array so drm_gpusvm_range_set_unmapped() can mark them all::
 *
 *	struct driver_range {
 *		struct drm_gpusvm_range base;
 *		unsigned int num_pages;
 *		struct drm_gpusvm_pages pages[];	// one per device
 *	};
 *
 *	for (i = 0; i < ndev; i++)
 *		drm_gpusvm_init_pages(&r->pages[i], dev[i]);
 *
 * The trade-off: in 1:1 a process using one buffer on N devices has N GPU
 * SVMs, so N ranges, N MMU interval notifiers and N hmm_range_fault() calls
 * for the same CPU pages. In N:1 the devices share one range and one notifier;
 * only the per-device DMA mapping differs. The invalidate callback of an N:1
 * driver must then zap every device that maps the range.
 *
 * Several devices at once (N:1): drm_gpusvm_get_pages_multi() faults the CPU
 * pages once and DMA-maps them for each pages object it is given, any subset
 * of the range's in any order, e.g. for a prefetch that names several
 * devices, or a fault on a range the driver wants mapped everywhere::
 *
 *	struct drm_gpusvm_pages *set[] = { &r->pages[0], &r->pages[2] };
 *
 *	err = drm_gpusvm_get_pages_multi(svm, set, ARRAY_SIZE(set), svm->mm,
 *					 &r->base.notifier->notifier,
 *					 start, end, &ctx);
 *	// then, under the notifier lock: every object of set valid? bind each
 *
 * One &drm_gpusvm_ctx serves all of them, so its device-private owner must be
 * one every device in the set can map: their shared owner when they are
 * peers, else NULL (device pages come back to system memory, which every
 * device reaches). Objects already valid are left alone; on failure only
 * what the call mapped is undone.
 *
 * Each device's mapping remains its own: the invalidate callback unmaps
 * them all, but a driver may unmap one device's object alone (its last VM on
 * that device went, it evicts that device's TLB, ...) with
 * drm_gpusvm_unmap_pages(), and the other devices' mappings stay valid with
 * the same addresses; the next get_pages for that device maps it again.
 *
 * Extensions of this tree, which mainline lacks (the series' announced
 * follow-ups): drm_gpusvm_get_pages_multi() itself, and pages objects without
 * a DMA device (drm_gpusvm_init_pages() with a NULL device: the addresses are
 * CPU physical addresses, %DRM_INTERCONNECT_CPU, for an agent that reads the
 * pages with the CPU, valid while the notifier sequence holds).
 *
 * Device memory with several devices: device-private pages have a page owner
 * (&dev_pagemap.owner). hmm_range_fault() hands a pages object only the
 * device pages of &drm_gpusvm_ctx.device_private_page_owner and migrates any
 * other owner's back to system memory first, so a device never reads a
 * stale copy. Devices on a fast interconnect share one owner: then each maps
 * the others' device pages as they are, through the owning provider's
 * &drm_pagemap_ops.device_map (peer access), in either layout. One mapping
 * holds the device pages of one provider only: a range with pages of two
 * gets -EOPNOTSUPP, and the driver moves it back to system memory
 * (drm_gpusvm_range_evict()) before mapping it again.
 *
 * Userptr: a pages object without a range, validated by an MMU interval
 * notifier the driver owns. The GPU SVM may have no mm at all in that case.
 *
 * Coherency: SVM presumes a cache-coherent interconnect, since the CPU and the
 * device use the same memory at the same time with no hand-over points.
 * The same CPU page is routinely mirrored several times at once: for several
 * devices (N:1), by a range and a userptr over the same memory, by several
 * VMs or processes on one device. The framework maps a chunk of system memory
 * writable once per device (and order) and shares that DMA mapping, counted,
 * between all the pages objects of the device that mirror it writable: a
 * chunk has one writable mapping per device, whatever user space does
 * (DMA-API debugging reports more than seven overlapping writable mappings
 * of a cacheline). A chunk is its first page and its size: chunks of other
 * sizes over the same page (a 2 MiB range, a 64 KiB one and a userptr's
 * 4 KiB pages) are mapped apart. Read-only mappings (DMA_TO_DEVICE), which no
 * device write can make stale, are each pages object's own: a read fault,
 * the common case, maps its pages without looking anything up. It maps with
 * DMA_ATTR_SKIP_CPU_SYNC: there is no ownership transfer for CPU cache
 * maintenance to mark, and DMA-API debugging accepts the overlapping
 * mappings of several devices. That is only correct while no mapping needs a CPU
 * sync: a DMA mapping that would (swiotlb bounce buffering, as in
 * confidential guests or for a device whose DMA mask cannot reach the page,
 * or a non-coherent device) makes drm_gpusvm_get_pages() fail with
 * -EOPNOTSUPP rather than let the device work on a bounce buffer the CPU
 * never sees. A driver should refuse SVM up front on such a device (for
 * example when is_swiotlb_force_bounce() or dma_addressing_limited() is true
 * for it).
 */

/**
 * DOC: Locking
 *
 * Three locks, outermost first:
 *
 * 1. **The driver lock** (the VM or SVM lock of the driver): serialises range
 *    insertion and removal. Held by the GPU fault handler around
 *    drm_gpusvm_range_find_or_insert() and the get-pages/bind sequence, and by
 *    the garbage collector around drm_gpusvm_range_remove(). Register it with
 *    drm_gpusvm_driver_set_lock() and lockdep checks it is held.
 * 2. **mmap_lock**: taken for read inside drm_gpusvm_range_find_or_insert(),
 *    drm_gpusvm_get_pages(), drm_gpusvm_scan_mm() and
 *    drm_gpusvm_find_vma_start() (and migration). The MMU notifier runs the
 *    invalidate callback with mmap_lock held for munmap().
 * 3. **The notifier lock** (&drm_gpusvm.notifier_lock): taken for write by
 *    the invalidation callback; for read by drm_gpusvm_get_pages() while it
 *    DMA-maps, and by the driver from drm_gpusvm_pages_valid() until its GPU
 *    bind is done.
 *
 * The invalidate callback never takes the driver lock (it would invert 1 and
 * 2). It may be called from memory reclaim: no allocation under the notifier
 * lock (lockdep knows, see drm_gpusvm_init()). drm_gpusvm_get_pages(),
 * drm_gpusvm_free_pages() and the last drm_gpusvm_range_put() (whose
 * &drm_gpusvm_ops.range_free frees the pages) take the notifier lock
 * themselves: calling them with it held, for example dropping a range
 * reference in the invalidate callback, would deadlock, and lockdep says so
 * at every call.
 *
 * A DMA mapping is only dropped when no device can use it any more: by the
 * invalidate callback after its TLB invalidation, by the driver's own
 * drm_gpusvm_unmap_pages() after it zapped and waited, by
 * drm_gpusvm_free_pages(). drm_gpusvm_get_pages() never replaces a valid
 * mapping: to upgrade a read-only mapping for a write, the driver zaps and
 * waits, unmaps, then asks for the writable one (-EBUSY tells it to).
 *
 * Flags of ranges and pages are written under the notifier lock as a whole
 * word with WRITE_ONCE() and may be read locklessly with READ_ONCE() as hints
 * (drm_gpusvm_pages_valid_unlocked()); the authoritative check is made under
 * the notifier lock.
 */

/**
 * DOC: Examples
 *
 * GPU page fault handler (1:1, driver lock held by the caller)::
 *
 *	int driver_gpu_fault(struct driver_vm *vm, unsigned long addr)
 *	{
 *		struct drm_gpusvm_ctx ctx = { .read_only = !fault_is_write };
 *		struct drm_gpusvm_range *r, *last_failed = NULL;
 *		struct driver_range *dr;
 *		unsigned int tries = 0;
 *		int err;
 *
 *		lockdep_assert_held(&vm->lock);
 *	retry:
 *		if (tries++ == DRIVER_FAULT_TRIES)
 *			return -EBUSY;
 *		r = drm_gpusvm_range_find_or_insert(&vm->svm, addr, vm->va_start,
 *						    vm->va_end, &ctx);
 *		if (IS_ERR(r))
 *			return PTR_ERR(r);
 *		dr = to_driver_range(r);
 *
 *		if (!ctx.read_only && pages_read_only(&dr->pages)) {
 *			// a read-only mapping is in use: drop it first
 *			driver_zap_ptes(r);
 *			driver_tlb_invalidate_and_wait(r);
 *			drm_gpusvm_unmap_pages(&vm->svm, &dr->pages,
 *					       drm_gpusvm_range_npages(r), &ctx);
 *		}
 *		err = drm_gpusvm_get_pages(&vm->svm, &dr->pages, vm->svm.mm,
 *					   &r->notifier->notifier,
 *					   drm_gpusvm_range_start(r),
 *					   drm_gpusvm_range_end(r), &ctx);
 *		if (err == -EAGAIN)
 *			goto retry;
 *		if (err == -EFAULT && range_unmapped(r)) {
 *			// unmapped (or retired) meanwhile: let the GC remove
 *			// it, then fault a new range
 *			driver_garbage_collect(vm);
 *			goto retry;
 *		}
 *		if ((err == -EFAULT || err == -EPERM) && r != last_failed) {
 *			// the VMA may have been split after find_or_insert
 *			// looked: look again (it retires a range that no
 *			// longer fits); the same range failing again is the
 *			// answer
 *			last_failed = r;
 *			goto retry;
 *		}
 *		if (err)
 *			return err;
 *
 *		drm_gpusvm_notifier_lock(&vm->svm);
 *		if (!drm_gpusvm_pages_valid(&vm->svm, &dr->pages)) {
 *			drm_gpusvm_notifier_unlock(&vm->svm);
 *			goto retry;
 *		}
 *		driver_bind_ptes(vm, r, dr->pages.dma_addr);
 *		drm_gpusvm_notifier_unlock(&vm->svm);
 *		return 0;
 *	}
 *
 * with the flags read locklessly, one word at a time::
 *
 *	static bool range_unmapped(struct drm_gpusvm_range *r)
 *	{
 *		struct drm_gpusvm_range_flags f = {
 *			.__flags = READ_ONCE(r->flags.__flags)
 *		};
 *
 *		return f.unmapped;
 *	}
 *
 * and pages_read_only() alike on &drm_gpusvm_pages.flags. The retries are
 * bounded: an invalidation storm fails the GPU access with -EBUSY instead of
 * spinning; any other error fails it at once.
 *
 * Invalidation (notifier lock held for write by the framework)::
 *
 *	void driver_invalidate(struct drm_gpusvm *svm,
 *			       struct drm_gpusvm_notifier *notifier,
 *			       const struct mmu_notifier_range *mmu_range)
 *	{
 *		struct drm_gpusvm_ctx ctx = { .in_notifier = true };
 *		struct drm_gpusvm_range *r;
 *
 *		drm_gpusvm_for_each_range(r, notifier, mmu_range->start,
 *					  mmu_range->end) {
 *			struct driver_range *dr = to_driver_range(r);
 *
 *			driver_zap_ptes(r);
 *			driver_tlb_invalidate_and_wait(r);
 *			drm_gpusvm_unmap_pages(svm, &dr->pages,
 *					       drm_gpusvm_range_npages(r), &ctx);
 *			if (mmu_range->event == MMU_NOTIFY_UNMAP) {
 *				drm_gpusvm_range_set_unmapped(r, &dr->pages, 1,
 *							      mmu_range);
 *				driver_gc_queue(r);	// no removal here
 *			}
 *		}
 *	}
 *
 * Garbage collector (a worker, driver lock held)::
 *
 *	void driver_garbage_collect(struct driver_vm *vm)
 *	{
 *		struct drm_gpusvm_ctx ctx = {};
 *
 *		lockdep_assert_held(&vm->lock);
 *		for_each_queued_range(vm, dr) {
 *			driver_unbind(dr);
 *			// DMA-unmap BEFORE the range leaves the interval tree:
 *			// afterwards no notifier would find it any more
 *			drm_gpusvm_unmap_pages(&vm->svm, &dr->pages,
 *					       drm_gpusvm_range_npages(&dr->base),
 *					       &ctx);
 *			drm_gpusvm_range_remove(&vm->svm, &dr->base);
 *		}
 *	}
 *
 * A partially unmapped range is removed whole; the part still mapped by the
 * CPU is faulted again later as new ranges.
 *
 * Removing every range of an interval (driver lock held); a notifier goes
 * with its last range, which the _safe iterators allow::
 *
 *	drm_gpusvm_for_each_notifier_safe(n, next_n, &vm->svm, start, end)
 *		drm_gpusvm_for_each_range_safe(r, next_r, n, start, end)
 *			driver_range_remove(vm, r);	// as the GC does
 *
 * Prefetch of an interval with holes to device memory (driver lock held),
 * migrating only the ranges not there yet::
 *
 *	for (addr = start; addr < end; addr = drm_gpusvm_range_end(r)) {
 *		addr = drm_gpusvm_find_vma_start(&vm->svm, addr, end);
 *		if (addr == ULONG_MAX)
 *			break;			// no CPU memory left in it
 *		r = drm_gpusvm_range_find_or_insert(&vm->svm, addr, start,
 *						    end, &ctx);
 *		if (IS_ERR(r))
 *			return PTR_ERR(r);
 *		if (drm_gpusvm_scan_mm(r, ctx.device_private_page_owner,
 *				       vram->pagemap) != DRM_GPUSVM_SCAN_EQUAL)
 *			driver_migrate_to_vram(vm, r);
 *	}
 *
 * Userptr (a pages object without a range)::
 *
 *	drm_gpusvm_init_pages(&uptr->pages, drm);	// before the notifier
 *	mmu_interval_notifier_insert(&uptr->notifier, mm, start, size, &ops);
 *	err = drm_gpusvm_get_pages(svm, &uptr->pages, mm, &uptr->notifier,
 *				   start, start + size, &ctx);
 *
 *	// its own invalidate callback:
 *	down_write(&svm->notifier_lock);
 *	mmu_interval_set_seq(mni, cur_seq);
 *	driver_zap_and_wait(uptr);
 *	drm_gpusvm_unmap_pages(svm, &uptr->pages, npages, &in_notifier_ctx);
 *	up_write(&svm->notifier_lock);
 */

#ifdef CONFIG_LOCKDEP
static void drm_gpusvm_driver_lock_held(struct drm_gpusvm *gpusvm)
{
	if (gpusvm->lock_dep_map)
		lockdep_assert(lock_is_held(gpusvm->lock_dep_map));
}
#else
static void drm_gpusvm_driver_lock_held(struct drm_gpusvm *gpusvm)
{
}
#endif

static unsigned long npages_in_range(unsigned long start, unsigned long end)
{
	return (end - start) >> PAGE_SHIFT;
}

/* memfd_secret() memory: its pages are gone from the kernel's direct map. */
static bool drm_gpusvm_vma_is_secretmem(struct vm_area_struct *vma)
{
	return vma->vm_file &&
	       file_inode(vma->vm_file)->i_sb->s_magic == SECRETMEM_MAGIC;
}

/*
 * Whether a device may mirror @vma. Not: I/O and special mappings (VM_IO,
 * VM_PFNMAP, VM_MIXEDMAP, and VM_DONTEXPAND, which the kernel's own special
 * mappings such as the vDSO carry: their pages can be kernel image pages;
 * hugetlbfs sets it too, and is mirrored), memory the CPU may not read,
 * memfd_secret() memory (a device or a CPU-side consumer would reach it
 * through the direct map) and memory registered with userfaultfd
 * (hmm_range_fault() cannot wait for its user-space handler).
 */
static bool drm_gpusvm_vma_mirrorable(struct vm_area_struct *vma)
{
	if ((vma->vm_flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP)) ||
	    ((vma->vm_flags & VM_DONTEXPAND) && !is_vm_hugetlb_page(vma)))
		return false;
	return (vma->vm_flags & VM_READ) && !userfaultfd_armed(vma) &&
	       !drm_gpusvm_vma_is_secretmem(vma);
}

/*
 * Whether every address of [start, end) lies in a VMA a device may mirror.
 * mmap_lock held.
 *
 * Return: 0, or -EFAULT (a hole, or a VMA that cannot be mirrored: the error
 * hmm_range_fault() itself gives for VM_IO and VM_PFNMAP).
 */
static int drm_gpusvm_check_vmas(struct mm_struct *mm, unsigned long start,
				 unsigned long end)
{
	struct vm_area_struct *vma;

	lockdep_assert_held(&mm->mmap_lock);

	for (; start < end; start = vma->vm_end) {
		vma = vma_lookup(mm, start);
		if (!vma || !drm_gpusvm_vma_mirrorable(vma))
			return -EFAULT;
	}
	return 0;
}

static bool drm_gpusvm_notifier_invalidate(struct mmu_interval_notifier *mni,
					   const struct mmu_notifier_range *mmu_range,
					   unsigned long cur_seq)
{
	struct drm_gpusvm_notifier *notifier =
		container_of(mni, struct drm_gpusvm_notifier, notifier);
	struct drm_gpusvm *gpusvm = notifier->gpusvm;

	/*
	 * The driver must wait for its GPU in ->invalidate, which a
	 * non-blocking context (the OOM reaper) cannot do: ask it to skip.
	 */
	if (!mmu_notifier_range_blockable(mmu_range))
		return false;

	down_write(&gpusvm->notifier_lock);
	mmu_interval_set_seq(mni, cur_seq);
	gpusvm->ops->invalidate(gpusvm, notifier, mmu_range);
	up_write(&gpusvm->notifier_lock);

	return true;
}

static const struct mmu_interval_notifier_ops drm_gpusvm_notifier_ops = {
	.invalidate = drm_gpusvm_notifier_invalidate,
};

static bool drm_gpusvm_chunk_sizes_valid(const unsigned long *chunk_sizes,
					 int num_chunks,
					 unsigned long notifier_size)
{
	int i;

	if (!chunk_sizes || num_chunks <= 0 ||
	    chunk_sizes[num_chunks - 1] != PAGE_SIZE)
		return false;
	for (i = 0; i < num_chunks; i++) {
		if (!is_power_of_2(chunk_sizes[i]) ||
		    chunk_sizes[i] > notifier_size)
			return false;
		if (i && chunk_sizes[i] >= chunk_sizes[i - 1])
			return false;
	}
	return true;
}

/**
 * drm_gpusvm_init() - initialise a GPU SVM
 * @gpusvm: the GPU SVM to initialise
 * @name: name, for debugging
 * @mm: the mm to mirror, or NULL for a GPU SVM used only with pages objects
 *      without ranges (then @mm_start, @mm_range, @notifier_size, @ops and
 *      @chunk_sizes must all be 0 / NULL)
 * @mm_start: start of the VA window to mirror
 * @mm_range: size of the VA window
 * @notifier_size: size of each notifier window, a power of two of at least
 *                 PAGE_SIZE (for example SZ_512M)
 * @ops: driver callbacks; &drm_gpusvm_ops.invalidate is required
 * @chunk_sizes: range sizes, descending powers of two, the last PAGE_SIZE,
 *               none larger than @notifier_size
 * @num_chunks: number of entries in @chunk_sizes
 *
 * Takes a reference on @mm (mmgrab) until drm_gpusvm_fini().
 *
 * Return: 0 on success, -EINVAL on an invalid argument.
 */
int drm_gpusvm_init(struct drm_gpusvm *gpusvm, const char *name,
		    struct mm_struct *mm, unsigned long mm_start,
		    unsigned long mm_range, unsigned long notifier_size,
		    const struct drm_gpusvm_ops *ops,
		    const unsigned long *chunk_sizes, int num_chunks)
{
	if (mm) {
		if (!ops || !ops->invalidate || !mm_range ||
		    mm_start + mm_range < mm_start ||
		    !is_power_of_2(notifier_size) || notifier_size < PAGE_SIZE ||
		    !drm_gpusvm_chunk_sizes_valid(chunk_sizes, num_chunks,
						  notifier_size))
			return -EINVAL;
		mmgrab(mm);
	} else if (mm_start || mm_range || notifier_size || ops ||
		   chunk_sizes || num_chunks) {
		return -EINVAL;
	}

	gpusvm->name = name;
	gpusvm->mm = mm;
	gpusvm->mm_start = mm_start;
	gpusvm->mm_range = mm_range;
	gpusvm->notifier_size = notifier_size;
	gpusvm->ops = ops;
	gpusvm->chunk_sizes = chunk_sizes;
	gpusvm->num_chunks = num_chunks;
	init_rwsem(&gpusvm->notifier_lock);
	gpusvm->root = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&gpusvm->notifier_list);
#ifdef CONFIG_LOCKDEP
	gpusvm->lock_dep_map = NULL;
#endif

	/*
	 * The notifier lock is taken in the invalidation callback, which can
	 * run from memory reclaim: teach lockdep so that any allocation that
	 * could recurse into reclaim under the lock is reported.
	 */
	fs_reclaim_acquire(GFP_KERNEL);
	might_lock(&gpusvm->notifier_lock);
	fs_reclaim_release(GFP_KERNEL);

	return 0;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_init);

/**
 * drm_gpusvm_notifier_find() - find the notifier overlapping an interval
 * @gpusvm: the GPU SVM
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * Caller holds the driver lock.
 *
 * Return: the lowest notifier overlapping [@start, @end), or NULL (always
 * for an empty interval).
 */
struct drm_gpusvm_notifier *
drm_gpusvm_notifier_find(struct drm_gpusvm *gpusvm, unsigned long start,
			 unsigned long end)
{
	struct interval_tree_node *itree;

	if (start >= end)
		return NULL;
	itree = interval_tree_iter_first(&gpusvm->root, start, end - 1);
	return itree ? container_of(itree, struct drm_gpusvm_notifier, itree) :
		       NULL;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_notifier_find);

/**
 * __drm_gpusvm_notifier_next() - the notifier after a notifier in its GPU SVM
 * @notifier: the notifier
 *
 * For drm_gpusvm_for_each_notifier(). Caller holds the driver lock.
 *
 * Return: the next notifier in address order, or NULL.
 */
struct drm_gpusvm_notifier *
__drm_gpusvm_notifier_next(struct drm_gpusvm_notifier *notifier)
{
	if (list_is_last(&notifier->entry, &notifier->gpusvm->notifier_list))
		return NULL;
	return list_next_entry(notifier, entry);
}
EXPORT_SYMBOL_GPL(__drm_gpusvm_notifier_next);

/**
 * drm_gpusvm_range_find() - find the first range overlapping an interval
 * @notifier: the notifier to search
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * Caller holds the notifier lock or the driver lock.
 *
 * Return: the lowest range of @notifier overlapping [@start, @end), or NULL
 * (always for an empty interval).
 */
struct drm_gpusvm_range *
drm_gpusvm_range_find(struct drm_gpusvm_notifier *notifier,
		      unsigned long start, unsigned long end)
{
	struct interval_tree_node *itree;

	if (start >= end)
		return NULL;
	itree = interval_tree_iter_first(&notifier->root, start, end - 1);
	return itree ? container_of(itree, struct drm_gpusvm_range, itree) :
		       NULL;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_find);

/**
 * __drm_gpusvm_range_next() - the range after a range in its notifier
 * @range: the range
 *
 * For drm_gpusvm_for_each_range().
 *
 * Return: the next range in address order, or NULL.
 */
struct drm_gpusvm_range *__drm_gpusvm_range_next(struct drm_gpusvm_range *range)
{
	if (list_is_last(&range->entry, &range->notifier->range_list))
		return NULL;
	return list_next_entry(range, entry);
}
EXPORT_SYMBOL_GPL(__drm_gpusvm_range_next);

static struct drm_gpusvm_notifier *
drm_gpusvm_notifier_alloc(struct drm_gpusvm *gpusvm, unsigned long addr)
{
	struct drm_gpusvm_notifier *notifier;

	if (gpusvm->ops->notifier_alloc)
		notifier = gpusvm->ops->notifier_alloc();
	else
		notifier = kzalloc(sizeof(*notifier), GFP_KERNEL_ACCOUNT);
	if (!notifier)
		return NULL;

	notifier->gpusvm = gpusvm;
	notifier->itree.start = ALIGN_DOWN(addr, gpusvm->notifier_size);
	notifier->itree.last = notifier->itree.start + gpusvm->notifier_size - 1;
	INIT_LIST_HEAD(&notifier->entry);
	notifier->root = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&notifier->range_list);
	return notifier;
}

static void drm_gpusvm_notifier_free(struct drm_gpusvm *gpusvm,
				     struct drm_gpusvm_notifier *notifier)
{
	WARN_ON(!RB_EMPTY_ROOT(&notifier->root.rb_root));
	if (gpusvm->ops->notifier_free)
		gpusvm->ops->notifier_free(notifier);
	else
		kfree(notifier);
}

static void drm_gpusvm_notifier_insert(struct drm_gpusvm *gpusvm,
				       struct drm_gpusvm_notifier *notifier)
{
	struct list_head *head = &gpusvm->notifier_list;
	struct rb_node *node;

	interval_tree_insert(&notifier->itree, &gpusvm->root);
	node = rb_prev(&notifier->itree.rb);
	if (node)
		head = &container_of(node, struct drm_gpusvm_notifier,
				     itree.rb)->entry;
	list_add(&notifier->entry, head);
}

static void drm_gpusvm_notifier_remove(struct drm_gpusvm *gpusvm,
				       struct drm_gpusvm_notifier *notifier)
{
	interval_tree_remove(&notifier->itree, &gpusvm->root);
	list_del(&notifier->entry);
}

static void drm_gpusvm_range_insert(struct drm_gpusvm_notifier *notifier,
				    struct drm_gpusvm_range *range)
{
	struct list_head *head = &notifier->range_list;
	struct rb_node *node;

	down_write(&notifier->gpusvm->notifier_lock);
	interval_tree_insert(&range->itree, &notifier->root);
	node = rb_prev(&range->itree.rb);
	if (node)
		head = &container_of(node, struct drm_gpusvm_range,
				     itree.rb)->entry;
	list_add(&range->entry, head);
	up_write(&notifier->gpusvm->notifier_lock);
}

static struct drm_gpusvm_range *
drm_gpusvm_range_alloc(struct drm_gpusvm *gpusvm,
		       struct drm_gpusvm_notifier *notifier,
		       unsigned long fault_addr, unsigned long chunk_size,
		       bool migrate_devmem)
{
	struct drm_gpusvm_range *range;

	if (gpusvm->ops->range_alloc)
		range = gpusvm->ops->range_alloc(gpusvm);
	else
		range = kzalloc(sizeof(*range), GFP_KERNEL_ACCOUNT);
	if (!range)
		return NULL;

	kref_init(&range->refcount);
	range->gpusvm = gpusvm;
	range->notifier = notifier;
	range->itree.start = ALIGN_DOWN(fault_addr, chunk_size);
	range->itree.last = range->itree.start + chunk_size - 1;
	INIT_LIST_HEAD(&range->entry);
	range->flags.__flags = 0;
	range->flags.migrate_devmem = migrate_devmem;
	return range;
}

/*
 * Whether the CPU has already faulted in every page of [start, end): a
 * snapshot with hmm_range_fault() that faults nothing.
 */
static bool drm_gpusvm_check_pages(struct drm_gpusvm_notifier *notifier,
				   unsigned long start, unsigned long end,
				   const struct drm_gpusvm_ctx *ctx)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long npages = npages_in_range(start, end);
	struct hmm_range hmm_range = {
		.notifier = &notifier->notifier,
		.start = start,
		.end = end,
		.dev_private_owner = ctx->device_private_page_owner,
	};
	unsigned long *pfns, i;
	int err;

	lockdep_assert_held(&notifier->gpusvm->mm->mmap_lock);

	pfns = kvmalloc_array(npages, sizeof(*pfns), GFP_KERNEL);
	if (!pfns)
		return false;
	hmm_range.hmm_pfns = pfns;

	do {
		hmm_range.notifier_seq = mmu_interval_read_begin(&notifier->notifier);
		err = hmm_range_fault(&hmm_range);
	} while (err == -EBUSY && time_before(jiffies, timeout));

	for (i = 0; !err && i < npages; i += 1UL << hmm_pfn_to_map_order(pfns[i]))
		if (!(pfns[i] & HMM_PFN_VALID))
			err = -EFAULT;

	kvfree(pfns);
	return !err;
}

/*
 * The largest chunk around @fault_addr inside the VMA, the notifier window and
 * [gpuva_start, gpuva_end) that overlaps no other range.
 */
static unsigned long
drm_gpusvm_range_chunk_size(struct drm_gpusvm *gpusvm,
			    struct drm_gpusvm_notifier *notifier,
			    struct vm_area_struct *vma,
			    unsigned long fault_addr,
			    unsigned long gpuva_start, unsigned long gpuva_end,
			    const struct drm_gpusvm_ctx *ctx)
{
	unsigned long start, end, size;
	int i;

	for (i = 0; i < gpusvm->num_chunks; i++) {
		size = gpusvm->chunk_sizes[i];
		start = ALIGN_DOWN(fault_addr, size);
		end = start + size;

		if (start < vma->vm_start || end > vma->vm_end ||
		    start < drm_gpusvm_notifier_start(notifier) ||
		    end > drm_gpusvm_notifier_end(notifier) ||
		    start < gpuva_start || end > gpuva_end)
			continue;

		/* A single page cannot overlap: the fault address has no range. */
		if (size == PAGE_SIZE)
			return size;

		if (drm_gpusvm_range_find(notifier, start, end))
			continue;

		if (size <= ctx->check_pages_threshold &&
		    !drm_gpusvm_check_pages(notifier, start, end, ctx))
			continue;

		return size;
	}
	return 0;
}

/*
 * Retire [start, end) of @notifier as if the CPU had unmapped it: the
 * driver's invalidate callback gets an MMU_NOTIFY_UNMAP event over it, so it
 * zaps its GPU mappings, DMA-unmaps the pages, marks the ranges unmapped and
 * queues them to its garbage collector, exactly as on munmap(). For ranges
 * that must go although the CPU still maps the memory.
 */
static void drm_gpusvm_notifier_retire(struct drm_gpusvm *gpusvm,
				       struct drm_gpusvm_notifier *notifier,
				       unsigned long start, unsigned long end)
{
	struct mmu_notifier_range mmu_range;

	mmu_notifier_range_init(&mmu_range, MMU_NOTIFY_UNMAP,
				MMU_NOTIFIER_RANGE_BLOCKABLE, NULL, gpusvm->mm,
				start, end);
	down_write(&gpusvm->notifier_lock);
	gpusvm->ops->invalidate(gpusvm, notifier, &mmu_range);
	up_write(&gpusvm->notifier_lock);
}

/*
 * A range lives as long as the CPU VMA it was made for, but VMAs change
 * under it: mprotect(), mlock() or madvise() on part of a range, or mremap()
 * of part of it, split the VMA, and a range spanning VMAs of different
 * permissions can never be faulted whole again (a write to the writable part
 * would fail on the read-only part, forever). A range that no longer lies
 * inside the VMA of the faulting address (or inside the GPU VA bounds of the
 * fault) is retired like a partially unmapped one; the driver removes it and
 * faults again with a chunk that fits.
 */
static void drm_gpusvm_range_check_fit(struct drm_gpusvm *gpusvm,
				       struct drm_gpusvm_range *range,
				       struct vm_area_struct *vma,
				       unsigned long gpuva_start,
				       unsigned long gpuva_end)
{
	struct drm_gpusvm_range_flags flags = {
		.__flags = READ_ONCE(range->flags.__flags)
	};
	unsigned long start = drm_gpusvm_range_start(range);
	unsigned long end = drm_gpusvm_range_end(range);

	if (flags.unmapped ||
	    (start >= vma->vm_start && end <= vma->vm_end &&
	     start >= gpuva_start && end <= gpuva_end))
		return;
	drm_gpusvm_notifier_retire(gpusvm, range->notifier, start, end);
}

/**
 * drm_gpusvm_find_vma_start() - first address of an interval inside a VMA
 * @gpusvm: the GPU SVM, whose mm is searched
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * Finds the lowest VMA of the mm intersecting [@start, @end) and returns the
 * first address of the interval that lies in it: the VMA's start, or @start
 * itself when @start is inside the VMA. A result other than ULONG_MAX is thus
 * always inside [@start, @end), for example the next address to fault when
 * walking an interval with holes. (Mainline returns the VMA's start even when
 * it lies below @start; both agree whenever @start is not inside a VMA.)
 * Every VMA counts, whether a device may mirror it or not (PROT_NONE, VM_IO):
 * drm_gpusvm_range_find_or_insert() tells. The whole mm is searched, not only
 * the GPU SVM's window.
 *
 * Takes the mmap lock for read: the caller must not hold it.
 *
 * Return: the address, or ULONG_MAX when no VMA intersects the interval, when
 * the interval is empty, when @gpusvm has no mm or when its mm has no user
 * left.
 */
unsigned long drm_gpusvm_find_vma_start(struct drm_gpusvm *gpusvm,
					unsigned long start,
					unsigned long end)
{
	struct mm_struct *mm = gpusvm->mm;
	unsigned long addr = ULONG_MAX;
	struct vm_area_struct *vma;

	if (!mm || start >= end || !mmget_not_zero(mm))
		return ULONG_MAX;

	mmap_read_lock(mm);
	vma = find_vma_intersection(mm, start, end);
	if (vma)
		addr = max(vma->vm_start, start);
	mmap_read_unlock(mm);
	mmput(mm);

	return addr;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_find_vma_start);

/**
 * drm_gpusvm_range_find_or_insert() - find or create the range around an address
 * @gpusvm: the GPU SVM
 * @fault_addr: the faulting address
 * @gpuva_start: start of the GPU VA interval the range may cover
 * @gpuva_end: end of the GPU VA interval (exclusive)
 * @ctx: call arguments (&drm_gpusvm_ctx.read_only,
 *       &drm_gpusvm_ctx.check_pages_threshold, ...)
 *
 * Returns the range containing @fault_addr, or creates one of the largest
 * chunk size that is aligned around the address, lies inside the CPU VMA,
 * inside [@gpuva_start, @gpuva_end) and inside one notifier window, and
 * overlaps no existing range. The notifier is created on demand. The caller
 * holds the driver lock; the mmap lock is taken inside.
 *
 * An existing range that no longer fits (the VMA was split under it by
 * mprotect(), mlock(), madvise() or mremap(), or it crosses
 * [@gpuva_start, @gpuva_end)) is retired first: the driver's
 * &drm_gpusvm_ops.invalidate gets an MMU_NOTIFY_UNMAP event over it (as on a
 * partial munmap()) and the range is returned marked unmapped, so that
 * drm_gpusvm_get_pages() fails with -EFAULT, the driver's garbage collector
 * removes the range and the retried fault creates one that fits.
 *
 * Return: the range (the GPU SVM's reference: take your own with
 * drm_gpusvm_range_get() to keep it past the driver lock), or an ERR_PTR:
 * -EFAULT when @fault_addr is outside the mirrored window or has no VMA (or
 * the mm is gone), -EPERM when the VMA cannot be mirrored (VM_IO, VM_PFNMAP,
 * VM_MIXEDMAP, VM_DONTEXPAND special mappings such as the vDSO, no read
 * permission, memfd_secret() memory, userfaultfd-registered memory) or a
 * write is asked of a read-only VMA,
 * -EINVAL on invalid arguments (a GPU SVM without mm, @fault_addr outside
 * [@gpuva_start, @gpuva_end)), -ENOMEM.
 */
struct drm_gpusvm_range *
drm_gpusvm_range_find_or_insert(struct drm_gpusvm *gpusvm,
				unsigned long fault_addr,
				unsigned long gpuva_start,
				unsigned long gpuva_end,
				const struct drm_gpusvm_ctx *ctx)
{
	struct drm_gpusvm_notifier *notifier;
	struct drm_gpusvm_range *range;
	struct mm_struct *mm = gpusvm->mm;
	struct vm_area_struct *vma;
	bool notifier_alloc = false;
	unsigned long chunk_size;
	int err;

	if (!mm || gpuva_start >= gpuva_end || fault_addr < gpuva_start ||
	    fault_addr >= gpuva_end)
		return ERR_PTR(-EINVAL);
	if (fault_addr < gpusvm->mm_start ||
	    fault_addr - gpusvm->mm_start >= gpusvm->mm_range)
		return ERR_PTR(-EFAULT);

	drm_gpusvm_driver_lock_held(gpusvm);

	if (!mmget_not_zero(mm))
		return ERR_PTR(-EFAULT);

	notifier = drm_gpusvm_notifier_find(gpusvm, fault_addr, fault_addr + 1);
	if (!notifier) {
		notifier = drm_gpusvm_notifier_alloc(gpusvm, fault_addr);
		if (!notifier) {
			err = -ENOMEM;
			goto err_mmput;
		}
		notifier_alloc = true;
		err = mmu_interval_notifier_insert(&notifier->notifier, mm,
						   drm_gpusvm_notifier_start(notifier),
						   gpusvm->notifier_size,
						   &drm_gpusvm_notifier_ops);
		if (err)
			goto err_notifier_free;
	}

	mmap_read_lock(mm);

	vma = vma_lookup(mm, fault_addr);
	if (!vma) {
		err = -EFAULT;
		goto err_notifier_remove;
	}
	if (!drm_gpusvm_vma_mirrorable(vma) ||
	    (!ctx->read_only && !(vma->vm_flags & VM_WRITE))) {
		err = -EPERM;
		goto err_notifier_remove;
	}

	range = drm_gpusvm_range_find(notifier, fault_addr, fault_addr + 1);
	if (range) {
		drm_gpusvm_range_check_fit(gpusvm, range, vma, gpuva_start,
					   gpuva_end);
		goto out_unlock;
	}

	chunk_size = drm_gpusvm_range_chunk_size(gpusvm, notifier, vma,
						 fault_addr, gpuva_start,
						 gpuva_end, ctx);
	if (!chunk_size) {
		err = -EINVAL;
		goto err_notifier_remove;
	}

	range = drm_gpusvm_range_alloc(gpusvm, notifier, fault_addr, chunk_size,
				       ctx->devmem_possible &&
				       drm_pagemap_vma_migratable(vma));
	if (!range) {
		err = -ENOMEM;
		goto err_notifier_remove;
	}

	drm_gpusvm_range_insert(notifier, range);
	if (notifier_alloc)
		drm_gpusvm_notifier_insert(gpusvm, notifier);

out_unlock:
	mmap_read_unlock(mm);
	mmput(mm);
	return range;

err_notifier_remove:
	mmap_read_unlock(mm);
	if (notifier_alloc)
		mmu_interval_notifier_remove(&notifier->notifier);
err_notifier_free:
	if (notifier_alloc)
		drm_gpusvm_notifier_free(gpusvm, notifier);
err_mmput:
	mmput(mm);
	return ERR_PTR(err);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_find_or_insert);

static void drm_gpusvm_range_destroy(struct kref *refcount)
{
	struct drm_gpusvm_range *range =
		container_of(refcount, struct drm_gpusvm_range, refcount);
	struct drm_gpusvm *gpusvm = range->gpusvm;

	if (gpusvm->ops->range_free)
		gpusvm->ops->range_free(range);
	else
		kfree(range);
}

/**
 * drm_gpusvm_range_get() - take a reference on a range
 * @range: the range
 *
 * Return: @range.
 */
struct drm_gpusvm_range *drm_gpusvm_range_get(struct drm_gpusvm_range *range)
{
	kref_get(&range->refcount);
	return range;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_get);

/**
 * drm_gpusvm_range_put() - drop a reference on a range
 * @range: the range
 *
 * The last reference frees the range through &drm_gpusvm_ops.range_free,
 * which takes the notifier lock (drm_gpusvm_free_pages()): never drop a
 * reference with the notifier lock held, so never from the invalidate
 * callback.
 */
void drm_gpusvm_range_put(struct drm_gpusvm_range *range)
{
	struct drm_gpusvm *gpusvm = range->gpusvm;

	lockdep_assert_not_held(&gpusvm->notifier_lock);
	might_lock(&gpusvm->notifier_lock);
	kref_put(&range->refcount, drm_gpusvm_range_destroy);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_put);

static void __drm_gpusvm_range_remove(struct drm_gpusvm *gpusvm,
				      struct drm_gpusvm_range *range)
{
	struct drm_gpusvm_notifier *notifier = range->notifier;

	down_write(&gpusvm->notifier_lock);
	interval_tree_remove(&range->itree, &notifier->root);
	list_del_init(&range->entry);
	up_write(&gpusvm->notifier_lock);

	drm_gpusvm_range_put(range);

	if (RB_EMPTY_ROOT(&notifier->root.rb_root)) {
		if (!notifier->flags.removed)
			mmu_interval_notifier_remove(&notifier->notifier);
		drm_gpusvm_notifier_remove(gpusvm, notifier);
		drm_gpusvm_notifier_free(gpusvm, notifier);
	}
}

/**
 * drm_gpusvm_range_remove() - remove a range from its GPU SVM
 * @gpusvm: the GPU SVM
 * @range: the range
 *
 * Takes the range out of the notifier's tree and drops the GPU SVM's
 * reference; the notifier goes with its last range. The driver must have
 * DMA-unmapped every pages object of the range before: once the range is out
 * of the tree no invalidation can reach it. Caller holds the driver lock and
 * must not call this from the invalidate callback.
 */
void drm_gpusvm_range_remove(struct drm_gpusvm *gpusvm,
			     struct drm_gpusvm_range *range)
{
	drm_gpusvm_driver_lock_held(gpusvm);
	if (WARN_ON(list_empty(&range->entry)))	/* removed already */
		return;
	__drm_gpusvm_range_remove(gpusvm, range);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_remove);

/**
 * drm_gpusvm_fini() - tear a GPU SVM down
 * @gpusvm: the GPU SVM
 *
 * Removes every notifier (first, so no invalidation races the teardown) and
 * every range, and drops the mm reference. Ranges still referenced elsewhere
 * are freed when that reference goes; their &drm_gpusvm_ops.range_free
 * releases the driver's pages objects.
 *
 * The driver removes its ranges before, the way its garbage collector does
 * (zap, wait for the device, DMA-unmap, drm_gpusvm_range_remove()): a range
 * left here leaves the reach of invalidations before its pages are unmapped
 * in &drm_gpusvm_ops.range_free, so a CPU unmap racing the teardown could
 * free pages its device still maps. Ranges left here are the fallback for a
 * device that can no longer access memory at all.
 */
void drm_gpusvm_fini(struct drm_gpusvm *gpusvm)
{
	struct drm_gpusvm_notifier *notifier, *next;

	drm_gpusvm_for_each_notifier_safe(notifier, next, gpusvm, 0, ULONG_MAX) {
		struct drm_gpusvm_range *range, *rnext;

		mmu_interval_notifier_remove(&notifier->notifier);
		notifier->flags.removed = true;

		drm_gpusvm_for_each_range_safe(range, rnext, notifier, 0, ULONG_MAX)
			__drm_gpusvm_range_remove(gpusvm, range);
	}

	if (gpusvm->mm)
		mmdrop(gpusvm->mm);
	gpusvm->mm = NULL;
	WARN_ON(!RB_EMPTY_ROOT(&gpusvm->root.rb_root));
}
EXPORT_SYMBOL_GPL(drm_gpusvm_fini);

/**
 * drm_gpusvm_free() - tear down and free a GPU SVM allocated on its own
 * @gpusvm: the GPU SVM, allocated by itself with kmalloc() or kzalloc(); NULL
 *          is ignored
 *
 * drm_gpusvm_fini(), then kfree() of @gpusvm. Only for a GPU SVM that is its
 * own allocation: one embedded in a driver struct is torn down with
 * drm_gpusvm_fini() and freed with its container. The rules of
 * drm_gpusvm_fini() apply; on top of them no range may outlive @gpusvm, since
 * the last drm_gpusvm_range_put() of a range reaches its GPU SVM: drop every
 * reference taken with drm_gpusvm_range_get() before. A range still
 * referenced here is a driver bug: it is warned about, and @gpusvm is leaked
 * rather than freed under the range.
 */
void drm_gpusvm_free(struct drm_gpusvm *gpusvm)
{
	struct drm_gpusvm_notifier *notifier;
	struct drm_gpusvm_range *range;
	bool referenced = false;

	if (!gpusvm)
		return;

	drm_gpusvm_for_each_notifier(notifier, gpusvm, 0, ULONG_MAX) {
		drm_gpusvm_for_each_range(range, notifier, 0, ULONG_MAX) {
			if (kref_read(&range->refcount) > 1)
				referenced = true;
		}
	}

	drm_gpusvm_fini(gpusvm);
	if (WARN(referenced, "drm_gpusvm %s: freed with ranges still referenced\n",
		 gpusvm->name))
		return;
	kfree(gpusvm);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_free);

/**
 * drm_gpusvm_has_mapping() - whether any range overlaps an interval
 * @gpusvm: the GPU SVM
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * Caller holds the driver lock.
 *
 * Return: true if a range of @gpusvm overlaps [@start, @end).
 */
bool drm_gpusvm_has_mapping(struct drm_gpusvm *gpusvm, unsigned long start,
			    unsigned long end)
{
	struct drm_gpusvm_notifier *notifier;

	drm_gpusvm_for_each_notifier(notifier, gpusvm, start, end)
		if (drm_gpusvm_range_find(notifier, start, end))
			return true;
	return false;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_has_mapping);

/**
 * drm_gpusvm_range_set_unmapped() - mark a range and its pages unmapped
 * @range: the range
 * @pages: the driver's pages objects of @range (contiguous)
 * @pages_count: number of objects at @pages
 * @mmu_range: the MMU_NOTIFY_UNMAP event
 *
 * Called from the invalidate callback (notifier lock held for write) on an
 * unmap event. Marks the range unmapped, and partially unmapped when the event
 * does not cover all of it, and marks every pages object unmapped so that
 * drm_gpusvm_get_pages() refuses to populate them again. The driver then
 * queues the range to its garbage collector.
 */
void drm_gpusvm_range_set_unmapped(struct drm_gpusvm_range *range,
				   struct drm_gpusvm_pages *pages,
				   unsigned int pages_count,
				   const struct mmu_notifier_range *mmu_range)
{
	struct drm_gpusvm_range_flags flags = { .__flags = range->flags.__flags };
	unsigned int i;

	lockdep_assert_held_write(&range->gpusvm->notifier_lock);

	flags.unmapped = true;
	if (drm_gpusvm_range_start(range) < mmu_range->start ||
	    drm_gpusvm_range_end(range) > mmu_range->end)
		flags.partial_unmap = true;
	WRITE_ONCE(range->flags.__flags, flags.__flags);

	for (i = 0; i < pages_count; i++) {
		struct drm_gpusvm_pages_flags pflags = {
			.__flags = pages[i].flags.__flags
		};

		pflags.unmapped = true;
		WRITE_ONCE(pages[i].flags.__flags, pflags.__flags);
	}
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_set_unmapped);

/**
 * drm_gpusvm_init_pages() - initialise a pages object
 * @pages: the pages object
 * @drm: the device the pages will be mapped for; NULL for a consumer without
 *       DMA (addresses are then CPU physical addresses)
 *
 * Call once, before any invalidation can see the object (for a range: in
 * &drm_gpusvm_ops.range_alloc; for userptr: before inserting the notifier).
 * The sequence number is set to a value no real sequence has, so a fresh
 * object is never valid.
 */
void drm_gpusvm_init_pages(struct drm_gpusvm_pages *pages,
			   struct drm_device *drm)
{
	memset(pages, 0, sizeof(*pages));
	pages->drm = drm;
	pages->notifier_seq = ULONG_MAX;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_init_pages);

/**
 * drm_gpusvm_pages_valid() - whether a pages mapping is current
 * @gpusvm: the GPU SVM
 * @pages: the pages object
 *
 * Caller holds the notifier lock (drm_gpusvm_notifier_lock()) and keeps it
 * until its GPU bind is done: an invalidation cannot complete meanwhile.
 *
 * Return: true if @pages holds a current mapping.
 */
bool drm_gpusvm_pages_valid(struct drm_gpusvm *gpusvm,
			    struct drm_gpusvm_pages *pages)
{
	lockdep_assert_held(&gpusvm->notifier_lock);
	return pages->flags.has_dma_mapping || pages->flags.has_devmem_pages;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_pages_valid);

/**
 * drm_gpusvm_pages_valid_unlocked() - lockless hint of drm_gpusvm_pages_valid()
 * @gpusvm: the GPU SVM
 * @pages: the pages object
 *
 * For fast paths that re-check under the notifier lock later.
 *
 * Return: true if @pages looked valid.
 */
bool drm_gpusvm_pages_valid_unlocked(struct drm_gpusvm *gpusvm,
				     struct drm_gpusvm_pages *pages)
{
	struct drm_gpusvm_pages_flags flags = {
		.__flags = READ_ONCE(pages->flags.__flags)
	};

	return flags.has_dma_mapping || flags.has_devmem_pages;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_pages_valid_unlocked);

/**
 * struct drm_gpusvm_dma_key - what a shared DMA mapping is found by
 * @dev: the device (its address: the key has no hole on any ABI)
 * @val: the chunk's first pfn (mapping), or its DMA address (unmapping)
 * @order: the chunk covers PAGE_SIZE << @order bytes
 * @pad: zero (the key is compared as bytes)
 */
struct drm_gpusvm_dma_key {
	u64 dev;
	u64 val;
	u32 order;
	u32 pad;
};

/**
 * struct drm_gpusvm_dma_map - a writable DMA mapping shared by pages objects
 * @page_node: entry in drm_gpusvm_dma_by_page, to find it when mapping
 * @addr_node: entry in drm_gpusvm_dma_by_addr, to find it when unmapping
 * @page_key: its key there: device, pfn and order
 * @addr_key: its key there: device, DMA address and order
 * @users: pages objects using it
 *
 * A chunk of system memory is DMA-mapped writable once per device and
 * order, whatever the number of pages objects mirroring it writable (several
 * VMs or userptrs over the same memory, several processes sharing it): the
 * mapping is shared and counted. Read-only mappings are not shared. The two
 * tables are resizable hash tables: a lookup costs the same however much
 * memory is mapped. See DOC: Driver layouts, Coherency.
 */
struct drm_gpusvm_dma_map {
	struct rhash_head page_node;
	struct rhash_head addr_node;
	struct drm_gpusvm_dma_key page_key;
	struct drm_gpusvm_dma_key addr_key;
	unsigned int users;
};

/*
 * The keys' pfns and DMA addresses are spread already: one multiply mixes
 * in the device and order, where jhash2() of the 24 bytes cost a write
 * fault more than the DMA mapping itself.
 */
static u32 drm_gpusvm_dma_hash(const void *data, u32 len, u32 seed)
{
	const struct drm_gpusvm_dma_key *key = data;

	return hash_64(key->val ^ key->dev ^
		       ((u64)key->order << 58) ^ seed, 32);
}

/*
 * Sized at first for 4096 mappings (16 MiB of 4 KiB pages mapped writable,
 * one device), so that a first fault burst does not rehash over and over;
 * grown with the mappings, never shrunk: a munmap() and the next faults
 * would otherwise rehash every entry twice (make profile measured nine
 * hashes per mapping with shrinking). The bucket arrays keep the peak's
 * size: 8 bytes a bucket, 1.3 to 2.7 buckets an entry in each table, so
 * 21 to 43 bytes an entry next to the 96 of the entry's own allocation.
 */
static const struct rhashtable_params drm_gpusvm_dma_page_params = {
	.head_offset = offsetof(struct drm_gpusvm_dma_map, page_node),
	.key_offset = offsetof(struct drm_gpusvm_dma_map, page_key),
	.key_len = sizeof(struct drm_gpusvm_dma_key),
	.hashfn = drm_gpusvm_dma_hash,
	.nelem_hint = 4096,
};

static const struct rhashtable_params drm_gpusvm_dma_addr_params = {
	.head_offset = offsetof(struct drm_gpusvm_dma_map, addr_node),
	.key_offset = offsetof(struct drm_gpusvm_dma_map, addr_key),
	.key_len = sizeof(struct drm_gpusvm_dma_key),
	.hashfn = drm_gpusvm_dma_hash,
	.nelem_hint = 4096,
};

/* Serialises the users counts, and insertion with removal in both tables. */
static DEFINE_SPINLOCK(drm_gpusvm_dma_lock);
static struct rhashtable drm_gpusvm_dma_by_page;
static struct rhashtable drm_gpusvm_dma_by_addr;

#if IS_BUILTIN(CONFIG_KUNIT)
/*
 * Test-only failure injection: while a KUnit case holds a named resource
 * "drm_gpusvm_fail_dma_map", every DMA mapping of system memory that the
 * case's own thread asks for fails. Other threads, and kernels without
 * KUnit, never fail here.
 */
static bool drm_gpusvm_fail_dma_map(void)
{
	struct kunit *test = current->kunit_test;
	struct kunit_resource *res;

	if (!test)
		return false;
	res = kunit_find_named_resource(test, "drm_gpusvm_fail_dma_map");
	if (!res)
		return false;
	kunit_put_resource(res);
	return true;
}
#else
static bool drm_gpusvm_fail_dma_map(void)
{
	return false;
}
#endif

/* DMA-map a chunk for @dev alone. Return: as drm_gpusvm_dma_map(). */
static int drm_gpusvm_dma_map_own(struct device *dev, struct page *page,
				  unsigned int order,
				  enum dma_data_direction dir, dma_addr_t *addr)
{
	if (drm_gpusvm_fail_dma_map())
		return -ENOMEM;
	*addr = dma_map_page_attrs(dev, page, 0, PAGE_SIZE << order, dir,
				   DMA_ATTR_SKIP_CPU_SYNC);
	if (dma_mapping_error(dev, *addr))
		return -ENOMEM;
	/*
	 * A mapping that needs CPU syncs (a swiotlb bounce buffer, a
	 * non-coherent device) cannot be used by the CPU and the device at
	 * the same time.
	 */
	if (dma_need_sync(dev, *addr)) {
		dma_unmap_page_attrs(dev, *addr, PAGE_SIZE << order, dir,
				     DMA_ATTR_SKIP_CPU_SYNC);
		return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * DMA-map a chunk of system memory for @dev: read-only, a mapping of the
 * caller's own; writable, the one mapping of the device, shared with the
 * other pages objects that map it writable. Called under the notifier lock:
 * nothing may be allocated with reclaim.
 *
 * A writable chunk already mapped is found and counted, without a mapping
 * or an allocation that could fail. Otherwise it is mapped, outside the
 * lock, and entered in the tables; if another pages object entered the
 * chunk meanwhile, that mapping is used and the new one undone.
 *
 * Return: 0 with the address in *@addr, -ENOMEM, -EOPNOTSUPP for a mapping
 * that would need CPU syncs, or -EAGAIN when a table could not take the
 * entry yet: it is resizing, or its growth under the lock failed to
 * allocate and was handed to its worker (rhashtable's -EBUSY, -ENOMEM).
 */
static int drm_gpusvm_dma_map(struct device *dev, struct page *page,
			      unsigned int order, enum dma_data_direction dir,
			      dma_addr_t *addr)
{
	struct drm_gpusvm_dma_key key = {
		.dev = (uintptr_t)dev, .val = page_to_pfn(page), .order = order,
	};
	struct drm_gpusvm_dma_map *new, *map;
	dma_addr_t dma;
	int err;

	if (dir == DMA_TO_DEVICE)
		return drm_gpusvm_dma_map_own(dev, page, order, dir, addr);

	spin_lock(&drm_gpusvm_dma_lock);
	map = rhashtable_lookup_fast(&drm_gpusvm_dma_by_page, &key,
				     drm_gpusvm_dma_page_params);
	if (map) {
		map->users++;
		*addr = map->addr_key.val;
	}
	spin_unlock(&drm_gpusvm_dma_lock);
	if (map)
		return 0;

	new = kzalloc(sizeof(*new), GFP_NOWAIT | __GFP_NOWARN);
	if (!new)
		return -ENOMEM;
	err = drm_gpusvm_dma_map_own(dev, page, order, dir, &dma);
	if (err)
		goto err_free;
	new->page_key = key;
	new->addr_key = key;
	new->addr_key.val = dma;
	new->users = 1;

	spin_lock(&drm_gpusvm_dma_lock);
	map = rhashtable_lookup_get_insert_fast(&drm_gpusvm_dma_by_page,
						&new->page_node,
						drm_gpusvm_dma_page_params);
	if (!map) {
		err = rhashtable_insert_fast(&drm_gpusvm_dma_by_addr,
					     &new->addr_node,
					     drm_gpusvm_dma_addr_params);
		if (err)
			rhashtable_remove_fast(&drm_gpusvm_dma_by_page,
					       &new->page_node,
					       drm_gpusvm_dma_page_params);
	} else if (!IS_ERR(map)) {
		map->users++;
		*addr = map->addr_key.val;
	} else {
		err = PTR_ERR(map);
	}
	spin_unlock(&drm_gpusvm_dma_lock);
	if (!map && !err) {
		*addr = dma;
		return 0;
	}
	dma_unmap_page_attrs(dev, dma, PAGE_SIZE << order, dir,
			     DMA_ATTR_SKIP_CPU_SYNC);
	/* Transient: the caller tries again while the table grows. */
	if (err)
		err = -EAGAIN;
err_free:
	kfree(new);
	return err;
}

/* Drop a pages object's use of a mapping from drm_gpusvm_dma_map(). */
static void drm_gpusvm_dma_unmap(struct device *dev,
				 const struct drm_pagemap_addr *addr)
{
	struct drm_gpusvm_dma_key key = {
		.dev = (uintptr_t)dev, .val = addr->addr, .order = addr->order,
	};
	struct drm_gpusvm_dma_map *map;

	if (addr->dir == DMA_TO_DEVICE) {
		dma_unmap_page_attrs(dev, addr->addr, PAGE_SIZE << addr->order,
				     addr->dir, DMA_ATTR_SKIP_CPU_SYNC);
		return;
	}
	spin_lock(&drm_gpusvm_dma_lock);
	map = rhashtable_lookup_fast(&drm_gpusvm_dma_by_addr, &key,
				     drm_gpusvm_dma_addr_params);
	if (WARN_ON_ONCE(!map) || --map->users) {
		spin_unlock(&drm_gpusvm_dma_lock);
		return;
	}
	rhashtable_remove_fast(&drm_gpusvm_dma_by_page, &map->page_node,
			       drm_gpusvm_dma_page_params);
	rhashtable_remove_fast(&drm_gpusvm_dma_by_addr, &map->addr_node,
			       drm_gpusvm_dma_addr_params);
	spin_unlock(&drm_gpusvm_dma_lock);
	dma_unmap_page_attrs(dev, addr->addr, PAGE_SIZE << addr->order,
			     addr->dir, DMA_ATTR_SKIP_CPU_SYNC);
	/* Every lookup runs under the lock: no reader is left. */
	kfree(map);
}

/* Unmap the chunks covering the first @npages pages of @pages. */
static void drm_gpusvm_unmap_chunks(struct drm_gpusvm_pages *pages,
				    unsigned long npages)
{
	struct device *dev = pages->drm ? pages->drm->dev : NULL;
	unsigned long i, j;

	for (i = 0, j = 0; i < npages; j++) {
		struct drm_pagemap_addr *addr = &pages->dma_addr[j];

		if (addr->proto == DRM_INTERCONNECT_SYSTEM)
			drm_gpusvm_dma_unmap(dev, addr);
		else if (addr->proto == DRM_INTERCONNECT_DRIVER &&
			 pages->dpagemap->ops->device_unmap)
			pages->dpagemap->ops->device_unmap(pages->dpagemap, dev,
							   *addr);
		i += 1UL << addr->order;
	}
}

/* Unmap a pages object of @npages pages if mapped; notifier lock held. */
static void __drm_gpusvm_unmap_pages(struct drm_gpusvm *gpusvm,
				     struct drm_gpusvm_pages *pages,
				     unsigned long npages)
{
	struct drm_gpusvm_pages_flags flags = { .__flags = pages->flags.__flags };

	lockdep_assert_held(&gpusvm->notifier_lock);

	if (!flags.has_dma_mapping && !flags.has_devmem_pages)
		return;

	drm_gpusvm_unmap_chunks(pages, npages);
	flags.has_dma_mapping = false;
	flags.has_devmem_pages = false;
	flags.read_only = false;
	WRITE_ONCE(pages->flags.__flags, flags.__flags);
	pages->dpagemap = NULL;
}

/*
 * How many pages the chunk starting at pfns[index] covers, as an order: the
 * CPU mapping's order, cut at the chunk's alignment and at the end of the
 * range (a range may start or end in the middle of a THP).
 */
static unsigned int drm_gpusvm_hmm_pfn_to_order(unsigned long hmm_pfn,
						unsigned long index,
						unsigned long npages)
{
	unsigned long size = 1UL << hmm_pfn_to_map_order(hmm_pfn);

	size -= (hmm_pfn & ~HMM_PFN_FLAGS) & (size - 1);
	if (index + size > npages)
		size = npages - index;
	return ilog2(size);
}

/*
 * DMA-map the faulted @pfns into @pages for its device. Notifier lock held for
 * read, the sequence checked. On failure nothing stays mapped.
 */
static int drm_gpusvm_map_pages(struct drm_gpusvm *gpusvm,
				struct drm_gpusvm_pages *pages,
				const unsigned long *pfns, unsigned long npages,
				const struct drm_gpusvm_ctx *ctx)
{
	enum dma_data_direction dir = ctx->read_only ? DMA_TO_DEVICE :
						       DMA_BIDIRECTIONAL;
	struct device *dev = pages->drm ? pages->drm->dev : NULL;
	struct drm_pagemap *dpagemap = NULL;
	struct drm_gpusvm_pages_flags flags;
	unsigned long i, j, nsystem = 0;
	int err;

	lockdep_assert_held(&gpusvm->notifier_lock);

	flags.__flags = pages->flags.__flags;

	for (i = 0, j = 0; i < npages; j++) {
		struct page *page = hmm_pfn_to_page(pfns[i]);
		unsigned int order = drm_gpusvm_hmm_pfn_to_order(pfns[i], i,
								 npages);
		dma_addr_t addr;

		/*
		 * hmm_range_fault() only returns device-private pages of
		 * ctx->device_private_page_owner: they are mapped through their
		 * provider. One provider per mapping; mixing with system pages
		 * only when allowed.
		 */
		if (is_device_private_page(page)) {
			struct drm_pagemap *dp =
				drm_pagemap_page_to_dpagemap(page);

			/*
			 * hmm_range_fault() reports device-private entries
			 * without faulting them, read-only ones too (after
			 * mprotect() or fork()).
			 */
			if (!ctx->read_only && !(pfns[i] & HMM_PFN_WRITE)) {
				err = -EPERM;
				goto err_unmap;
			}
			if ((dpagemap && dp != dpagemap) ||
			    (nsystem && !ctx->allow_mixed)) {
				err = -EOPNOTSUPP;
				goto err_unmap;
			}
			dpagemap = dp;
			pages->dma_addr[j] = dp->ops->device_map(dp, dev, page,
								 order, dir);
			if (pages->dma_addr[j].addr == DMA_MAPPING_ERROR) {
				err = -EFAULT;
				goto err_unmap;
			}
			i += 1UL << order;
			continue;
		}
		if (is_zone_device_page(page) || (dpagemap && !ctx->allow_mixed)) {
			err = -EOPNOTSUPP;
			goto err_unmap;
		}
		if (ctx->devmem_only) {
			err = -EFAULT;
			goto err_unmap;
		}
		nsystem++;

		if (dev) {
			err = drm_gpusvm_dma_map(dev, page, order, dir, &addr);
			if (err)
				goto err_unmap;
			pages->dma_addr[j] =
				drm_pagemap_addr_encode(addr, DRM_INTERCONNECT_SYSTEM,
							order, dir);
		} else {
			pages->dma_addr[j] =
				drm_pagemap_addr_encode(page_to_phys(page),
							DRM_INTERCONNECT_CPU,
							order, dir);
		}
		i += 1UL << order;
	}

	flags.has_dma_mapping = nsystem > 0;
	flags.has_devmem_pages = !!dpagemap;
	flags.read_only = ctx->read_only;
	pages->dpagemap = dpagemap;
	WRITE_ONCE(pages->flags.__flags, flags.__flags);
	return 0;

err_unmap:
	pages->dpagemap = dpagemap;
	drm_gpusvm_unmap_chunks(pages, i);
	pages->dpagemap = NULL;
	return err;
}

/*
 * What a call with @ctx has to do with a pages object in state @flags: 0 if
 * its mapping serves the call, 1 if it must be mapped, -EFAULT if its range
 * was unmapped, -EBUSY if it holds a read-only mapping and a write is asked
 * (the driver replaces it, see drm_gpusvm_get_pages_multi()).
 */
static int drm_gpusvm_pages_state(struct drm_gpusvm_pages_flags flags,
				  const struct drm_gpusvm_ctx *ctx)
{
	if (flags.unmapped)
		return -EFAULT;
	if (!flags.has_dma_mapping && !flags.has_devmem_pages)
		return 1;
	return ctx->read_only || !flags.read_only ? 0 : -EBUSY;
}

/**
 * drm_gpusvm_get_pages_multi() - fault pages once and map them for several devices
 * @gpusvm: the GPU SVM (its notifier lock guards the mappings)
 * @pages: array of @pages_count pointers to pages objects, each initialised
 *         with its device by drm_gpusvm_init_pages(), all mirroring the
 *         interval (a driver passes the objects of the devices it wants, in
 *         any order: a subset of its range's objects, say)
 * @pages_count: number of pages objects
 * @mm: the mm to fault
 * @notifier: the MMU interval notifier covering [@start, @end): the range's
 *            (&range->notifier->notifier) or, for userptr, the driver's own
 * @start: start of the interval, page aligned
 * @end: end of the interval (exclusive), page aligned
 * @ctx: call arguments (&drm_gpusvm_ctx.read_only and the device-memory
 *       policy)
 *
 * Runs one hmm_range_fault() over [@start, @end) (for write unless
 * &drm_gpusvm_ctx.read_only), retrying while it reports -EBUSY within
 * HMM_RANGE_DEFAULT_TIMEOUT, then, under the notifier lock and only if no
 * invalidation happened since, DMA-maps every CPU mapping at its order for
 * each pages object's device. If an invalidation happened the fault is taken
 * again, within the same time budget. Pages objects already valid (and
 * writable if a write is asked) are left alone; when all are, it returns at
 * once without faulting. On failure only what this call mapped is unmapped:
 * pages objects that were valid before stay valid, with the same addresses.
 *
 * A valid read-only mapping is never replaced here, since a device may still
 * use it: for a write the driver first stops its device from using the
 * read-only mapping (zaps its PTEs, waits for its TLB invalidation), then
 * calls drm_gpusvm_unmap_pages(), then asks again.
 *
 * Never takes the notifier lock for write: calls on different pages objects
 * run in parallel, calls on the same pages object must be serialised by the
 * caller (the driver lock does it). Must not be called with the notifier
 * lock held. A pages object always mirrors the same interval: its DMA array
 * is sized on first use.
 *
 * Return: 0 on success. -EINVAL on invalid arguments, -EFAULT when the
 * interval is not backed by VMAs a device may mirror (a hole, VM_IO,
 * VM_PFNMAP, a special mapping such as the vDSO, memory without read
 * permission, memfd_secret() or userfaultfd-registered memory), the mm is
 * gone, or a pages object belongs to an unmapped range, -EPERM on a write to a
 * read-only mapping (also to a read-only device page, which hmm_range_fault()
 * does not fault: drm_gpusvm_range_evict() and a retry resolve a
 * copy-on-write one), -EBUSY when a pages object holds a valid read-only
 * mapping and a write is asked (see above) or when hmm_range_fault() kept
 * being invalidated, -EAGAIN when invalidations kept racing the mapping or
 * the table of shared DMA mappings could not take an entry yet (resizing,
 * or growing failed to allocate under its lock; the caller retries),
 * -EOPNOTSUPP when system and device pages mix without
 * &drm_gpusvm_ctx.allow_mixed (or pages of two providers mix) or when a
 * device's DMA mapping would need CPU syncs (swiotlb bounce buffering, a
 * non-coherent device), which shared virtual memory cannot work with, -ENOMEM.
 */
int drm_gpusvm_get_pages_multi(struct drm_gpusvm *gpusvm,
			       struct drm_gpusvm_pages *const *pages,
			       unsigned int pages_count, struct mm_struct *mm,
			       struct mmu_interval_notifier *notifier,
			       unsigned long start, unsigned long end,
			       const struct drm_gpusvm_ctx *ctx)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long npages = npages_in_range(start, end);
	struct hmm_range hmm_range = {
		.default_flags = HMM_PFN_REQ_FAULT |
				 (ctx->read_only ? 0 : HMM_PFN_REQ_WRITE),
		.notifier = notifier,
		.start = start,
		.end = end,
		.dev_private_owner = ctx->device_private_page_owner,
	};
	unsigned long *pfns, *mapped;
	unsigned int k;
	bool work;
	int err;

	if (!pages_count || !mm || !notifier || start >= end ||
	    !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end) ||
	    start < notifier->interval_tree.start ||
	    end - 1 > notifier->interval_tree.last)
		return -EINVAL;

	lockdep_assert_not_held(&gpusvm->notifier_lock);
	might_lock_read(&gpusvm->notifier_lock);

	/*
	 * Per-process state, charged to the memory cgroup the caller charges
	 * (a driver servicing faults in a worker sets the process's, with
	 * set_active_memcg()), as notifiers and ranges are.
	 */
	for (k = 0; k < pages_count; k++)
		if (!pages[k]->dma_addr) {
			pages[k]->dma_addr =
				kvcalloc(npages, sizeof(*pages[k]->dma_addr),
					 GFP_KERNEL_ACCOUNT);
			if (!pages[k]->dma_addr)
				return -ENOMEM;
		}

	/* The pfns, then a bitmap of the pages objects this call mapped. */
	pfns = kvmalloc_array(npages + BITS_TO_LONGS(pages_count),
			      sizeof(*pfns), GFP_KERNEL);
	if (!pfns)
		return -ENOMEM;
	mapped = pfns + npages;
	hmm_range.hmm_pfns = pfns;

retry:
	hmm_range.notifier_seq = mmu_interval_read_begin(notifier);
	work = false;
	for (k = 0; k < pages_count; k++) {
		struct drm_gpusvm_pages_flags flags = {
			.__flags = READ_ONCE(pages[k]->flags.__flags)
		};

		err = drm_gpusvm_pages_state(flags, ctx);
		if (err < 0)
			goto out_free;
		work |= err;
	}
	err = 0;
	if (!work)
		goto out_free;

	if (!mmget_not_zero(mm)) {
		err = -EFAULT;
		goto out_free;
	}
	while (true) {
		mmap_read_lock(mm);
		err = drm_gpusvm_check_vmas(mm, start, end);
		if (!err)
			err = hmm_range_fault(&hmm_range);
		mmap_read_unlock(mm);
		if (err != -EBUSY || time_after(jiffies, timeout))
			break;
		hmm_range.notifier_seq = mmu_interval_read_begin(notifier);
	}
	mmput(mm);
	if (err)
		goto out_free;

	/*
	 * Map under the notifier lock: an invalidation of these pages either
	 * completed before (the sequence check below sees it) or waits for the
	 * lock and then finds and unmaps the new mapping.
	 */
	drm_gpusvm_notifier_lock(gpusvm);
	if (mmu_interval_read_retry(notifier, hmm_range.notifier_seq)) {
		drm_gpusvm_notifier_unlock(gpusvm);
		if (time_after(jiffies, timeout)) {
			err = -EAGAIN;
			goto out_free;
		}
		goto retry;
	}
	bitmap_zero(mapped, pages_count);
	for (k = 0; k < pages_count; k++) {
		err = drm_gpusvm_pages_state(pages[k]->flags, ctx);
		if (err <= 0) {
			if (err)
				break;
			continue;
		}
		err = drm_gpusvm_map_pages(gpusvm, pages[k], pfns, npages, ctx);
		if (err)
			break;
		__set_bit(k, mapped);
	}
	for_each_set_bit(k, mapped, pages_count) {
		if (err)
			__drm_gpusvm_unmap_pages(gpusvm, pages[k], npages);
		else
			pages[k]->notifier_seq = hmm_range.notifier_seq;
	}
	drm_gpusvm_notifier_unlock(gpusvm);

out_free:
	kvfree(pfns);
	return err;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_get_pages_multi);

/**
 * drm_gpusvm_get_pages() - fault pages in and map them for the pages' device
 * @gpusvm: the GPU SVM (its notifier lock guards the mapping)
 * @pages: the pages object, initialised by drm_gpusvm_init_pages()
 * @mm: the mm to fault
 * @notifier: the MMU interval notifier covering [@start, @end)
 * @start: start of the interval, page aligned
 * @end: end of the interval (exclusive), page aligned
 * @ctx: call arguments
 *
 * drm_gpusvm_get_pages_multi() for one pages object: there is no device
 * argument, the device is the one in @pages. Cheap on an already valid
 * mapping. Afterwards the driver takes the notifier lock, checks
 * drm_gpusvm_pages_valid() and binds.
 *
 * Return: as drm_gpusvm_get_pages_multi().
 */
int drm_gpusvm_get_pages(struct drm_gpusvm *gpusvm,
			 struct drm_gpusvm_pages *pages, struct mm_struct *mm,
			 struct mmu_interval_notifier *notifier,
			 unsigned long start, unsigned long end,
			 const struct drm_gpusvm_ctx *ctx)
{
	return drm_gpusvm_get_pages_multi(gpusvm, &pages, 1, mm, notifier,
					  start, end, ctx);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_get_pages);

/**
 * drm_gpusvm_unmap_pages() - DMA-unmap a pages object
 * @gpusvm: the GPU SVM
 * @pages: the pages object
 * @npages: number of pages the object spans (as mapped)
 * @ctx: &drm_gpusvm_ctx.in_notifier set when called from the invalidate
 *       callback, which already holds the notifier lock for write
 *
 * Safe to call on an object that is not mapped, and twice. Keeps the DMA
 * address array for the next mapping.
 */
void drm_gpusvm_unmap_pages(struct drm_gpusvm *gpusvm,
			    struct drm_gpusvm_pages *pages,
			    unsigned long npages,
			    const struct drm_gpusvm_ctx *ctx)
{
	if (ctx->in_notifier) {
		lockdep_assert_held_write(&gpusvm->notifier_lock);
		__drm_gpusvm_unmap_pages(gpusvm, pages, npages);
		return;
	}
	down_write(&gpusvm->notifier_lock);
	__drm_gpusvm_unmap_pages(gpusvm, pages, npages);
	up_write(&gpusvm->notifier_lock);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_unmap_pages);

/**
 * drm_gpusvm_free_pages() - unmap and release a pages object's resources
 * @gpusvm: the GPU SVM
 * @pages: the pages object
 * @npages: number of pages the object spans
 *
 * Unmaps if still mapped (a no-op otherwise) and frees the DMA address array.
 * The final fallback of &drm_gpusvm_ops.range_free and of userptr teardown.
 * Takes the notifier lock for write: not with the notifier lock held, so not
 * from the invalidate callback (lockdep checks it).
 */
void drm_gpusvm_free_pages(struct drm_gpusvm *gpusvm,
			   struct drm_gpusvm_pages *pages,
			   unsigned long npages)
{
	lockdep_assert_not_held(&gpusvm->notifier_lock);
	down_write(&gpusvm->notifier_lock);
	__drm_gpusvm_unmap_pages(gpusvm, pages, npages);
	kvfree(pages->dma_addr);
	pages->dma_addr = NULL;
	up_write(&gpusvm->notifier_lock);
}
EXPORT_SYMBOL_GPL(drm_gpusvm_free_pages);

/**
 * drm_gpusvm_range_evict() - move the device pages of a range to system memory
 * @gpusvm: the GPU SVM
 * @range: the range
 *
 * Faults the range in with no device-private owner: hmm_range_fault() then
 * migrates every device page of it back through its provider's
 * migrate_to_ram, whichever device owns it, with the invalidation that makes
 * every GPU drop its mapping.
 *
 * Return: 0, -EFAULT (the range or the mm is gone), -EBUSY, -ENOMEM.
 */
int drm_gpusvm_range_evict(struct drm_gpusvm *gpusvm,
			   struct drm_gpusvm_range *range)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long npages = drm_gpusvm_range_npages(range);
	struct mmu_interval_notifier *notifier = &range->notifier->notifier;
	struct hmm_range hmm_range = {
		.default_flags = HMM_PFN_REQ_FAULT,
		.notifier = notifier,
		.start = drm_gpusvm_range_start(range),
		.end = drm_gpusvm_range_end(range),
		.dev_private_owner = NULL,
	};
	struct mm_struct *mm = gpusvm->mm;
	int err;

	if (!mm || !mmget_not_zero(mm))
		return -EFAULT;
	hmm_range.hmm_pfns = kvmalloc_array(npages, sizeof(*hmm_range.hmm_pfns),
					    GFP_KERNEL);
	if (!hmm_range.hmm_pfns) {
		mmput(mm);
		return -ENOMEM;
	}
	do {
		hmm_range.notifier_seq = mmu_interval_read_begin(notifier);
		mmap_read_lock(mm);
		err = hmm_range_fault(&hmm_range);
		mmap_read_unlock(mm);
	} while (err == -EBUSY && !time_after(jiffies, timeout));
	kvfree(hmm_range.hmm_pfns);
	mmput(mm);
	return err;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_range_evict);

/* The device pagemap of a CPU page, or NULL for a page of system memory. */
static const struct dev_pagemap *drm_gpusvm_page_pagemap(struct page *page)
{
	if (is_device_private_page(page) || is_device_coherent_page(page))
		return page->pgmap;
	return NULL;
}

/*
 * Classify the @npages pfns of a non-faulting hmm_range_fault(), for
 * drm_gpusvm_scan_mm(). Notifier lock held, the sequence still current: the
 * pages are still mapped as reported, their pagemaps cannot go away.
 */
static enum drm_gpusvm_scan_result
drm_gpusvm_scan_pfns(const unsigned long *pfns, unsigned long npages,
		     const struct dev_pagemap *pagemap)
{
	const struct dev_pagemap *first = NULL;
	bool system = false, several = false;
	unsigned long i;

	for (i = 0; i < npages;
	     i += 1UL << drm_gpusvm_hmm_pfn_to_order(pfns[i], i, npages)) {
		const struct dev_pagemap *cur;

		if (!(pfns[i] & HMM_PFN_VALID))
			return DRM_GPUSVM_SCAN_UNPOPULATED;
		cur = drm_gpusvm_page_pagemap(hmm_pfn_to_page(pfns[i]));
		if (!cur)
			system = true;
		else if (!first)
			first = cur;
		else if (cur != first)
			several = true;
	}

	if (!first)
		return DRM_GPUSVM_SCAN_SYSTEM;
	if (system)
		return DRM_GPUSVM_SCAN_MIXED;
	if (several)
		return DRM_GPUSVM_SCAN_MIXED_DEVICE;
	return first == pagemap ? DRM_GPUSVM_SCAN_EQUAL : DRM_GPUSVM_SCAN_OTHER;
}

/**
 * drm_gpusvm_scan_mm() - where the CPU pages of a range are now
 * @range: the range, still in its GPU SVM
 * @dev_private_owner: the device-private page owner of the caller: only its
 *                     device-private pages are seen (see below)
 * @pagemap: the device pagemap to compare with (may be NULL)
 *
 * Looks at the CPU page table over @range with hmm_range_fault() asking for
 * no fault: nothing is faulted in and nothing migrates, whatever the pages
 * are. The walk is retried while invalidations race it, within
 * HMM_RANGE_DEFAULT_TIMEOUT and until a fatal signal, and the pages are
 * classified under the notifier lock with no invalidation in between. The
 * result is a hint: it may be stale as soon as the function returns, and
 * nothing in the framework depends on it.
 *
 * Device pages are device-private and device-coherent ones, classified by
 * their &struct dev_pagemap. Device-private pages of an owner other than
 * @dev_private_owner are not present to the caller (hmm_range_fault() does
 * not report them without faulting them back to system memory) and make the
 * result %DRM_GPUSVM_SCAN_UNPOPULATED. The zero page of memory only read so
 * far counts as a system page.
 *
 * Caller holds the driver lock (the range must stay in the tree) and neither
 * the mmap lock, which is taken for read, nor the notifier lock.
 *
 * Return: %DRM_GPUSVM_SCAN_UNPOPULATED if any page is not present (or the
 * scan could not be made: the mm is gone, no memory, invalidations kept
 * racing past the timeout, a fatal signal); otherwise
 * %DRM_GPUSVM_SCAN_EQUAL if every page is a device page of @pagemap,
 * %DRM_GPUSVM_SCAN_OTHER if every page is a device page of one other
 * pagemap, %DRM_GPUSVM_SCAN_MIXED_DEVICE if every page is a device page but
 * of two or more pagemaps (@pagemap among them or not),
 * %DRM_GPUSVM_SCAN_SYSTEM if every page is a system page and
 * %DRM_GPUSVM_SCAN_MIXED if system and device pages mix.
 */
enum drm_gpusvm_scan_result
drm_gpusvm_scan_mm(struct drm_gpusvm_range *range, void *dev_private_owner,
		   const struct dev_pagemap *pagemap)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct mmu_interval_notifier *notifier = &range->notifier->notifier;
	enum drm_gpusvm_scan_result result = DRM_GPUSVM_SCAN_UNPOPULATED;
	unsigned long npages = drm_gpusvm_range_npages(range);
	struct drm_gpusvm *gpusvm = range->gpusvm;
	struct mm_struct *mm = gpusvm->mm;
	struct hmm_range hmm_range = {
		.notifier = notifier,
		.start = drm_gpusvm_range_start(range),
		.end = drm_gpusvm_range_end(range),
		.dev_private_owner = dev_private_owner,
		/* .default_flags and .pfn_flags_mask 0: fault nothing */
	};
	int err;

	drm_gpusvm_driver_lock_held(gpusvm);
	lockdep_assert_not_held(&gpusvm->notifier_lock);

	if (!mm || !mmget_not_zero(mm))
		return DRM_GPUSVM_SCAN_UNPOPULATED;
	hmm_range.hmm_pfns = kvmalloc_array(npages, sizeof(*hmm_range.hmm_pfns),
					    GFP_KERNEL);
	if (!hmm_range.hmm_pfns)
		goto out_mmput;

retry:
	if (fatal_signal_pending(current) || time_after(jiffies, timeout))
		goto out_free;
	hmm_range.notifier_seq = mmu_interval_read_begin(notifier);
	mmap_read_lock(mm);
	err = hmm_range_fault(&hmm_range);
	mmap_read_unlock(mm);
	if (err == -EBUSY)
		goto retry;
	if (err)
		goto out_free;

	drm_gpusvm_notifier_lock(gpusvm);
	if (mmu_interval_read_retry(notifier, hmm_range.notifier_seq)) {
		drm_gpusvm_notifier_unlock(gpusvm);
		goto retry;
	}
	result = drm_gpusvm_scan_pfns(hmm_range.hmm_pfns, npages, pagemap);
	drm_gpusvm_notifier_unlock(gpusvm);

out_free:
	kvfree(hmm_range.hmm_pfns);
out_mmput:
	mmput(mm);
	return result;
}
EXPORT_SYMBOL_GPL(drm_gpusvm_scan_mm);

static int __init drm_gpusvm_module_init(void)
{
	int err;

	err = rhashtable_init(&drm_gpusvm_dma_by_page,
			      &drm_gpusvm_dma_page_params);
	if (err)
		return err;
	err = rhashtable_init(&drm_gpusvm_dma_by_addr,
			      &drm_gpusvm_dma_addr_params);
	if (err)
		rhashtable_destroy(&drm_gpusvm_dma_by_page);
	return err;
}
module_init(drm_gpusvm_module_init);

static void __exit drm_gpusvm_module_exit(void)
{
	/* Its users (drivers) are gone, and their mappings with them. */
	WARN_ON(atomic_read(&drm_gpusvm_dma_by_page.nelems));
	rhashtable_destroy(&drm_gpusvm_dma_by_addr);
	rhashtable_destroy(&drm_gpusvm_dma_by_page);
}
module_exit(drm_gpusvm_module_exit);

MODULE_DESCRIPTION("GPU shared virtual memory helpers (drm_gpusvm)");
MODULE_LICENSE("Dual MIT/GPL");
