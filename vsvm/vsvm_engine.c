// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the software engine and its GPU page table.
 */

#include <linux/dma-direct.h>
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_drv.h"

/**
 * DOC: Engine
 *
 * Each device has one engine, a kernel thread that runs submissions in
 * order. A job is executed page by page like a DMA engine would: for each
 * page the engine takes its "TLB" (&vsvm_device.tlb_sem for read), reads the
 * PTEs of the source and destination pages from the VM's page table, and
 * accesses the memory through the device addresses found there: the DMA
 * addresses drm_gpusvm mapped, translated back with dma_to_phys() (vsvm
 * devices sit behind no IOMMU), or VRAM addresses (see DOC: Device memory).
 * A missing PTE, or a read-only one for a write, is a GPU page fault: the
 * engine drops the TLB, queues the fault to the device's fault queue
 * (&vsvm_device.fault_wq), waits for it to be serviced and tries the access
 * again. A fault that cannot be serviced
 * fails the job with the faulting address; one that keeps racing
 * invalidations fails it with -EBUSY after %VSVM_FAULT_TRIES tries.
 *
 * Leaves are allocated when a range or userptr is bound and freed, once
 * empty, when it goes (vsvm_pt_release_leaves()): the page table follows
 * what is mapped, not what was ever mapped.
 *
 * The page table is written without the TLB: binds fill PTEs under the GPU
 * SVM's notifier lock (read), invalidations zap them under the same lock
 * (write) and then take the TLB for write once. When that returns, the engine
 * holds no translation read before the zap, so the pages may be DMA-unmapped
 * and freed: this is the TLB-invalidation wait a real GPU driver does.
 */

/**
 * vsvm_pt_lookup() - read the PTE of a GPU VA
 * @vm: the VM
 * @va: the address
 *
 * Return: the PTE, 0 if there is none.
 */
u64 vsvm_pt_lookup(struct vsvm_vm *vm, unsigned long va)
{
	u64 *leaf = xa_load(&vm->pt, va >> VSVM_PT_LEAF_SHIFT);

	if (!leaf)
		return 0;
	return READ_ONCE(leaf[(va >> PAGE_SHIFT) & (VSVM_PT_LEAF_ENTRIES - 1)]);
}

/**
 * vsvm_pt_prepare() - allocate the page-table leaves of an interval
 * @vm: the VM
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * Binds run under the notifier lock, where nothing may be allocated (the
 * lock is taken in reclaim): the fault handler prepares the leaves first.
 *
 * Return: 0 or -ENOMEM.
 */
int vsvm_pt_prepare(struct vsvm_vm *vm, unsigned long start,
		    unsigned long end)
{
	unsigned long idx;

	for (idx = start >> VSVM_PT_LEAF_SHIFT;
	     idx <= (end - 1) >> VSVM_PT_LEAF_SHIFT; idx++) {
		u64 *leaf;
		int err;

		if (xa_load(&vm->pt, idx))
			continue;
		leaf = kcalloc(VSVM_PT_LEAF_ENTRIES, sizeof(*leaf),
			       GFP_KERNEL_ACCOUNT);
		if (!leaf)
			return -ENOMEM;
		err = xa_insert(&vm->pt, idx, leaf, GFP_KERNEL_ACCOUNT);
		if (err) {
			kfree(leaf);
			if (err != -EBUSY)
				return err;
			continue;
		}
		vsvm_count(vm, pt_leaves, 1);
	}
	return 0;
}

/**
 * vsvm_pt_release_leaves() - free the empty page-table leaves of an interval
 * @vm: the VM
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * A leaf overlapping [@start, @end) with no PTE left is taken out of the page
 * table under the notifier lock held for write (no invalidation zaps it
 * meanwhile), then freed after a TLB flush, since the engine may have looked
 * it up just before. The driver lock is held: binds, which prepare and fill
 * leaves under it, cannot race. Called when ranges and userptr bindings go,
 * so the page table shrinks with them.
 */
void vsvm_pt_release_leaves(struct vsvm_vm *vm, unsigned long start,
			    unsigned long end)
{
	struct drm_gpusvm *gpusvm = &vm->svm->gpusvm;
	unsigned long idx;

	lockdep_assert_held(&vm->svm->lock);

	for (idx = start >> VSVM_PT_LEAF_SHIFT;
	     idx <= (end - 1) >> VSVM_PT_LEAF_SHIFT; idx++) {
		u64 *leaf;

		down_write(&gpusvm->notifier_lock);
		leaf = xa_load(&vm->pt, idx);
		if (leaf && !memchr_inv(leaf, 0, VSVM_PT_LEAF_ENTRIES * sizeof(*leaf)))
			xa_erase(&vm->pt, idx);
		else
			leaf = NULL;
		up_write(&gpusvm->notifier_lock);
		if (!leaf)
			continue;
		vsvm_tlb_flush(vm->vdev);
		kfree(leaf);
		vsvm_count(vm, pt_leaves, -1);
	}
}

/**
 * vsvm_pt_set() - write a PTE whose leaf was prepared
 * @vm: the VM
 * @va: the GPU VA
 * @pte: the new PTE
 */
void vsvm_pt_set(struct vsvm_vm *vm, unsigned long va, u64 pte)
{
	u64 *leaf = xa_load(&vm->pt, va >> VSVM_PT_LEAF_SHIFT);
	u64 *entry;

	if (WARN_ON_ONCE(!leaf))
		return;
	entry = &leaf[(va >> PAGE_SHIFT) & (VSVM_PT_LEAF_ENTRIES - 1)];
	if (!(*entry & VSVM_PTE_VALID))
		vsvm_count(vm, pages_mapped, 1);
	WRITE_ONCE(*entry, pte);
}

/**
 * vsvm_pt_zap() - clear the PTEs of an interval
 * @vm: the VM
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 *
 * The engine may still use the old translations until vsvm_tlb_flush().
 *
 * Return: the number of valid PTEs cleared.
 */
unsigned long vsvm_pt_zap(struct vsvm_vm *vm, unsigned long start,
			  unsigned long end)
{
	unsigned long va, zapped = 0;

	for (va = start; va < end; ) {
		u64 *leaf = xa_load(&vm->pt, va >> VSVM_PT_LEAF_SHIFT);
		unsigned long leaf_end = min(end, ALIGN(va + 1, 1UL << VSVM_PT_LEAF_SHIFT));

		if (!leaf) {
			va = leaf_end;
			continue;
		}
		for (; va < leaf_end; va += PAGE_SIZE) {
			u64 *entry = &leaf[(va >> PAGE_SHIFT) &
					   (VSVM_PT_LEAF_ENTRIES - 1)];

			if (*entry & VSVM_PTE_VALID) {
				WRITE_ONCE(*entry, 0);
				zapped++;
			}
		}
	}
	if (zapped)
		vsvm_count(vm, pages_mapped, -(s64)zapped);
	return zapped;
}

/**
 * vsvm_pt_fini() - free the page table of a VM the engine no longer uses
 * @vm: the VM
 */
void vsvm_pt_fini(struct vsvm_vm *vm)
{
	unsigned long idx, i, valid = 0;
	u64 *leaf;

	xa_for_each(&vm->pt, idx, leaf) {
		for (i = 0; i < VSVM_PT_LEAF_ENTRIES; i++)
			valid += !!(leaf[i] & VSVM_PTE_VALID);
		kfree(leaf);
		vsvm_count(vm, pt_leaves, -1);
	}
	xa_destroy(&vm->pt);
	vsvm_count(vm, pages_mapped, -(s64)valid);
}

/**
 * vsvm_tlb_flush() - wait until the engine uses no zapped translation
 * @vdev: the device
 */
void vsvm_tlb_flush(struct vsvm_device *vdev)
{
	down_write(&vdev->tlb_sem);
	up_write(&vdev->tlb_sem);
}

/**
 * struct vsvm_fault - a GPU page fault, queued to the fault queue by the engine
 * @work: the fault queue's work item (on the engine's stack)
 * @vm: the VM that faulted
 * @addr: the faulting GPU VA
 * @write: the access was a write
 * @ret: the result of vsvm_handle_fault()
 */
struct vsvm_fault {
	struct work_struct work;
	struct vsvm_vm *vm;
	unsigned long addr;
	bool write;
	int ret;
};

static void vsvm_fault_work(struct work_struct *work)
{
	struct vsvm_fault *fault = container_of(work, struct vsvm_fault, work);

	fault->ret = vsvm_handle_fault(fault->vm, fault->addr, fault->write);
}

/* Raise a GPU page fault and wait until it is serviced. */
static int vsvm_engine_fault(struct vsvm_vm *vm, unsigned long addr,
			     bool write)
{
	struct vsvm_fault fault = { .vm = vm, .addr = addr, .write = write };

	INIT_WORK_ONSTACK(&fault.work, vsvm_fault_work);
	queue_work(vm->vdev->fault_wq, &fault.work);
	flush_work(&fault.work);
	destroy_work_on_stack(&fault.work);
	return fault.ret;
}

static bool vsvm_job_has_dst(u32 op)
{
	return op != DRM_VSVM_OP_CHECKSUM;
}

static bool vsvm_job_has_src(u32 op)
{
	return op == DRM_VSVM_OP_COPY || op == DRM_VSVM_OP_CHECKSUM;
}

/* Map the page a PTE points to; kunmap_local() when done. */
static void *vsvm_engine_kmap(struct vsvm_device *vdev, u64 pte,
			      unsigned long va)
{
	phys_addr_t phys;

	if (pte & VSVM_PTE_DEVMEM)
		return vsvm_vram_kmap(vdev, pte & PAGE_MASK) + offset_in_page(va);
	phys = dma_to_phys(vdev->drm.dev, pte & PAGE_MASK);
	return kmap_local_page(pfn_to_page(PHYS_PFN(phys))) + offset_in_page(va);
}

/*
 * One access of a job: @len bytes at @dst and/or @src, within one page each.
 * Faults and retries as needed.
 */
static int vsvm_engine_access(struct vsvm_vm *vm, struct drm_vsvm_job *job,
			      unsigned long dst, unsigned long src, size_t len)
{
	struct vsvm_device *vdev = vm->vdev;
	bool has_dst = vsvm_job_has_dst(job->op);
	bool has_src = vsvm_job_has_src(job->op);
	unsigned int tries = 0;
	unsigned long fault_va;
	bool write;
	int err;

	for (;;) {
		u64 pte_dst = 0, pte_src = 0;
		void *d = NULL, *s = NULL;
		size_t i;

		if (READ_ONCE(vm->closing))
			return -ECANCELED;

		down_read(&vdev->tlb_sem);
		if (has_dst) {
			pte_dst = vsvm_pt_lookup(vm, dst);
			if ((pte_dst & (VSVM_PTE_VALID | VSVM_PTE_WRITE)) !=
			    (VSVM_PTE_VALID | VSVM_PTE_WRITE)) {
				fault_va = dst;
				write = true;
				goto fault;
			}
		}
		if (has_src) {
			pte_src = vsvm_pt_lookup(vm, src);
			if (!(pte_src & VSVM_PTE_VALID)) {
				fault_va = src;
				write = false;
				goto fault;
			}
		}

		if (has_dst)
			d = vsvm_engine_kmap(vdev, pte_dst, dst);
		if (has_src)
			s = vsvm_engine_kmap(vdev, pte_src, src);
		switch (job->op) {
		case DRM_VSVM_OP_COPY:
			memcpy(d, s, len);
			break;
		case DRM_VSVM_OP_FILL:
			memset(d, job->value, len);
			break;
		case DRM_VSVM_OP_CHECKSUM:
			for (i = 0; i < len; i++) {
				job->result ^= ((u8 *)s)[i];
				job->result *= 0x100000001b3ULL;
			}
			break;
		case DRM_VSVM_OP_ATOMIC_ADD:
			for (i = 0; i < len; i += sizeof(u64))
				atomic64_add(job->value, (atomic64_t *)(d + i));
			break;
		}
		if (s)
			kunmap_local(s);
		if (d)
			kunmap_local(d);
		up_read(&vdev->tlb_sem);
		vsvm_count(vm, bytes_moved, (has_dst + has_src) * len);
		return 0;

fault:
		up_read(&vdev->tlb_sem);
		if (++tries > VSVM_FAULT_TRIES) {
			err = -EBUSY;
			break;
		}
		err = vsvm_engine_fault(vm, fault_va, write);
		if (err)
			break;
	}
	job->fault_addr = fault_va;
	return err;
}

/* Run one job, page by page, in address order. */
static int vsvm_engine_run_job(struct vsvm_vm *vm, struct drm_vsvm_job *job)
{
	u64 done;

	if (job->op == DRM_VSVM_OP_CHECKSUM)
		job->result = 0xcbf29ce484222325ULL;	/* FNV-1a 64 basis */

	for (done = 0; done < job->size; ) {
		unsigned long dst = job->dst + done, src = job->src + done;
		size_t len = job->size - done;
		int err;

		if (vsvm_job_has_dst(job->op))
			len = min_t(size_t, len, PAGE_SIZE - offset_in_page(dst));
		if (vsvm_job_has_src(job->op))
			len = min_t(size_t, len, PAGE_SIZE - offset_in_page(src));
		err = vsvm_engine_access(vm, job, dst, src, len);
		if (err)
			return err;
		done += len;
		cond_resched();
	}
	return 0;
}

static void vsvm_engine_run(struct vsvm_submit *submit)
{
	struct vsvm_vm *vm = submit->vm;
	int err = 0;
	unsigned int i;

	for (i = 0; i < submit->num_jobs; i++) {
		struct drm_vsvm_job *job = &submit->jobs[i];

		if (err || READ_ONCE(vm->closing))
			job->status = -ECANCELED;
		else
			job->status = vsvm_engine_run_job(vm, job);
		err = job->status;
		vsvm_count(vm, jobs, 1);
	}
}

static struct vsvm_submit *vsvm_engine_next(struct vsvm_device *vdev)
{
	struct vsvm_submit *submit;

	spin_lock(&vdev->queue_lock);
	submit = list_first_entry_or_null(&vdev->queue, struct vsvm_submit,
					  link);
	if (submit)
		list_del_init(&submit->link);
	spin_unlock(&vdev->queue_lock);
	return submit;
}

static int vsvm_engine_thread(void *data)
{
	struct vsvm_device *vdev = data;

	while (!kthread_should_stop()) {
		struct vsvm_submit *submit;
		struct vsvm_vm *vm;

		wait_event_interruptible(vdev->queue_wq,
					 !list_empty(&vdev->queue) ||
					 kthread_should_stop());
		submit = vsvm_engine_next(vdev);
		if (!submit)
			continue;
		vm = submit->vm;
		vsvm_engine_run(submit);
		complete_all(&submit->done);
		if (atomic_dec_and_test(&vm->inflight))
			wake_up_all(&vm->idle_wq);
		vsvm_submit_put(submit);
	}
	return 0;
}

/**
 * struct vsvm_copy - a function to run on the copy engine
 * @link: entry in &vsvm_device.copy_queue
 * @done: completed when @fn has run
 * @fn: the copy
 * @arg: its argument
 */
struct vsvm_copy {
	struct list_head link;
	struct completion done;
	void (*fn)(void *arg);
	void *arg;
};

static int vsvm_copy_engine_thread(void *data)
{
	struct vsvm_device *vdev = data;

	while (!kthread_should_stop()) {
		struct vsvm_copy *copy;

		wait_event_interruptible(vdev->copy_wq,
					 !list_empty(&vdev->copy_queue) ||
					 kthread_should_stop());
		spin_lock(&vdev->queue_lock);
		copy = list_first_entry_or_null(&vdev->copy_queue,
						struct vsvm_copy, link);
		if (copy)
			list_del(&copy->link);
		spin_unlock(&vdev->queue_lock);
		if (!copy)
			continue;
		copy->fn(copy->arg);
		complete(&copy->done);
	}
	return 0;
}

/**
 * vsvm_copy_engine_run() - run a copy on the device's copy engine and wait
 * @vdev: the device
 * @fn: the copy
 * @arg: its argument
 *
 * The copy engine is separate from the job engine: a job engine waiting for
 * a GPU fault can need a copy (migration) to finish first.
 */
void vsvm_copy_engine_run(struct vsvm_device *vdev, void (*fn)(void *arg),
			  void *arg)
{
	struct vsvm_copy copy = { .fn = fn, .arg = arg };

	init_completion(&copy.done);
	spin_lock(&vdev->queue_lock);
	list_add_tail(&copy.link, &vdev->copy_queue);
	spin_unlock(&vdev->queue_lock);
	wake_up(&vdev->copy_wq);
	wait_for_completion(&copy.done);
}

/**
 * vsvm_engine_queue() - queue a submission to its device's engine
 * @submit: the submission; the engine takes over one reference
 */
void vsvm_engine_queue(struct vsvm_submit *submit)
{
	struct vsvm_device *vdev = submit->vm->vdev;

	atomic_inc(&submit->vm->inflight);
	spin_lock(&vdev->queue_lock);
	list_add_tail(&submit->link, &vdev->queue);
	spin_unlock(&vdev->queue_lock);
	wake_up(&vdev->queue_wq);
}

/**
 * vsvm_engine_start() - start a device's engines
 * @vdev: the device
 *
 * Return: 0 or a negative errno.
 */
int vsvm_engine_start(struct vsvm_device *vdev)
{
	int err;

	spin_lock_init(&vdev->queue_lock);
	INIT_LIST_HEAD(&vdev->queue);
	init_waitqueue_head(&vdev->queue_wq);
	init_rwsem(&vdev->tlb_sem);
	INIT_LIST_HEAD(&vdev->copy_queue);
	init_waitqueue_head(&vdev->copy_wq);

	vdev->fault_wq = alloc_ordered_workqueue("vsvm%u-fault", 0, vdev->index);
	if (!vdev->fault_wq)
		return -ENOMEM;
	vdev->copy_engine = kthread_run(vsvm_copy_engine_thread, vdev,
					"vsvm%u-copy", vdev->index);
	if (IS_ERR(vdev->copy_engine)) {
		err = PTR_ERR(vdev->copy_engine);
		goto err_wq;
	}
	vdev->engine = kthread_run(vsvm_engine_thread, vdev, "vsvm%u-engine",
				   vdev->index);
	if (IS_ERR(vdev->engine)) {
		err = PTR_ERR(vdev->engine);
		goto err_copy;
	}
	return 0;

err_copy:
	kthread_stop(vdev->copy_engine);
err_wq:
	destroy_workqueue(vdev->fault_wq);
	return err;
}

/**
 * vsvm_engine_stop() - stop a device's engines (no VM may be left)
 * @vdev: the device
 */
void vsvm_engine_stop(struct vsvm_device *vdev)
{
	kthread_stop(vdev->engine);
	WARN_ON(!list_empty(&vdev->queue));
	kthread_stop(vdev->copy_engine);
	destroy_workqueue(vdev->fault_wq);
}
