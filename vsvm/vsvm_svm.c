// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the driver side of drm_gpusvm: GPU SVMs in the 1:1 and N:1 layouts,
 * GPU page faults, invalidation, garbage collection, VA attributes.
 */

#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "vsvm_drv.h"
#include "vsvm_trace.h"

/**
 * DOC: GPU SVM layouts
 *
 * The module parameter ``layout`` selects how VMs map to &struct drm_gpusvm:
 *
 * - ``1:1``: every VM has its own GPU SVM, and a range embeds one pages
 *   object, initialised with the VM's device.
 * - ``n:1``: one GPU SVM per process (per mm), shared by the VMs of every
 *   vsvm device the process uses. A range embeds one pages object per vsvm
 *   device, pages[i] initialised with device i, and a fault on device i
 *   populates pages[i] only. The invalidate callback zaps the page tables of
 *   every VM of the GPU SVM and waits for each of their engines.
 *
 * Both layouts run the same code: a GPU SVM has a list of VMs (one in 1:1)
 * and a range has &vsvm_svm.shared ? num_devices : 1 pages objects.
 *
 * In N:1 a prefetch may name several devices (&drm_vsvm_prefetch.devices):
 * each range of the interval is faulted once for all of them with
 * drm_gpusvm_get_pages_multi() over their pages objects and bound in the VM
 * and in every VM of the GPU SVM on the other devices. A device's mappings
 * go on their own when its last VM leaves the GPU SVM
 * (vsvm_svm_unmap_device()); the other devices keep theirs.
 *
 * Ranges are 2 MiB, 64 KiB or 4 KiB: the largest chunk of those that fits
 * the fault's VMA, attribute interval and free VA, as in xe. The module
 * parameter ``max_chunk`` (2M, 64K or 4K, read at GPU SVM creation) caps
 * them, for make bench's chunk-size sweep. A prefetch creates ranges within
 * the interval it names, not around it: what it migrates to VRAM is what the
 * process asked for. A chunk grown over a neighbour the CPU keeps using (a
 * heap's thread control block, read at every return to user space for rseq)
 * would move that neighbour too, whose next CPU access would bring it back
 * and invalidate the whole range, the prefetched pages with it. An existing
 * range, created by a GPU fault, is prefetched whole. The price: a prefetch
 * of an interval that is not 2 MiB aligned makes smaller ranges at its
 * edges (64 KiB, 4 KiB), where later GPU faults nearby find no room for a
 * larger chunk.
 *
 * VA attributes (read-only, preferred location) belong to the GPU SVM: per VM
 * in 1:1, per process in N:1 (as SVM attributes are in amdgpu). Ranges never
 * straddle an attribute boundary: the fault handler passes the attribute
 * interval as the GPU VA bounds of drm_gpusvm_range_find_or_insert(), and
 * setting an attribute removes the ranges it overlaps.
 */

/**
 * DOC: Memory cgroups
 *
 * What the driver allocates for a process is charged to the process's memory
 * cgroup (``__GFP_ACCOUNT``): VMs, userptrs, attributes and submissions are
 * allocated by the ioctls, in the process. GPU faults, though, are serviced
 * by the device's fault queue, a worker of no cgroup, whose allocations the
 * kernel charges to nobody: vsvm_handle_fault() makes the cgroup of the
 * mirrored mm's owner the target of its charges (set_active_memcg()), looked
 * up at each fault as the core does for the process's own page faults. That
 * covers ranges, page-table leaves, the framework's notifiers and DMA address
 * arrays, and the CPU page tables hmm_range_fault() fills in. The pages
 * hmm_range_fault() faults in are charged to the same cgroup by the core,
 * and so are the VRAM (device-private) pages the process's data migrates to:
 * a migration moves the charge.
 *
 * Over the cgroup's ``memory.max``, a GPU fault reclaims and then invokes
 * the cgroup's OOM killer, exactly as the process's own CPU fault would: the
 * process is killed (SIGKILL) and its jobs never complete. Its VMs go with
 * its files, its VRAM with its memory. The OOM reaper cannot free a victim's
 * memory early (the GPU SVM's notifiers cannot invalidate without sleeping,
 * as every HMM mirror's), and the victim's exit waits for the GPU fault in
 * flight, whose charge keeps waiting for the victim's memory: the kill
 * completes once the reaper gives up on the victim (it logs "unable to
 * reap"), which lets that charge fail, a few seconds after the kill.
 */

static DEFINE_MUTEX(vsvm_svms_lock);
static LIST_HEAD(vsvm_svms);
static atomic64_t vsvm_svm_ids = ATOMIC64_INIT(0);

/* Range sizes to try, as xe does: 2 MiB, 64 KiB, 4 KiB. */
static const unsigned long vsvm_chunk_sizes[] = { SZ_2M, SZ_64K, SZ_4K };

/* The largest range size of new GPU SVMs: one of vsvm_chunk_sizes. */
static unsigned long vsvm_max_chunk = SZ_2M;

static int vsvm_max_chunk_set(const char *val, const struct kernel_param *kp)
{
	unsigned long size;
	unsigned int i;
	char *end;

	size = memparse(val, &end);
	if (end == val || *end)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(vsvm_chunk_sizes); i++) {
		if (size == vsvm_chunk_sizes[i]) {
			*(unsigned long *)kp->arg = size;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct kernel_param_ops vsvm_max_chunk_ops = {
	.set = vsvm_max_chunk_set,
	.get = param_get_ulong,
};

module_param_cb(max_chunk, &vsvm_max_chunk_ops, &vsvm_max_chunk, 0444);
MODULE_PARM_DESC(max_chunk,
		 "largest GPU SVM range in bytes: 2M (default), 64K or 4K (make bench's chunk-size sweep)");

/* A new GPU SVM's chunk sizes: vsvm_max_chunk and below, @num of them. */
static const unsigned long *vsvm_svm_chunk_sizes(int *num)
{
	unsigned int i = 0;

	while (vsvm_chunk_sizes[i] > vsvm_max_chunk)
		i++;
	*num = ARRAY_SIZE(vsvm_chunk_sizes) - i;
	return &vsvm_chunk_sizes[i];
}

static struct vsvm_svm *to_vsvm_svm(struct drm_gpusvm *gpusvm)
{
	return container_of(gpusvm, struct vsvm_svm, gpusvm);
}

static struct vsvm_range *to_vsvm_range(struct drm_gpusvm_range *range)
{
	return container_of(range, struct vsvm_range, base);
}

static unsigned int vsvm_svm_num_pages(struct vsvm_svm *svm)
{
	return svm->shared ? vsvm_num_devices : 1;
}

/* The pages object of @range used by device @vdev. */
static struct drm_gpusvm_pages *vsvm_range_pages(struct vsvm_svm *svm,
						 struct vsvm_range *vr,
						 struct vsvm_device *vdev)
{
	return &vr->pages[svm->shared ? vdev->index : 0];
}

static struct drm_gpusvm_range *vsvm_range_alloc(struct drm_gpusvm *gpusvm)
{
	struct vsvm_svm *svm = to_vsvm_svm(gpusvm);
	unsigned int i, n = vsvm_svm_num_pages(svm);
	struct vsvm_range *vr;

	vr = kzalloc(struct_size(vr, pages, n), GFP_KERNEL_ACCOUNT);
	if (!vr)
		return NULL;
	INIT_LIST_HEAD(&vr->gc_link);
	for (i = 0; i < n; i++) {
		struct vsvm_device *vdev = svm->shared ?
			vsvm_device_get_by_index(i) : svm->owner;

		drm_gpusvm_init_pages(&vr->pages[i], &vdev->drm);
	}
	atomic64_inc(&svm->ranges_created);
	atomic64_inc(&svm->ranges_live);
	return &vr->base;
}

static void vsvm_range_free(struct drm_gpusvm_range *range)
{
	struct vsvm_svm *svm = to_vsvm_svm(range->gpusvm);
	struct vsvm_range *vr = to_vsvm_range(range);
	unsigned int i;

	spin_lock(&svm->gc_lock);
	list_del_init(&vr->gc_link);
	spin_unlock(&svm->gc_lock);

	/*
	 * Every removal path unmapped the pages before the range left the
	 * GPU SVM; free_pages only releases the DMA address arrays.
	 */
	for (i = 0; i < vsvm_svm_num_pages(svm); i++) {
		WARN_ON_ONCE(drm_gpusvm_pages_valid_unlocked(&svm->gpusvm,
							     &vr->pages[i]));
		drm_gpusvm_free_pages(&svm->gpusvm, &vr->pages[i],
				      drm_gpusvm_range_npages(range));
	}
	atomic64_dec(&svm->ranges_live);
	kfree(vr);
}

/* Zap [start, end) in every VM of @svm; true if a PTE was valid. */
static bool vsvm_svm_zap(struct vsvm_svm *svm, unsigned long start,
			 unsigned long end)
{
	struct vsvm_vm *vm;
	bool zapped = false;

	list_for_each_entry(vm, &svm->vms, svm_link) {
		if (vsvm_pt_zap(vm, start, end)) {
			vsvm_count(vm, invalidations, 1);
			zapped = true;
		}
	}
	return zapped;
}

/* Wait until no engine of a VM of @svm uses a zapped translation. */
static void vsvm_svm_tlb_flush(struct vsvm_svm *svm)
{
	struct vsvm_vm *vm;

	list_for_each_entry(vm, &svm->vms, svm_link)
		vsvm_tlb_flush(vm->vdev);
}

static void vsvm_gc_queue(struct vsvm_svm *svm, struct vsvm_range *vr)
{
	spin_lock(&svm->gc_lock);
	if (list_empty(&vr->gc_link)) {
		list_add_tail(&vr->gc_link, &svm->gc_list);
		if (!svm->closing)
			queue_work(system_wq, &svm->gc_work);
	}
	spin_unlock(&svm->gc_lock);
}

static void vsvm_invalidate(struct drm_gpusvm *gpusvm,
			    struct drm_gpusvm_notifier *notifier,
			    const struct mmu_notifier_range *mmu_range)
{
	struct vsvm_svm *svm = to_vsvm_svm(gpusvm);
	struct drm_gpusvm_ctx ctx = { .in_notifier = true };
	unsigned long start = mmu_range->start, end = mmu_range->end;
	unsigned int i, n = vsvm_svm_num_pages(svm);
	struct drm_gpusvm_range *r;
	bool zapped = false;

	/* 1. Zap the GPU PTEs of every range hit, in every VM. */
	drm_gpusvm_for_each_range(r, notifier, start, end) {
		trace_vsvm_invalidate(svm->id, start, end, mmu_range->event,
				      drm_gpusvm_range_start(r),
				      drm_gpusvm_range_end(r));
		zapped |= vsvm_svm_zap(svm, drm_gpusvm_range_start(r),
				       drm_gpusvm_range_end(r));
	}
	/* 2. The TLB flush: the engines no longer use those translations. */
	if (zapped)
		vsvm_svm_tlb_flush(svm);
	/* 3. Only now the pages may be unmapped, and freed by the core. */
	drm_gpusvm_for_each_range(r, notifier, start, end) {
		struct vsvm_range *vr = to_vsvm_range(r);

		for (i = 0; i < n; i++)
			drm_gpusvm_unmap_pages(gpusvm, &vr->pages[i],
					       drm_gpusvm_range_npages(r), &ctx);
		if (mmu_range->event == MMU_NOTIFY_UNMAP) {
			drm_gpusvm_range_set_unmapped(r, vr->pages, n, mmu_range);
			vsvm_gc_queue(svm, vr);
		}
	}
}

static const struct drm_gpusvm_ops vsvm_gpusvm_ops = {
	.range_alloc = vsvm_range_alloc,
	.range_free = vsvm_range_free,
	.invalidate = vsvm_invalidate,
};

/*
 * Remove a range: zap it everywhere, wait for the engines, DMA-unmap its
 * pages and only then take it out of the GPU SVM.
 */
static void vsvm_range_remove(struct vsvm_svm *svm, struct vsvm_range *vr)
{
	struct drm_gpusvm_ctx ctx = {};
	struct drm_gpusvm_range *r = &vr->base;
	struct vsvm_vm *vm;
	unsigned int i;

	lockdep_assert_held(&svm->lock);

	spin_lock(&svm->gc_lock);
	list_del_init(&vr->gc_link);
	spin_unlock(&svm->gc_lock);

	if (vsvm_svm_zap(svm, drm_gpusvm_range_start(r), drm_gpusvm_range_end(r)))
		vsvm_svm_tlb_flush(svm);
	for (i = 0; i < vsvm_svm_num_pages(svm); i++)
		drm_gpusvm_unmap_pages(&svm->gpusvm, &vr->pages[i],
				       drm_gpusvm_range_npages(r), &ctx);
	list_for_each_entry(vm, &svm->vms, svm_link)
		vsvm_pt_release_leaves(vm, drm_gpusvm_range_start(r),
				       drm_gpusvm_range_end(r));
	drm_gpusvm_range_remove(&svm->gpusvm, r);
}

/* The garbage collector: remove the ranges the CPU unmapped. */
static void vsvm_svm_gc(struct vsvm_svm *svm)
{
	unsigned long removed = 0;

	lockdep_assert_held(&svm->lock);

	for (;;) {
		struct vsvm_range *vr;
		struct drm_gpusvm_range_flags flags;

		spin_lock(&svm->gc_lock);
		vr = list_first_entry_or_null(&svm->gc_list, struct vsvm_range,
					      gc_link);
		spin_unlock(&svm->gc_lock);
		if (!vr)
			break;
		flags.__flags = READ_ONCE(vr->base.flags.__flags);
		trace_vsvm_gc(svm->id, drm_gpusvm_range_start(&vr->base),
			      drm_gpusvm_range_end(&vr->base),
			      flags.partial_unmap);
		vsvm_range_remove(svm, vr);
		removed++;
	}
	if (removed) {
		atomic64_inc(&svm->gc_runs);
		atomic64_add(removed, &svm->gc_ranges);
	}
}

static void vsvm_gc_work(struct work_struct *work)
{
	struct vsvm_svm *svm = container_of(work, struct vsvm_svm, gc_work);

	mutex_lock(&svm->lock);
	vsvm_svm_gc(svm);
	mutex_unlock(&svm->lock);
}

/* Remove every range overlapping [start, end). */
static void vsvm_svm_remove_ranges(struct vsvm_svm *svm, unsigned long start,
				   unsigned long end)
{
	struct drm_gpusvm_notifier *notifier, *next;

	lockdep_assert_held(&svm->lock);

	drm_gpusvm_for_each_notifier_safe(notifier, next, &svm->gpusvm, start,
					  end) {
		struct drm_gpusvm_range *r, *tmp;

		/* The notifier goes away with its last range. */
		drm_gpusvm_for_each_range_safe(r, tmp, notifier, start, end)
			vsvm_range_remove(svm, to_vsvm_range(r));
	}
}

static struct vsvm_svm *vsvm_svm_create(struct vsvm_device *vdev,
					struct mm_struct *mm, bool shared)
{
	const unsigned long *chunk_sizes;
	struct vsvm_svm *svm;
	int num_chunks, err;

	svm = kzalloc(sizeof(*svm), GFP_KERNEL_ACCOUNT);
	if (!svm)
		return ERR_PTR(-ENOMEM);
	svm->id = atomic64_inc_return(&vsvm_svm_ids);
	svm->shared = shared;
	svm->owner = shared ? NULL : vdev;
	mutex_init(&svm->lock);
	kref_init(&svm->refcount);
	INIT_LIST_HEAD(&svm->vms);
	INIT_LIST_HEAD(&svm->attrs);
	spin_lock_init(&svm->gc_lock);
	INIT_LIST_HEAD(&svm->gc_list);
	INIT_WORK(&svm->gc_work, vsvm_gc_work);
	INIT_LIST_HEAD(&svm->link);

	chunk_sizes = vsvm_svm_chunk_sizes(&num_chunks);
	err = drm_gpusvm_init(&svm->gpusvm, "vsvm", mm, 0, TASK_SIZE_MAX,
			      vsvm_notifier_size, &vsvm_gpusvm_ops,
			      chunk_sizes, num_chunks);
	if (err) {
		mutex_destroy(&svm->lock);
		kfree(svm);
		return ERR_PTR(err);
	}
	drm_gpusvm_driver_set_lock(&svm->gpusvm, &svm->lock);
	return svm;
}

/* Called by kref_put_mutex() with vsvm_svms_lock held; drops it. */
static void vsvm_svm_release(struct kref *kref)
{
	struct vsvm_svm *svm = container_of(kref, struct vsvm_svm, refcount);
	struct vsvm_attr *attr, *tmp;

	list_del_init(&svm->link);
	mutex_unlock(&vsvm_svms_lock);

	spin_lock(&svm->gc_lock);
	svm->closing = true;
	spin_unlock(&svm->gc_lock);
	cancel_work_sync(&svm->gc_work);

	/*
	 * Ranges are removed as the garbage collector does (zap, TLB flush,
	 * DMA-unmap, then out of the tree) while their notifiers still
	 * deliver invalidations; fini then finds nothing left.
	 */
	mutex_lock(&svm->lock);
	vsvm_svm_remove_ranges(svm, 0, TASK_SIZE_MAX);
	drm_gpusvm_fini(&svm->gpusvm);
	mutex_unlock(&svm->lock);

	list_for_each_entry_safe(attr, tmp, &svm->attrs, link)
		kfree(attr);
	mutex_destroy(&svm->lock);
	kfree(svm);
}

static void vsvm_svm_put(struct vsvm_svm *svm)
{
	kref_put_mutex(&svm->refcount, vsvm_svm_release, &vsvm_svms_lock);
}

/**
 * vsvm_svm_attach() - give a new VM its GPU SVM
 * @vm: the VM
 * @mm: the process it mirrors (the caller's)
 *
 * In 1:1 a new GPU SVM; in N:1 the process's GPU SVM, created by the first
 * VM of the process.
 *
 * Return: 0 or a negative errno: -EOPNOTSUPP on a device whose DMA is
 * bounce-buffered (&vsvm_device.dma_bounces), -ENOMEM.
 */
int vsvm_svm_attach(struct vsvm_vm *vm, struct mm_struct *mm)
{
	struct vsvm_svm *svm = NULL, *s;

	/* The engine would work on bounce buffers the CPU never sees. */
	if (vm->vdev->dma_bounces)
		return -EOPNOTSUPP;

	if (vsvm_layout_shared) {
		mutex_lock(&vsvm_svms_lock);
		list_for_each_entry(s, &vsvm_svms, link) {
			if (s->gpusvm.mm == mm &&
			    kref_get_unless_zero(&s->refcount)) {
				svm = s;
				break;
			}
		}
		if (!svm) {
			svm = vsvm_svm_create(vm->vdev, mm, true);
			if (!IS_ERR(svm))
				list_add(&svm->link, &vsvm_svms);
		}
		mutex_unlock(&vsvm_svms_lock);
	} else {
		svm = vsvm_svm_create(vm->vdev, mm, false);
	}
	if (IS_ERR(svm))
		return PTR_ERR(svm);

	/* Set before the VM is on the list: the GC and zaps walk it. */
	vm->svm = svm;
	mutex_lock(&svm->lock);
	down_write(&svm->gpusvm.notifier_lock);
	list_add_tail(&vm->svm_link, &svm->vms);
	up_write(&svm->gpusvm.notifier_lock);
	mutex_unlock(&svm->lock);
	return 0;
}

/*
 * After the last VM of a device left a shared GPU SVM, drop that device's
 * DMA mappings: nothing will use them.
 */
static void vsvm_svm_unmap_device(struct vsvm_svm *svm,
				  struct vsvm_device *vdev)
{
	struct drm_gpusvm_ctx ctx = {};
	struct drm_gpusvm_notifier *notifier;
	struct drm_gpusvm_range *r;
	struct vsvm_vm *vm;

	lockdep_assert_held(&svm->lock);

	list_for_each_entry(vm, &svm->vms, svm_link)
		if (vm->vdev == vdev)
			return;
	list_for_each_entry(notifier, &svm->gpusvm.notifier_list, entry)
		drm_gpusvm_for_each_range(r, notifier, 0, ULONG_MAX)
			drm_gpusvm_unmap_pages(&svm->gpusvm,
					       vsvm_range_pages(svm, to_vsvm_range(r), vdev),
					       drm_gpusvm_range_npages(r), &ctx);
}

/**
 * vsvm_svm_detach() - take a VM out of its GPU SVM
 * @vm: the VM, whose last reference went: nothing uses it any more
 *
 * Drops the VM's reference on the GPU SVM; the last one tears it down.
 * Takes the driver lock.
 */
void vsvm_svm_detach(struct vsvm_vm *vm)
{
	struct vsvm_svm *svm = vm->svm;

	mutex_lock(&svm->lock);
	down_write(&svm->gpusvm.notifier_lock);
	list_del_init(&vm->svm_link);
	up_write(&svm->gpusvm.notifier_lock);
	if (svm->shared)
		vsvm_svm_unmap_device(svm, vm->vdev);
	mutex_unlock(&svm->lock);

	vsvm_svm_put(svm);
}

/* The attributes at @addr, with the interval they hold on in @out. */
static void vsvm_attr_lookup(struct vsvm_svm *svm, unsigned long addr,
			     struct vsvm_attr *out)
{
	struct vsvm_attr *a;

	lockdep_assert_held(&svm->lock);

	memset(out, 0, sizeof(*out));
	out->end = TASK_SIZE_MAX;
	list_for_each_entry(a, &svm->attrs, link) {
		if (a->end <= addr) {
			out->start = a->end;
			continue;
		}
		if (a->start <= addr) {
			out->start = a->start;
			out->end = a->end;
			out->read_only = a->read_only;
			out->preferred_loc = a->preferred_loc;
		} else {
			out->end = a->start;
		}
		return;
	}
}

static bool vsvm_attr_is_default(const struct vsvm_attr *a)
{
	return !a->read_only && a->preferred_loc == DRM_VSVM_LOC_SYSTEM;
}

static bool vsvm_attr_same(const struct vsvm_attr *a, const struct vsvm_attr *b)
{
	return a->read_only == b->read_only &&
	       a->preferred_loc == b->preferred_loc;
}

static void vsvm_attr_apply(struct vsvm_attr *a, u32 attr, u64 value)
{
	if (attr == DRM_VSVM_ATTR_READ_ONLY)
		a->read_only = value;
	else
		a->preferred_loc = value;
}

static struct vsvm_attr *vsvm_attr_take(struct list_head *spare)
{
	struct vsvm_attr *a = list_first_entry(spare, struct vsvm_attr, link);

	list_del(&a->link);
	return a;
}

/* Split the attribute interval containing @addr at @addr. */
static void vsvm_attr_split(struct vsvm_svm *svm, unsigned long addr,
			    struct list_head *spare)
{
	struct vsvm_attr *a, *b;

	list_for_each_entry(a, &svm->attrs, link) {
		if (a->start < addr && addr < a->end) {
			b = vsvm_attr_take(spare);
			*b = *a;
			b->start = addr;
			a->end = addr;
			list_add(&b->link, &a->link);
			return;
		}
	}
}

/* Set @attr to @value on [start, end): all or nothing. */
static int vsvm_attr_set(struct vsvm_svm *svm, unsigned long start,
			 unsigned long end, u32 attr, u64 value)
{
	struct vsvm_attr *a, *n, *tmp;
	unsigned int need = 3, i;
	unsigned long cur = start;
	LIST_HEAD(spare);

	lockdep_assert_held(&svm->lock);

	/* Two splits, and one gap before each interval inside and after. */
	list_for_each_entry(a, &svm->attrs, link)
		if (a->end > start && a->start < end)
			need++;
	for (i = 0; i < need; i++) {
		n = kzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
		if (!n)
			goto err_free;
		list_add(&n->link, &spare);
	}

	vsvm_attr_split(svm, start, &spare);
	vsvm_attr_split(svm, end, &spare);
	list_for_each_entry(a, &svm->attrs, link) {
		if (a->end <= start)
			continue;
		if (a->start >= end)
			break;
		if (a->start > cur) {
			n = vsvm_attr_take(&spare);
			n->start = cur;
			n->end = a->start;
			vsvm_attr_apply(n, attr, value);
			list_add_tail(&n->link, &a->link);
		}
		vsvm_attr_apply(a, attr, value);
		cur = a->end;
	}
	if (cur < end) {
		n = vsvm_attr_take(&spare);
		n->start = cur;
		n->end = end;
		vsvm_attr_apply(n, attr, value);
		list_add_tail(&n->link, &a->link);
	}

	/* Keep the list short: drop defaults, merge equal neighbours. */
	list_for_each_entry_safe(a, tmp, &svm->attrs, link) {
		if (vsvm_attr_is_default(a)) {
			list_del(&a->link);
			kfree(a);
		}
	}
	list_for_each_entry_safe(a, tmp, &svm->attrs, link) {
		if (list_is_last(&a->link, &svm->attrs))
			break;
		n = list_next_entry(a, link);
		if (a->end == n->start && vsvm_attr_same(a, n)) {
			n->start = a->start;
			list_del(&a->link);
			kfree(a);
		}
	}
err_free:
	list_for_each_entry_safe(n, tmp, &spare, link)
		kfree(n);
	return i < need ? -ENOMEM : 0;
}

/* Bind the pages of @r into @vm's page table; notifier lock held. */
static void vsvm_bind_range(struct vsvm_vm *vm, struct drm_gpusvm_range *r,
			    struct drm_gpusvm_pages *pages, bool writable)
{
	/* A userptr bound over a VA takes precedence. */
	vsvm_pt_bind(vm, drm_gpusvm_range_start(r), pages->dma_addr,
		     drm_gpusvm_range_npages(r),
		     VSVM_PTE_VALID | (writable ? VSVM_PTE_WRITE : 0), true);
}

/*
 * Migrate a range into the VM's device memory through its provider, to stay
 * there at least vram_timeslice_ms: its system pages and its pages in an
 * interconnect peer's VRAM. Pages that cannot move stay where they are; the
 * fault maps whatever is where after it. Return: 0 when pages moved,
 * -EBUSY when none could, or another error of drm_pagemap_populate_mm().
 */
static int vsvm_svm_migrate(struct vsvm_vm *vm, unsigned long start,
			    unsigned long end)
{
	struct drm_pagemap *dpagemap;
	int err;

	dpagemap = drm_pagemap_get(vsvm_vram_dpagemap(vm->vdev));
	if (!dpagemap)
		return -EOPNOTSUPP;
	err = drm_pagemap_populate_mm(dpagemap, start, end, vm->svm->gpusvm.mm,
				      READ_ONCE(vsvm_vram_timeslice_ms));
	drm_pagemap_put(dpagemap);
	return err;
}

/*
 * Whether some page of @r may be in the VRAM of an interconnect peer of the
 * VM's device (a hint: the pages may move right after): unless every page
 * is a system page, or in the device's own VRAM, a migration could take a
 * peer's pages (the scan does not say whose device pages a mixed or partly
 * untouched range holds). Driver lock held.
 */
static bool vsvm_svm_may_hold_peer_vram(struct vsvm_vm *vm,
					struct drm_gpusvm_range *r)
{
	struct drm_pagemap *own = vsvm_vram_dpagemap(vm->vdev);
	enum drm_gpusvm_scan_result where;

	lockdep_assert_held(&vm->svm->lock);

	/* Its own page owner: a device on no interconnect has no peer. */
	if (vm->vdev->page_owner == vm->vdev)
		return false;
	where = drm_gpusvm_scan_mm(r, vm->vdev->page_owner, own->pagemap);
	return where != DRM_GPUSVM_SCAN_SYSTEM &&
	       where != DRM_GPUSVM_SCAN_EQUAL;
}

/*
 * Whether the process may write at @addr: a VMA with VM_WRITE there. Tells a
 * read-only device page (copy-on-write after fork()) from read-only memory
 * when get_pages() refuses a write with -EPERM.
 */
static bool vsvm_svm_writable(struct vsvm_svm *svm, unsigned long addr)
{
	struct mm_struct *mm = svm->gpusvm.mm;
	struct vm_area_struct *vma;
	bool writable;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	writable = vma && (vma->vm_flags & VM_WRITE);
	mmap_read_unlock(mm);
	/* The driver lock is held: the last put must not tear the mm down here. */
	mmput_async(mm);
	return writable;
}

/*
 * The device-private page owner a fault for the devices of @devices asks
 * for: none for system memory; else the VM's device's, whose VRAM pages (and
 * its interconnect peers') are then mapped as they are, if every device of
 * @devices shares it; else none, and device pages come back to system
 * memory, the one place every device reaches.
 */
static void *vsvm_svm_fault_owner(struct vsvm_vm *vm, u32 devices,
				  enum vsvm_place place)
{
	void *owner = vm->vdev->page_owner;
	unsigned int i;

	if (place == VSVM_PLACE_SYSTEM)
		return NULL;
	for (i = 0; i < vsvm_num_devices; i++)
		if (devices & BIT(i) &&
		    vsvm_device_get_by_index(i)->page_owner != owner)
			return NULL;
	return owner;
}

/*
 * The pages objects of @vr for the devices of @devices into @set, the VM's
 * device's first. Returns their number.
 */
static unsigned int vsvm_fault_pages(struct vsvm_vm *vm, struct vsvm_range *vr,
				     u32 devices,
				     struct drm_gpusvm_pages **set)
{
	struct vsvm_svm *svm = vm->svm;
	unsigned int i, n = 0;

	set[n++] = vsvm_range_pages(svm, vr, vm->vdev);
	for (i = 0; i < vsvm_num_devices; i++)
		if (devices & BIT(i) && i != vm->vdev->index)
			set[n++] = &vr->pages[i];
	return n;
}

/*
 * Whether a fault of @vm for the devices of @devices binds in @v: @vm itself
 * and every VM of the GPU SVM on another device of @devices (@vm's other
 * VMs on its own device fault for themselves, as before).
 */
static bool vsvm_fault_binds(struct vsvm_vm *vm, u32 devices,
			     struct vsvm_vm *v)
{
	return v == vm || (v->vdev != vm->vdev &&
			   (devices & BIT(v->vdev->index)));
}

/* Bind @r in the VMs a fault of @vm for @devices binds in. */
static void vsvm_bind_devices(struct vsvm_vm *vm, struct drm_gpusvm_range *r,
			      u32 devices, bool read_only_attr)
{
	struct vsvm_svm *svm = vm->svm;
	struct vsvm_range *vr = to_vsvm_range(r);
	struct vsvm_vm *v;

	lockdep_assert_held(&svm->gpusvm.notifier_lock);

	list_for_each_entry(v, &svm->vms, svm_link) {
		struct drm_gpusvm_pages *pages;
		bool writable;

		if (!vsvm_fault_binds(vm, devices, v))
			continue;
		pages = vsvm_range_pages(svm, vr, v->vdev);
		writable = !pages->flags.read_only && !read_only_attr;
		vsvm_bind_range(v, r, pages, writable);
		trace_vsvm_bind(v->vdev->index, v->id, drm_gpusvm_range_start(r),
				drm_gpusvm_range_end(r), writable, false);
	}
}

/* Whether a range of the GPU SVM holds @addr. Driver lock held. */
static bool vsvm_svm_range_at(struct vsvm_svm *svm, unsigned long addr)
{
	struct drm_gpusvm_notifier *notifier;

	notifier = drm_gpusvm_notifier_find(&svm->gpusvm, addr, addr + 1);
	return notifier && drm_gpusvm_range_find(notifier, addr, addr + 1);
}

/*
 * Service a GPU fault at @addr from the process's memory: find or create the
 * range, fault its pages once and DMA-map them for each device of @devices
 * (the VM's device, and more for a prefetch naming several: the N:1 layout
 * only), bind them in the VM and in every VM of the GPU SVM on the other
 * devices. Returns the end of the bound range in @bound_end. A range it
 * creates lies within [@lo, @hi): a prefetch's interval (0, ULONG_MAX for a
 * GPU fault).
 *
 * Placement, when @place wants VRAM: a range never mapped for the device
 * migrates before it is faulted (untouched memory goes to VRAM without
 * being allocated in system memory); otherwise it migrates once the fault
 * found it elsewhere. Pages in another device's VRAM, not on the
 * interconnect, come back to system memory with the fault, and migrate from
 * there. Pages in an interconnect peer's VRAM migrate VRAM to VRAM on an
 * explicit prefetch to the device (%VSVM_PLACE_DEVICE), but a GPU fault
 * under the preferred-location attribute maps them where they are, in the
 * peer's VRAM: two devices that both prefer their own VRAM and share a
 * buffer would otherwise move it back and forth at every fault of either.
 */
static int vsvm_svm_fault(struct vsvm_vm *vm, unsigned long addr, bool write,
			  enum vsvm_place place, u32 devices,
			  unsigned long lo, unsigned long hi,
			  unsigned long *bound_end)
{
	struct drm_gpusvm_pages *set[VSVM_MAX_DEVICES];
	struct vsvm_svm *svm = vm->svm;
	struct vsvm_attr attr;
	unsigned long start, end;
	unsigned long failed_start = 0, failed_end = 0;
	bool evicted = false, migrated = false, early = false;
	bool cow_evicted = false, cow_migrated = false;
	bool want_vram, to_devmem, in_vram;
	unsigned long first = jiffies;
	unsigned int tries, n, k;
	struct vsvm_vm *v;
	int err;

	lockdep_assert_held(&svm->lock);
	devices |= BIT(vm->vdev->index);
	if (WARN_ON_ONCE(!svm->shared && devices != BIT(vm->vdev->index)))
		return -EINVAL;

	vsvm_attr_lookup(svm, addr, &attr);
	if (write && attr.read_only)
		return -EACCES;
	start = attr.start;
	end = attr.end;
	vsvm_userptr_clip(vm, addr, &start, &end);
	to_devmem = place == VSVM_PLACE_DEVICE ||
		    place == VSVM_PLACE_DEVICE_FROM_SYSTEM ||
		    (place == VSVM_PLACE_BY_ATTR &&
		     attr.preferred_loc == DRM_VSVM_LOC_DEVICE);

	for (tries = 0; vsvm_fault_retry(tries, first); tries++) {
		/*
		 * The range itself is only MM state: create it read-only. This
		 * device's VRAM pages, and its interconnect peers', are mapped
		 * as they are (unless a prefetch wants system memory); other
		 * devices' are migrated back by the fault.
		 */
		struct drm_gpusvm_ctx ctx = {
			.read_only = true,
			.device_private_page_owner =
				vsvm_svm_fault_owner(vm, devices, place),
			.devmem_possible = !!vm->vdev->vram,
			.allow_mixed = true,
		};
		struct drm_gpusvm_ctx unmap_ctx = {};
		struct drm_gpusvm_range_flags rflags;
		struct drm_gpusvm_pages_flags pflags;
		struct drm_gpusvm_pages *pages;
		struct drm_gpusvm_range *r;
		unsigned long rs, re, lo_bound = start, hi_bound = end;
		bool zapped = false;

		if (tries)
			vsvm_count(vm, fault_retries, 1);

		/*
		 * A new range stays within [lo, hi); an existing one is kept
		 * whole (as bounds of find_or_insert, [lo, hi) would retire
		 * it).
		 */
		if (!vsvm_svm_range_at(svm, addr)) {
			lo_bound = max(start, lo);
			hi_bound = min(end, hi);
		}
		r = drm_gpusvm_range_find_or_insert(&svm->gpusvm, addr,
						    lo_bound, hi_bound, &ctx);
		if (IS_ERR(r))
			return PTR_ERR(r);
		rs = drm_gpusvm_range_start(r);
		re = drm_gpusvm_range_end(r);
		n = vsvm_fault_pages(vm, to_vsvm_range(r), devices, set);
		pages = set[0];

		list_for_each_entry(v, &svm->vms, svm_link) {
			if (!vsvm_fault_binds(vm, devices, v))
				continue;
			err = vsvm_pt_prepare(v, rs, re);
			if (err)
				return err;
		}

		/*
		 * Placement policy, for pages never mapped for this device:
		 * migrate first, untouched memory then goes to VRAM without
		 * being allocated in system memory. A GPU fault leaves a
		 * peer's VRAM alone. When nothing could move (another device's
		 * VRAM, say), the fault brings the pages to system memory and
		 * the migration runs after it.
		 */
		rflags.__flags = READ_ONCE(r->flags.__flags);
		want_vram = to_devmem && vm->vdev->vram && rflags.migrate_devmem;
		if (want_vram && !migrated && !early &&
		    pages->notifier_seq == ULONG_MAX) {
			early = true;
			if (place != VSVM_PLACE_BY_ATTR ||
			    !vsvm_svm_may_hold_peer_vram(vm, r))
				migrated = vsvm_svm_migrate(vm, rs, re) != -EBUSY ||
					   place == VSVM_PLACE_DEVICE_FROM_SYSTEM;
		}

		/*
		 * To system memory: a valid mapping of this device's VRAM
		 * would be kept as it is by get_pages; evict it first.
		 */
		for (k = 0; k < n && place == VSVM_PLACE_SYSTEM && !evicted; k++) {
			pflags.__flags = READ_ONCE(set[k]->flags.__flags);
			if (pflags.has_devmem_pages) {
				evicted = true;
				drm_gpusvm_range_evict(&svm->gpusvm, r);
			}
		}

		/*
		 * A read does not break COW: map read-only until a write. The
		 * read-only mapping may be in use: zap its users, wait for the
		 * engines, unmap it, then ask for a writable one.
		 */
		ctx.read_only = !write;
		for (k = 0; k < n && write; k++) {
			if (!vsvm_pages_read_only(set[k]))
				continue;
			if (!zapped && vsvm_svm_zap(svm, rs, re))
				vsvm_svm_tlb_flush(svm);
			zapped = true;
			drm_gpusvm_unmap_pages(&svm->gpusvm, set[k],
					       drm_gpusvm_range_npages(r),
					       &unmap_ctx);
		}
		err = drm_gpusvm_get_pages_multi(&svm->gpusvm, set, n,
						 svm->gpusvm.mm,
						 &r->notifier->notifier, rs, re,
						 &ctx);
		if (err == -EAGAIN)
			continue;
		if (err == -EFAULT) {
			rflags.__flags = READ_ONCE(r->flags.__flags);
			if (rflags.unmapped) {
				/* Unmapped meanwhile: remove it, try anew. */
				vsvm_svm_gc(svm);
				continue;
			}
		}
		if ((err == -EPERM || err == -EFAULT) &&
		    (rs != failed_start || re != failed_end)) {
			/*
			 * The VMA may have been split under the range after
			 * find_or_insert looked (mprotect racing the fault):
			 * look again, which retires a range that no longer
			 * fits. The same range failing again is the answer.
			 */
			failed_start = rs;
			failed_end = re;
			continue;
		}
		if (err == -EPERM && write && vm->vdev->vram &&
		    vsvm_svm_writable(svm, addr)) {
			/*
			 * A read-only VRAM page in writable memory: fork()
			 * shared it copy-on-write. Back to system memory,
			 * where the write fault breaks COW; to VRAM again
			 * only once that is done (below): before, it would
			 * give the write another shared, read-only device
			 * page while the child lives.
			 */
			migrated = true;
			cow_evicted = true;
			drm_gpusvm_range_evict(&svm->gpusvm, r);
			continue;
		}
		if (err == -EPERM)
			return -EACCES;
		if (err == -EOPNOTSUPP) {
			/*
			 * VRAM of two peers on the interconnect in one range:
			 * one mapping takes one provider. Back to system
			 * memory first, from where it may migrate again; a
			 * second time is an invalidation storm.
			 */
			if (evicted)
				return -EBUSY;
			evicted = true;
			migrated = false;
			drm_gpusvm_range_evict(&svm->gpusvm, r);
			continue;
		}
		if (err)
			return err;

		/*
		 * Otherwise get_pages tells where the pages are: migrate unless
		 * they are in VRAM already, then map again (the migration
		 * invalidated this mapping). No VRAM is allocated, and nothing
		 * evicted, for data that is resident. A peer's VRAM counts as
		 * resident for a GPU fault, not for a prefetch to the device.
		 */
		pflags.__flags = READ_ONCE(pages->flags.__flags);
		in_vram = pflags.has_devmem_pages &&
			  (place != VSVM_PLACE_DEVICE ||
			   READ_ONCE(pages->dpagemap) ==
			   vsvm_vram_dpagemap(vm->vdev));
		if (want_vram && !migrated && !in_vram) {
			migrated = true;
			vsvm_svm_migrate(vm, rs, re);
			continue;
		}
		/*
		 * The write broke copy-on-write after a fork() (the eviction
		 * above): the pages are this process's own now, and move to
		 * VRAM as they would have. Once: a fork() racing again leaves
		 * them in system memory.
		 */
		if (want_vram && write && cow_evicted && !cow_migrated &&
		    !in_vram) {
			cow_migrated = true;
			vsvm_svm_migrate(vm, rs, re);
			continue;
		}

		drm_gpusvm_notifier_lock(&svm->gpusvm);
		for (k = 0; k < n; k++)
			if (!drm_gpusvm_pages_valid(&svm->gpusvm, set[k]) ||
			    (write && set[k]->flags.read_only))
				break;
		if (k < n) {
			drm_gpusvm_notifier_unlock(&svm->gpusvm);
			continue;
		}
		vsvm_bind_devices(vm, r, devices, attr.read_only);
		drm_gpusvm_notifier_unlock(&svm->gpusvm);

		*bound_end = re;
		return 0;
	}
	return -EBUSY;
}

/**
 * vsvm_handle_fault() - service a GPU page fault (the fault queue's work)
 * @vm: the VM that faulted
 * @addr: the GPU VA
 * @write: the access was a write
 *
 * Takes the driver lock, runs the garbage collector, then services the fault
 * from a userptr bound at @addr or else from the process's memory. What it
 * allocates is charged to the memory cgroup of the process (see DOC: Memory
 * cgroups). The vsvm_fault trace event reports the result and the service
 * time (ns), all of that included.
 *
 * Return: 0 when the access can be retried, or the job's failure: -EFAULT
 * (nothing mapped at @addr), -EACCES (write to read-only memory), -EPERM
 * (memory the GPU cannot mirror), -EBUSY, -ENOMEM.
 */
int vsvm_handle_fault(struct vsvm_vm *vm, unsigned long addr, bool write)
{
	u64 start_ns = ktime_get_ns();
	struct vsvm_svm *svm = vm->svm;
	struct mem_cgroup *memcg, *old_memcg;
	struct vsvm_userptr *up;
	unsigned long end;
	int err;

	/* The GPU SVM holds the mm (mmgrab): its owner's cgroup pays. */
	memcg = get_mem_cgroup_from_mm(svm->gpusvm.mm);
	old_memcg = set_active_memcg(memcg);

	mutex_lock(&svm->lock);
	vsvm_svm_gc(svm);
	up = vsvm_userptr_at(vm, addr);
	if (up) {
		err = vsvm_userptr_fault(up, write);
		if (!err)
			vsvm_count(vm, userptr_faults, 1);
	} else {
		err = vsvm_svm_fault(vm, addr, write, VSVM_PLACE_BY_ATTR, 0,
				     0, ULONG_MAX, &end);
	}
	mutex_unlock(&svm->lock);

	set_active_memcg(old_memcg);
	mem_cgroup_put(memcg);

	vsvm_count(vm, faults, 1);
	if (err)
		vsvm_count(vm, fault_errors, 1);
	trace_vsvm_fault(vm->vdev->index, vm->id, addr, write, err, start_ns);
	return err;
}

/**
 * vsvm_svm_set_attr() - set a VA attribute
 * @vm: the VM (the attribute goes to its GPU SVM)
 * @start: start, page aligned
 * @end: end (exclusive), page aligned
 * @attr: DRM_VSVM_ATTR_*
 * @value: its value
 *
 * The ranges overlapping the interval are removed; they fault again under
 * the new attributes.
 *
 * Return: 0, -EINVAL, -EOPNOTSUPP (device memory without VRAM), -ENOMEM.
 */
int vsvm_svm_set_attr(struct vsvm_vm *vm, unsigned long start,
		      unsigned long end, u32 attr, u64 value)
{
	struct vsvm_svm *svm = vm->svm;
	int err;

	switch (attr) {
	case DRM_VSVM_ATTR_READ_ONLY:
		if (value > 1)
			return -EINVAL;
		break;
	case DRM_VSVM_ATTR_PREFERRED_LOC:
		if (value != DRM_VSVM_LOC_SYSTEM && value != DRM_VSVM_LOC_DEVICE)
			return -EINVAL;
		if (value == DRM_VSVM_LOC_DEVICE && !vm->vdev->vram)
			return -EOPNOTSUPP;
		break;
	default:
		return -EINVAL;
	}

	mutex_lock(&svm->lock);
	err = vsvm_attr_set(svm, start, end, attr, value);
	if (!err)
		vsvm_svm_remove_ranges(svm, start, end);
	mutex_unlock(&svm->lock);
	return err;
}

/**
 * vsvm_svm_prefetch() - fault an interval into the GPU ahead of use
 * @vm: the VM
 * @start: start, page aligned
 * @end: end (exclusive), page aligned
 * @place: %VSVM_PLACE_DEVICE or %VSVM_PLACE_DEVICE_FROM_SYSTEM: migrate the
 *         ranges to the device's VRAM first; %VSVM_PLACE_SYSTEM: bring the
 *         device's VRAM pages of the interval back to system memory
 *         (whatever the preferred location)
 * @devices: more devices to map the interval for (bit i: device i), bound
 *           in every VM of the GPU SVM on them (N:1 layout; see &struct
 *           drm_vsvm_prefetch): one fault, drm_gpusvm_get_pages_multi(); the
 *           VM's own device is always one
 *
 * Binds writable where the memory allows it, read-only elsewhere. Userptr
 * bindings in the interval are skipped. Pages that cannot migrate stay in
 * system memory. A fatal signal stops it between ranges. A range that keeps
 * racing invalidations for HMM's timeout (-EBUSY: another process evicting
 * its pages, say) is tried again; %VSVM_PREFETCH_BUSY_TRIES such tries in all
 * bound the prefetch's extra wait, however many ranges.
 *
 * Return: 0, -ENOENT (no VM of the GPU SVM on a device of @devices), -EINTR
 * (fatal signal), or the first fault's error.
 */
int vsvm_svm_prefetch(struct vsvm_vm *vm, unsigned long start,
		      unsigned long end, enum vsvm_place place, u32 devices)
{
	struct vsvm_svm *svm = vm->svm;
	unsigned int busy = 0;
	unsigned long addr, next;
	u32 present = 0;
	struct vsvm_vm *v;
	int err = 0;

	mutex_lock(&svm->lock);
	list_for_each_entry(v, &svm->vms, svm_link)
		present |= BIT(v->vdev->index);
	if (devices & ~present) {
		err = -ENOENT;
		goto out_unlock;
	}
	vsvm_svm_gc(svm);
	for (addr = start; addr < end; addr = next) {
		struct vsvm_userptr *up = vsvm_userptr_at(vm, addr);

		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		if (up) {
			next = up->gpu_va + up->size;
			continue;
		}
		err = vsvm_svm_fault(vm, addr, true, place, devices, start,
				     end, &next);
		if (err == -EACCES)
			err = vsvm_svm_fault(vm, addr, false, place, devices,
					     start, end, &next);
		if (err == -EBUSY && ++busy < VSVM_PREFETCH_BUSY_TRIES) {
			/*
			 * The pages kept changing for HMM's timeout (1 s): an
			 * eviction of them by another process may take longer
			 * on a slow machine. The prefetch is the process's own
			 * time, and killable: it waits for the eviction. A GPU
			 * fault does not (its job fails with -EBUSY), the
			 * engine serving every VM meanwhile.
			 */
			next = addr;
			continue;
		}
		if (err)
			break;
	}
out_unlock:
	mutex_unlock(&svm->lock);
	return err;
}

/**
 * vsvm_svm_zap_vm() - drop a VM's GPU mappings of an interval
 * @vm: the VM
 * @start: start
 * @end: end (exclusive)
 *
 * Zaps and waits for the engine. Driver lock held.
 */
void vsvm_svm_zap_vm(struct vsvm_vm *vm, unsigned long start,
		     unsigned long end)
{
	lockdep_assert_held(&vm->svm->lock);

	if (vsvm_pt_zap(vm, start, end))
		vsvm_tlb_flush(vm->vdev);
}
