// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: userptr objects, pages objects of the GPU SVM without any range.
 */

#include <linux/slab.h>

#include "vsvm_drv.h"
#include "vsvm_trace.h"

/**
 * DOC: Userptr
 *
 * A userptr mirrors a user buffer [start, start + size) as one
 * &struct drm_gpusvm_pages with no &struct drm_gpusvm_range: the pages object
 * has its own lifetime, validated by an MMU interval notifier the driver
 * inserts itself, and shares only the GPU SVM's notifier lock. It is bound at
 * any GPU VA of its VM (not necessarily its CPU address); there it takes
 * precedence over the process's own memory. Its invalidate callback follows
 * the same rules as the GPU SVM's: under the notifier lock held for write, set
 * the sequence, zap the bound PTEs, wait for the engine, unmap the pages.
 */

static unsigned long vsvm_userptr_npages(struct vsvm_userptr *up)
{
	return up->size >> PAGE_SHIFT;
}

static bool vsvm_userptr_invalidate(struct mmu_interval_notifier *mni,
				    const struct mmu_notifier_range *mmu_range,
				    unsigned long cur_seq)
{
	struct vsvm_userptr *up = container_of(mni, struct vsvm_userptr,
					       notifier);
	struct vsvm_vm *vm = up->vm;
	struct drm_gpusvm *gpusvm = &vm->svm->gpusvm;
	struct drm_gpusvm_ctx ctx = { .in_notifier = true };

	if (!mmu_notifier_range_blockable(mmu_range))
		return false;

	down_write(&gpusvm->notifier_lock);
	mmu_interval_set_seq(mni, cur_seq);
	trace_vsvm_invalidate(vm->svm->id, mmu_range->start, mmu_range->end,
			      mmu_range->event, up->start, up->start + up->size);
	if (up->bound && vsvm_pt_zap(vm, up->gpu_va, up->gpu_va + up->size)) {
		vsvm_count(vm, invalidations, 1);
		vsvm_tlb_flush(vm->vdev);
	}
	drm_gpusvm_unmap_pages(gpusvm, &up->pages, vsvm_userptr_npages(up),
			       &ctx);
	up_write(&gpusvm->notifier_lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvm_userptr_notifier_ops = {
	.invalidate = vsvm_userptr_invalidate,
};

/**
 * vsvm_userptr_create() - create a userptr over the caller's memory
 * @vm: the VM (the caller's process), not being destroyed: the ioctl is in
 *      flight
 * @start: CPU address, page aligned
 * @size: size, page aligned
 * @read_only: the GPU may only read it
 * @handle: out: its handle
 *
 * Return: 0 or a negative errno.
 */
int vsvm_userptr_create(struct vsvm_vm *vm, unsigned long start,
			unsigned long size, bool read_only, u32 *handle)
{
	struct vsvm_userptr *up;
	int err;

	up = kzalloc(sizeof(*up), GFP_KERNEL_ACCOUNT);
	if (!up)
		return -ENOMEM;
	up->vm = vm;
	up->start = start;
	up->size = size;
	up->read_only = read_only;
	/* Before the notifier: no invalidation may see it uninitialised. */
	drm_gpusvm_init_pages(&up->pages, &vm->vdev->drm);

	err = mmu_interval_notifier_insert(&up->notifier, vm->svm->gpusvm.mm,
					   start, size,
					   &vsvm_userptr_notifier_ops);
	if (err)
		goto err_free;

	mutex_lock(&vm->svm->lock);
	err = xa_alloc(&vm->userptrs, &up->handle, up,
		       XA_LIMIT(1, VSVM_MAX_USERPTRS), GFP_KERNEL_ACCOUNT);
	if (err == -EBUSY)
		err = -ENOSPC;
	/* Published: a USERPTR_DESTROY may free it once the lock drops. */
	if (!err)
		*handle = up->handle;
	mutex_unlock(&vm->svm->lock);
	if (err)
		goto err_remove;
	return 0;

err_remove:
	mmu_interval_notifier_remove(&up->notifier);
err_free:
	kfree(up);
	return err;
}

/**
 * vsvm_userptr_at() - the userptr bound at a GPU VA
 * @vm: the VM
 * @va: the GPU VA
 *
 * Driver lock held (or the notifier lock, under which bindings are stable).
 *
 * Return: the userptr, or NULL.
 */
struct vsvm_userptr *vsvm_userptr_at(struct vsvm_vm *vm, unsigned long va)
{
	struct vsvm_userptr *up;
	unsigned long idx;

	xa_for_each(&vm->userptrs, idx, up)
		if (up->bound && va >= up->gpu_va && va - up->gpu_va < up->size)
			return up;
	return NULL;
}

/**
 * vsvm_userptr_overlaps() - whether a userptr is bound in a GPU VA interval
 * @vm: the VM
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * Driver lock or notifier lock held, as for vsvm_userptr_at().
 *
 * Return: true if a bound userptr overlaps [@start, @end).
 */
bool vsvm_userptr_overlaps(struct vsvm_vm *vm, unsigned long start,
			   unsigned long end)
{
	struct vsvm_userptr *up;
	unsigned long idx;

	xa_for_each(&vm->userptrs, idx, up)
		if (up->bound && up->gpu_va < end &&
		    start < up->gpu_va + up->size)
			return true;
	return false;
}

/**
 * vsvm_userptr_clip() - clip a GPU VA interval around @addr to the holes
 *                       between userptr bindings
 * @vm: the VM
 * @addr: an address no userptr is bound at
 * @start: in/out: start of the interval
 * @end: in/out: end of the interval
 */
void vsvm_userptr_clip(struct vsvm_vm *vm, unsigned long addr,
		       unsigned long *start, unsigned long *end)
{
	struct vsvm_userptr *up;
	unsigned long idx;

	lockdep_assert_held(&vm->svm->lock);

	xa_for_each(&vm->userptrs, idx, up) {
		if (!up->bound)
			continue;
		if (up->gpu_va + up->size <= addr)
			*start = max_t(unsigned long, *start, up->gpu_va + up->size);
		else if (up->gpu_va > addr)
			*end = min_t(unsigned long, *end, up->gpu_va);
	}
}

/**
 * vsvm_userptr_fault() - service a GPU fault on a bound userptr
 * @up: the userptr
 * @write: the access was a write
 *
 * Driver lock held.
 *
 * Return: 0, -EACCES (write to a read-only userptr or read-only memory),
 * -EFAULT (the memory is gone), -EBUSY, -ENOMEM.
 */
int vsvm_userptr_fault(struct vsvm_userptr *up, bool write)
{
	struct vsvm_vm *vm = up->vm;
	struct drm_gpusvm *gpusvm = &vm->svm->gpusvm;
	struct drm_gpusvm_ctx ctx = { .read_only = !write };
	unsigned long npages = vsvm_userptr_npages(up);
	unsigned long first = jiffies;
	unsigned int tries;
	int err;

	lockdep_assert_held(&vm->svm->lock);

	if (write && up->read_only)
		return -EACCES;
	err = vsvm_pt_prepare(vm, up->gpu_va, up->gpu_va + up->size);
	if (err)
		return err;
	/*
	 * A read-only mapping may be in use: zap its users, wait for the
	 * engine, unmap it, then ask for a writable one.
	 */
	if (write && vsvm_pages_read_only(&up->pages)) {
		struct drm_gpusvm_ctx unmap_ctx = {};

		vsvm_svm_zap_vm(vm, up->gpu_va, up->gpu_va + up->size);
		drm_gpusvm_unmap_pages(gpusvm, &up->pages, npages, &unmap_ctx);
	}

	for (tries = 0; vsvm_fault_retry(tries, first); tries++) {
		u64 flags;

		err = drm_gpusvm_get_pages(gpusvm, &up->pages, gpusvm->mm,
					   &up->notifier, up->start,
					   up->start + up->size, &ctx);
		if (err == -EAGAIN)
			continue;
		if (err)
			return err == -EPERM ? -EACCES : err;

		drm_gpusvm_notifier_lock(gpusvm);
		if (!drm_gpusvm_pages_valid(gpusvm, &up->pages) ||
		    (write && up->pages.flags.read_only)) {
			drm_gpusvm_notifier_unlock(gpusvm);
			continue;
		}
		flags = VSVM_PTE_VALID |
			(up->pages.flags.read_only ? 0 : VSVM_PTE_WRITE);
		vsvm_pt_bind(vm, up->gpu_va, up->pages.dma_addr, npages, flags,
			     false);
		drm_gpusvm_notifier_unlock(gpusvm);
		trace_vsvm_bind(vm->vdev->index, vm->id, up->gpu_va,
				up->gpu_va + up->size, flags & VSVM_PTE_WRITE,
				true);
		return 0;
	}
	return -EBUSY;
}

/**
 * vsvm_userptr_bind() - bind a userptr at a GPU VA
 * @vm: the VM
 * @handle: the userptr
 * @gpu_va: page-aligned GPU VA
 *
 * Return: 0, -ENOENT (no such userptr), -EINVAL (the binding would leave
 * the user address space), -EEXIST (it overlaps another binding).
 */
int vsvm_userptr_bind(struct vsvm_vm *vm, u32 handle, u64 gpu_va)
{
	struct drm_gpusvm *gpusvm = &vm->svm->gpusvm;
	struct vsvm_userptr *up, *other;
	unsigned long idx;
	int err = 0;

	mutex_lock(&vm->svm->lock);
	up = xa_load(&vm->userptrs, handle);
	if (!up) {
		err = -ENOENT;
		goto out_unlock;
	}
	if (gpu_va + up->size < gpu_va || gpu_va + up->size > TASK_SIZE_MAX) {
		err = -EINVAL;
		goto out_unlock;
	}
	xa_for_each(&vm->userptrs, idx, other) {
		if (other != up && other->bound &&
		    gpu_va < other->gpu_va + other->size &&
		    other->gpu_va < gpu_va + up->size) {
			err = -EEXIST;
			goto out_unlock;
		}
	}

	/* The old binding and the process mappings under the new one go. */
	if (up->bound) {
		vsvm_svm_zap_vm(vm, up->gpu_va, up->gpu_va + up->size);
		vsvm_pt_release_leaves(vm, up->gpu_va, up->gpu_va + up->size);
	}
	down_write(&gpusvm->notifier_lock);
	up->gpu_va = gpu_va;
	up->bound = true;
	up_write(&gpusvm->notifier_lock);
	vsvm_svm_zap_vm(vm, gpu_va, gpu_va + up->size);

out_unlock:
	mutex_unlock(&vm->svm->lock);
	return err;
}

static void vsvm_userptr_free(struct vsvm_userptr *up)
{
	struct vsvm_vm *vm = up->vm;

	lockdep_assert_held(&vm->svm->lock);

	if (up->bound) {
		down_write(&vm->svm->gpusvm.notifier_lock);
		up->bound = false;
		up_write(&vm->svm->gpusvm.notifier_lock);
		vsvm_svm_zap_vm(vm, up->gpu_va, up->gpu_va + up->size);
		vsvm_pt_release_leaves(vm, up->gpu_va, up->gpu_va + up->size);
	}
	/* Waits for a running invalidation; none can start afterwards. */
	mmu_interval_notifier_remove(&up->notifier);
	drm_gpusvm_free_pages(&vm->svm->gpusvm, &up->pages,
			      vsvm_userptr_npages(up));
	kfree(up);
}

/**
 * vsvm_userptr_destroy() - unbind and destroy a userptr
 * @vm: the VM
 * @handle: the userptr
 *
 * Return: 0 or -ENOENT.
 */
int vsvm_userptr_destroy(struct vsvm_vm *vm, u32 handle)
{
	struct vsvm_userptr *up;

	mutex_lock(&vm->svm->lock);
	up = xa_erase(&vm->userptrs, handle);
	if (up)
		vsvm_userptr_free(up);
	mutex_unlock(&vm->svm->lock);
	return up ? 0 : -ENOENT;
}

/**
 * vsvm_userptr_destroy_all() - destroy every userptr of a VM
 * @vm: the VM being destroyed, no longer used by the engine or an ioctl
 *      adding state (no userptr can come afterwards)
 */
void vsvm_userptr_destroy_all(struct vsvm_vm *vm)
{
	struct vsvm_userptr *up;
	unsigned long idx;

	mutex_lock(&vm->svm->lock);
	xa_for_each(&vm->userptrs, idx, up) {
		xa_erase(&vm->userptrs, idx);
		vsvm_userptr_free(up);
	}
	mutex_unlock(&vm->svm->lock);
	xa_destroy(&vm->userptrs);
}
