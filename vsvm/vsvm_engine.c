// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: the software engine and its GPU page table.
 */

#include <linux/completion.h>
#include <linux/dma-direct.h>
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <drm/drm_print.h>

#include "vsvm_drv.h"

/**
 * DOC: Engine
 *
 * Submissions (one DRM_IOCTL_VSVM_EXEC each) are jobs of the GPU scheduler
 * (drm_sched): each device has one &drm_gpu_scheduler, the job engine, and
 * each VM one &drm_sched_entity, so the scheduler picks the VMs' submissions
 * in turn, in order within a VM, once their dependencies (the syncobjs an
 * exec waits for) signalled. The scheduler's finished fence of a submission
 * is its completion: what DRM_IOCTL_VSVM_WAIT, a synchronous exec and the
 * syncobjs an exec signals wait for. It signals with the status of the
 * submission's first failed job as its error, if any.
 *
 * run_job() hands a submission to the engine, a kernel thread standing for
 * the hardware, and returns the engine fence (one fence context per VM)
 * that the engine signals when it is done with the submission. The engine
 * runs the submissions it holds round-robin in time slices of
 * %VSVM_SLICE_NS: a job stops between two pages when its slice is over and
 * resumes there at its next turn, so a VM's huge job does not hold up
 * another VM's small one. Submissions of one VM run one after the other:
 * the scheduler hands a VM's submission to the engine only after the engine
 * fence of the VM's previous one signalled (the dependency() callback), so
 * the engine holds at most one submission per VM and an engine fence
 * context signals in order.
 *
 * A submission still on the engine ``job_timeout_ms`` (module parameter,
 * writable at run time, 0: no timeout) after the scheduler handed it over
 * times out: timedout_job() cancels it, its running job ends with -ETIME,
 * the jobs after it with -ECANCELED, and its fences signal with -ETIME. The
 * engine and the other submissions go on.
 *
 * Destroying a VM (VM_DESTROY, closing the file, process exit) sets
 * &vsvm_vm.closing: the engine stops the VM's running submission at its
 * next page (-ECANCELED), and the VM's submissions still queued complete
 * without running, once the syncobj fences they wait for signalled:
 * run_job() completes them at once. A work item waits for the VM's entity
 * to drain and finishes it; nothing else waits: VM_DESTROY returns at once.
 *
 * Submissions of other VMs waiting for one (through a syncobj) wait for its
 * completion: the finished fences are marked
 * %DRM_SCHED_FENCE_DONT_PIPELINE, since the engine does not run them in the
 * order the scheduler hands them over.
 *
 * The engine runs a job page by page like a DMA engine would: for each
 * page the engine takes its "TLB" (&vsvm_device.tlb_sem for read), reads the
 * PTEs of the source and destination pages from the VM's page table, and
 * accesses the memory through the device addresses found there: the DMA
 * addresses drm_gpusvm mapped, translated back with dma_to_phys() (vsvm
 * devices sit behind no IOMMU), or VRAM addresses (see DOC: Device memory).
 * A missing PTE, or a read-only one for a write, is a GPU page fault: the
 * engine drops the TLB, queues the fault to the device's fault queue
 * (&vsvm_device.fault_wq), waits for it to be serviced and tries the access
 * again. A fault that cannot be serviced
 * fails the job with the faulting address. One that keeps racing
 * invalidations (see vsvm_fault_retry()) stalls the submission: the engine
 * serves the others and tries again at its next turn, and only after
 * %VSVM_JOB_STORM_MS of that the job fails with -EBUSY.
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
 * vsvm_pt_bind() - write the PTEs of a pages object's mapping
 * @vm: the VM
 * @va: GPU VA of the first page
 * @addr: the pages object's DMA addresses (&drm_gpusvm_pages.dma_addr): one
 *        per chunk of PAGE_SIZE << order bytes
 * @npages: number of pages
 * @flags: %VSVM_PTE_VALID and maybe %VSVM_PTE_WRITE; device-memory chunks
 *         get %VSVM_PTE_DEVMEM too
 * @skip_userptrs: leave alone the pages a userptr is bound at (a range's
 *                 bind: the userptr takes precedence)
 *
 * The leaves were prepared (vsvm_pt_prepare()). One leaf lookup per leaf and
 * one count of the new PTEs per call: a fault binds up to 512 pages.
 * Notifier lock held.
 */
void vsvm_pt_bind(struct vsvm_vm *vm, unsigned long va,
		  const struct drm_pagemap_addr *addr, unsigned long npages,
		  u64 flags, bool skip_userptrs)
{
	unsigned long i, k, idx = ULONG_MAX, mapped = 0;
	u64 *leaf = NULL;

	lockdep_assert_held(&vm->svm->gpusvm.notifier_lock);

	skip_userptrs = skip_userptrs &&
			vsvm_userptr_overlaps(vm, va, va + (npages << PAGE_SHIFT));
	for (i = 0; i < npages; addr++) {
		u64 pte = addr->addr | flags;

		if (addr->proto == DRM_INTERCONNECT_DRIVER) {
			pte |= VSVM_PTE_DEVMEM;
			vsvm_vram_touch(addr->addr);
		}
		for (k = 0; k < (1UL << addr->order) && i < npages;
		     k++, i++, va += PAGE_SIZE, pte += PAGE_SIZE) {
			u64 *entry;

			if (skip_userptrs && vsvm_userptr_at(vm, va))
				continue;
			if (va >> VSVM_PT_LEAF_SHIFT != idx) {
				idx = va >> VSVM_PT_LEAF_SHIFT;
				leaf = xa_load(&vm->pt, idx);
			}
			if (WARN_ON_ONCE(!leaf))
				continue;
			entry = &leaf[(va >> PAGE_SHIFT) &
				      (VSVM_PT_LEAF_ENTRIES - 1)];
			mapped += !(*entry & VSVM_PTE_VALID);
			WRITE_ONCE(*entry, pte);
		}
	}
	if (mapped)
		vsvm_count(vm, pages_mapped, mapped);
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

/**
 * vsvm_engine_kmap() - map the page a PTE points to, as the engine does
 * @vdev: the device
 * @pte: a valid PTE of one of the device's VMs
 * @va: the GPU VA it translates (its offset in the page is kept)
 *
 * The caller holds the device's TLB (&vsvm_device.tlb_sem for read) from
 * reading @pte until kunmap_local().
 *
 * Return: the kernel address of @va's byte.
 */
void *vsvm_engine_kmap(struct vsvm_device *vdev, u64 pte, unsigned long va)
{
	phys_addr_t phys;

	if (pte & VSVM_PTE_DEVMEM)
		return vsvm_vram_kmap(pte & PAGE_MASK) + offset_in_page(va);
	phys = dma_to_phys(vdev->drm.dev, pte & PAGE_MASK);
	return kmap_local_page(pfn_to_page(PHYS_PFN(phys))) + offset_in_page(va);
}

static inline struct vsvm_submit *to_vsvm_submit(struct drm_sched_job *job)
{
	return container_of(job, struct vsvm_submit, base);
}

/* Why the engine must stop @submit now, or 0. */
static int vsvm_submit_cancelled(struct vsvm_submit *submit)
{
	int cancel = READ_ONCE(submit->cancel);

	if (cancel)
		return cancel;
	return READ_ONCE(submit->vm->closing) ? -ECANCELED : 0;
}

/*
 * The access of @submit begun at @first keeps racing invalidations: a fork()
 * storm in the process's other threads, say, write-protecting everything
 * again and again. A GPU stalls such a context while the others run: give
 * the engine to the other submissions and try again at the next turn
 * (-EAGAIN), until the storm has lasted %VSVM_JOB_STORM_MS (-EBUSY: the job
 * fails). The job timeout bounds it too.
 */
static int vsvm_engine_storm(struct vsvm_submit *submit, unsigned long first)
{
	if (!submit->storm_since)
		submit->storm_since = first ?: 1;
	if (time_after(jiffies, submit->storm_since +
				msecs_to_jiffies(VSVM_JOB_STORM_MS))) {
		submit->storm_since = 0;
		return -EBUSY;
	}
	return -EAGAIN;
}

/*
 * One access of a job: @len bytes at @dst and/or @src, within one page each.
 * Faults and retries as needed; fails with the cancellation's status first
 * if the submission was cancelled. -EAGAIN: the access keeps racing
 * invalidations, resume it at the submission's next turn; it does so at
 * once when a page it just faulted in faults again past the slice's
 * @deadline, so that a storm costs the other submissions one fault a turn.
 */
static int vsvm_engine_access(struct vsvm_submit *submit,
			      struct drm_vsvm_job *job, unsigned long dst,
			      unsigned long src, size_t len, ktime_t deadline)
{
	struct vsvm_vm *vm = submit->vm;
	struct vsvm_device *vdev = vm->vdev;
	bool has_dst = vsvm_job_has_dst(job->op);
	bool has_src = vsvm_job_has_src(job->op);
	unsigned long fault_va, serviced_va = 0, first = jiffies;
	unsigned int tries = 0;
	bool write;
	int err;

	for (;;) {
		u64 pte_dst = 0, pte_src = 0;
		void *d = NULL, *s = NULL;
		size_t i;

		err = vsvm_submit_cancelled(submit);
		if (err)
			return err;

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
		submit->storm_since = 0;
		return 0;

fault:
		up_read(&vdev->tlb_sem);
		if (tries && fault_va == serviced_va &&
		    ktime_after(ktime_get(), deadline))
			err = -EBUSY;	/* zapped again: the others' turn */
		else if (!vsvm_fault_retry(tries++, first))
			err = -EBUSY;
		else
			err = vsvm_engine_fault(vm, fault_va, write);
		serviced_va = fault_va;
		if (err == -EBUSY)
			err = vsvm_engine_storm(submit, first);
		if (err)
			break;
	}
	/* Where the job failed; a job resumed later has not. */
	if (err != -EAGAIN)
		job->fault_addr = fault_va;
	return err;
}

/*
 * Run one job from where it stopped, page by page in address order, until
 * it is done or @deadline passed (-EAGAIN: resume it at its next turn).
 */
static int vsvm_engine_run_job(struct vsvm_submit *submit,
			       struct drm_vsvm_job *job, ktime_t deadline)
{
	if (!submit->cur_done && job->op == DRM_VSVM_OP_CHECKSUM)
		job->result = 0xcbf29ce484222325ULL;	/* FNV-1a 64 basis */

	while (submit->cur_done < job->size) {
		unsigned long dst = job->dst + submit->cur_done;
		unsigned long src = job->src + submit->cur_done;
		size_t len = job->size - submit->cur_done;
		int err;

		if (ktime_after(ktime_get(), deadline))
			return -EAGAIN;
		if (vsvm_job_has_dst(job->op))
			len = min_t(size_t, len, PAGE_SIZE - offset_in_page(dst));
		if (vsvm_job_has_src(job->op))
			len = min_t(size_t, len, PAGE_SIZE - offset_in_page(src));
		err = vsvm_engine_access(submit, job, dst, src, len, deadline);
		if (err)
			return err;
		submit->cur_done += len;
		cond_resched();
	}
	return 0;
}

/*
 * Run a submission for one time slice. Return: true when it is done (its
 * jobs all ran, one failed, or it was cancelled).
 */
static bool vsvm_engine_run_slice(struct vsvm_submit *submit)
{
	ktime_t deadline = ktime_add_ns(ktime_get(), VSVM_SLICE_NS);

	while (submit->cur < submit->num_jobs) {
		struct drm_vsvm_job *job = &submit->jobs[submit->cur];
		int err = vsvm_engine_run_job(submit, job, deadline);

		if (err == -EAGAIN)
			return false;
		/* The jobs after a failed one keep their -ECANCELED. */
		job->status = err;
		submit->cur++;
		submit->cur_done = 0;
		submit->storm_since = 0;
		if (err) {
			submit->error = err;
			break;
		}
	}
	return true;
}

/* The engine is done with @submit: signal its engine fence. */
static void vsvm_engine_complete(struct vsvm_submit *submit)
{
	struct vsvm_vm *vm = submit->vm;

	vsvm_count(vm, jobs, submit->num_jobs);
	if (submit->error) {
		/* The scheduler does not pass the engine fence's error on. */
		dma_fence_set_error(&submit->base.s_fence->finished,
				    submit->error);
		dma_fence_set_error(submit->hw_fence, submit->error);
	}
	dma_fence_signal(submit->hw_fence);
}

static int vsvm_engine_thread(void *data)
{
	struct vsvm_device *vdev = data;

	while (!kthread_should_stop()) {
		struct vsvm_submit *submit;
		bool done;

		wait_event_interruptible(vdev->hw_wq,
					 !list_empty_careful(&vdev->hw_active) ||
					 kthread_should_stop());
		/* Only this thread takes submissions off the list. */
		spin_lock(&vdev->hw_lock);
		submit = list_first_entry_or_null(&vdev->hw_active,
						  struct vsvm_submit, hw_link);
		spin_unlock(&vdev->hw_lock);
		if (!submit)
			continue;

		done = vsvm_engine_run_slice(submit);
		spin_lock(&vdev->hw_lock);
		if (done)
			list_del_init(&submit->hw_link);
		else
			list_move_tail(&submit->hw_link, &vdev->hw_active);
		spin_unlock(&vdev->hw_lock);
		if (done) {
			vsvm_engine_complete(submit);
			vsvm_submit_put(submit);
		}
	}
	return 0;
}

static const char *vsvm_hw_fence_driver_name(struct dma_fence *fence)
{
	return "vsvm";
}

static const char *vsvm_hw_fence_timeline_name(struct dma_fence *fence)
{
	return "vsvm-engine";
}

static const struct dma_fence_ops vsvm_hw_fence_ops = {
	.get_driver_name = vsvm_hw_fence_driver_name,
	.get_timeline_name = vsvm_hw_fence_timeline_name,
};

/*
 * Hold a VM's submission back until the engine is done with the VM's
 * previous one: the engine holds one submission per VM at most.
 */
static struct dma_fence *vsvm_sched_dependency(struct drm_sched_job *job,
					       struct drm_sched_entity *entity)
{
	struct vsvm_submit *submit = to_vsvm_submit(job);
	struct vsvm_vm *vm = submit->vm;

	if (submit->waited_prev || READ_ONCE(vm->closing))
		return NULL;
	submit->waited_prev = true;
	if (!vm->last_hw_fence || dma_fence_is_signaled(vm->last_hw_fence))
		return NULL;
	return dma_fence_get(vm->last_hw_fence);
}

/* Hand a submission to the engine; return its engine fence. */
static struct dma_fence *vsvm_sched_run_job(struct drm_sched_job *job)
{
	struct vsvm_submit *submit = to_vsvm_submit(job);
	struct vsvm_vm *vm = submit->vm;
	struct vsvm_device *vdev = vm->vdev;

	/* Resubmitted after a timeout: the engine still has it. */
	if (submit->on_hw)
		return dma_fence_get(submit->hw_fence);
	if (READ_ONCE(vm->closing)) {
		/* Its jobs keep their -ECANCELED. */
		vsvm_count(vm, jobs, submit->num_jobs);
		return ERR_PTR(-ECANCELED);
	}

	dma_fence_init(submit->hw_fence, &vsvm_hw_fence_ops, &vdev->fence_lock,
		       vm->fence_context, ++vm->fence_seqno);
	submit->on_hw = true;
	dma_fence_put(vm->last_hw_fence);
	vm->last_hw_fence = dma_fence_get(submit->hw_fence);

	vsvm_submit_get(submit);	/* the engine's */
	spin_lock(&vdev->hw_lock);
	list_add_tail(&submit->hw_link, &vdev->hw_active);
	spin_unlock(&vdev->hw_lock);
	wake_up(&vdev->hw_wq);
	return dma_fence_get(submit->hw_fence);
}

/*
 * A submission was on the engine longer than job_timeout_ms: cancel it. The
 * scheduler is stopped meanwhile and the submissions still on the engine
 * are handed over again (run_job() returns their engine fences).
 */
static enum drm_gpu_sched_stat vsvm_sched_timedout_job(struct drm_sched_job *job)
{
	struct vsvm_submit *submit = to_vsvm_submit(job);
	struct drm_gpu_scheduler *sched = job->sched;

	drm_sched_stop(sched, job);
	if (submit->on_hw && !dma_fence_is_signaled(submit->hw_fence)) {
		drm_info(&submit->vm->vdev->drm,
			 "vm %u: submission %llu timed out, cancelled\n",
			 submit->vm->id, submit->seqno);
		WRITE_ONCE(submit->cancel, -ETIME);
	}
	drm_sched_resubmit_jobs(sched);
	drm_sched_start(sched, true);
	return DRM_GPU_SCHED_STAT_NOMINAL;
}

static void vsvm_sched_free_job(struct drm_sched_job *job)
{
	struct vsvm_submit *submit = to_vsvm_submit(job);

	drm_sched_job_cleanup(job);
	vsvm_submit_put(submit);
}

static const struct drm_sched_backend_ops vsvm_sched_ops = {
	.dependency = vsvm_sched_dependency,
	.run_job = vsvm_sched_run_job,
	.timedout_job = vsvm_sched_timedout_job,
	.free_job = vsvm_sched_free_job,
};

static void vsvm_submit_free_work(struct work_struct *work)
{
	struct vsvm_submit *submit = container_of(work, struct vsvm_submit,
						  free_work);
	struct vsvm_device *vdev = submit->vm->vdev;

	if (submit->on_hw)
		dma_fence_put(submit->hw_fence);
	else
		kfree(submit->hw_fence);
	dma_fence_put(submit->done);
	vsvm_vm_put(submit->vm);
	kvfree(submit);
	if (atomic_dec_and_test(&vdev->submits))
		wake_up_all(&vdev->submits_wq);
}

static void vsvm_submit_release(struct kref *kref)
{
	struct vsvm_submit *submit = container_of(kref, struct vsvm_submit,
						  refcount);

	/* The VM's last reference may go: not in the scheduler's threads. */
	queue_work(submit->vm->vdev->wq, &submit->free_work);
}

/**
 * vsvm_submit_create() - allocate a submission and its scheduler job
 * @vm: the VM; the submission takes over the caller's reference on success
 * @num_jobs: number of jobs (copied in by the caller)
 *
 * The jobs' statuses start as -ECANCELED: the engine overwrites those it
 * runs. Before vsvm_submit_push(), vsvm_submit_put() drops the submission.
 *
 * Return: the submission or an ERR_PTR().
 */
struct vsvm_submit *vsvm_submit_create(struct vsvm_vm *vm,
				       unsigned int num_jobs)
{
	struct vsvm_device *vdev = vm->vdev;
	struct vsvm_submit *submit;
	int err;

	submit = kvzalloc(struct_size(submit, jobs, num_jobs),
			  GFP_KERNEL_ACCOUNT);
	if (!submit)
		return ERR_PTR(-ENOMEM);
	submit->hw_fence = kzalloc(sizeof(*submit->hw_fence),
				   GFP_KERNEL_ACCOUNT);
	if (!submit->hw_fence) {
		err = -ENOMEM;
		goto err_free;
	}
	err = drm_sched_job_init(&submit->base, &vm->entity, vm);
	if (err)
		goto err_fence;
	submit->vm = vm;
	kref_init(&submit->refcount);
	INIT_WORK(&submit->free_work, vsvm_submit_free_work);
	INIT_LIST_HEAD(&submit->hw_link);
	submit->num_jobs = num_jobs;
	atomic_inc(&vdev->submits);
	return submit;

err_fence:
	kfree(submit->hw_fence);
err_free:
	kvfree(submit);
	return ERR_PTR(err);
}

/**
 * vsvm_submit_get() - take a reference on a submission
 * @submit: the submission
 */
void vsvm_submit_get(struct vsvm_submit *submit)
{
	kref_get(&submit->refcount);
}

/**
 * vsvm_submit_put() - drop a reference on a submission
 * @submit: the submission
 *
 * The last one releases it (and its VM reference) from a work item.
 */
void vsvm_submit_put(struct vsvm_submit *submit)
{
	kref_put(&submit->refcount, vsvm_submit_release);
}

/**
 * vsvm_submit_abort() - drop a submission that was never pushed
 * @submit: the submission, only the caller's reference
 */
void vsvm_submit_abort(struct vsvm_submit *submit)
{
	drm_sched_job_cleanup(&submit->base);
	vsvm_submit_put(submit);
}

static void vsvm_submit_pending_cb(struct dma_fence *fence,
				   struct dma_fence_cb *cb)
{
	struct vsvm_submit *submit = container_of(cb, struct vsvm_submit,
						  pending_cb);

	atomic_dec(&submit->vm->pending);
}

/**
 * vsvm_submit_push() - queue a submission to its VM's entity
 * @submit: the submission, its dependencies added
 *
 * Sets &vsvm_submit.done, which holds a reference of its own. The scheduler
 * takes over the caller's reference (dropped by free_job). The caller holds
 * &vsvm_vm.submit_lock, has checked the VM is not closing and has counted
 * the submission in &vsvm_vm.pending.
 */
void vsvm_submit_push(struct vsvm_submit *submit)
{
	lockdep_assert_held(&submit->vm->submit_lock);

	drm_sched_job_arm(&submit->base);
	submit->done = dma_fence_get(&submit->base.s_fence->finished);
	/*
	 * The engine time-slices: a submission depending on this one must
	 * wait for its completion, not only for its start on the engine.
	 */
	set_bit(DRM_SCHED_FENCE_DONT_PIPELINE, &submit->done->flags);
	/* Not signalled before it is pushed: the callback is added. */
	dma_fence_add_callback(submit->done, &submit->pending_cb,
			       vsvm_submit_pending_cb);
	drm_sched_entity_push_job(&submit->base);
}

static void vsvm_vm_fini_work(struct work_struct *work)
{
	struct vsvm_vm *vm = container_of(work, struct vsvm_vm, fini_work);

	/*
	 * The VM is closing: the scheduler takes its submissions as soon as
	 * their syncobj fences signalled, and run_job() completes them at
	 * once. Let it drain the entity rather than have
	 * drm_sched_entity_fini() kill the jobs left: in 6.1 that leaks a
	 * reference on the entity's last scheduled fence.
	 */
	drm_sched_entity_flush(&vm->entity, MAX_SCHEDULE_TIMEOUT);
	drm_sched_entity_fini(&vm->entity);
	vsvm_vm_put(vm);
}

/**
 * vsvm_engine_vm_init() - set a new VM's scheduler entity up
 * @vm: the VM
 *
 * Return: 0 or a negative errno.
 */
int vsvm_engine_vm_init(struct vsvm_vm *vm)
{
	struct drm_gpu_scheduler *sched = &vm->vdev->sched;

	INIT_WORK(&vm->fini_work, vsvm_vm_fini_work);
	vm->fence_context = dma_fence_context_alloc(1);
	atomic_set(&vm->pending, 0);
	return drm_sched_entity_init(&vm->entity, DRM_SCHED_PRIORITY_NORMAL,
				     &sched, 1, NULL);
}

/**
 * vsvm_engine_vm_close() - stop the submissions of a closing VM
 * @vm: the VM, &vsvm_vm.closing set
 *
 * The engine stops the VM's running submission at its next page, and the
 * submissions queued complete without running once their dependencies
 * signalled: the VM's entity is drained and finished from a work item
 * holding a VM reference, nothing waits here.
 */
void vsvm_engine_vm_close(struct vsvm_vm *vm)
{
	WARN_ON_ONCE(!READ_ONCE(vm->closing));
	kref_get(&vm->refcount);
	queue_work(vm->vdev->wq, &vm->fini_work);
}

/**
 * vsvm_engine_set_timeout() - apply job_timeout_ms to a device's scheduler
 * @vdev: the device
 *
 * The scheduler reads its timeout when it arms its timer: the new value
 * applies from the next submission it hands to the engine (or completes).
 */
void vsvm_engine_set_timeout(struct vsvm_device *vdev)
{
	unsigned int ms = READ_ONCE(vsvm_job_timeout_ms);

	WRITE_ONCE(vdev->sched.timeout,
		   ms ? (long)msecs_to_jiffies(ms) : MAX_SCHEDULE_TIMEOUT);
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
		spin_lock(&vdev->hw_lock);
		copy = list_first_entry_or_null(&vdev->copy_queue,
						struct vsvm_copy, link);
		if (copy)
			list_del(&copy->link);
		spin_unlock(&vdev->hw_lock);
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
	spin_lock(&vdev->hw_lock);
	list_add_tail(&copy.link, &vdev->copy_queue);
	spin_unlock(&vdev->hw_lock);
	wake_up(&vdev->copy_wq);
	wait_for_completion(&copy.done);
}

/**
 * vsvm_engine_start() - start a device's engines and its scheduler
 * @vdev: the device
 *
 * Return: 0 or a negative errno.
 */
int vsvm_engine_start(struct vsvm_device *vdev)
{
	struct drm_sched_init_args args = {
		.ops = &vsvm_sched_ops,
		.credit_limit = VSVM_HW_SUBMISSIONS,
		.timeout = MAX_SCHEDULE_TIMEOUT,
		.name = vdev->drm.unique,
		.dev = vdev->drm.dev,
	};
	int err;

	spin_lock_init(&vdev->hw_lock);
	INIT_LIST_HEAD(&vdev->hw_active);
	init_waitqueue_head(&vdev->hw_wq);
	spin_lock_init(&vdev->fence_lock);
	atomic_set(&vdev->submits, 0);
	init_waitqueue_head(&vdev->submits_wq);
	init_rwsem(&vdev->tlb_sem);
	INIT_LIST_HEAD(&vdev->copy_queue);
	init_waitqueue_head(&vdev->copy_wq);

	vdev->fault_wq = alloc_ordered_workqueue("vsvm%u-fault", 0, vdev->index);
	if (!vdev->fault_wq)
		return -ENOMEM;
	vdev->wq = alloc_workqueue("vsvm%u", WQ_UNBOUND, 0, vdev->index);
	if (!vdev->wq) {
		err = -ENOMEM;
		goto err_fault_wq;
	}
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
	err = drm_sched_init(&vdev->sched, &args);
	if (err)
		goto err_engine;
	vsvm_engine_set_timeout(vdev);
	return 0;

err_engine:
	kthread_stop(vdev->engine);
err_copy:
	kthread_stop(vdev->copy_engine);
err_wq:
	destroy_workqueue(vdev->wq);
err_fault_wq:
	destroy_workqueue(vdev->fault_wq);
	return err;
}

/**
 * vsvm_engine_stop() - stop a device's scheduler and engines
 * @vdev: the device, no VM left
 *
 * Waits until the entities of the destroyed VMs are finished and every
 * submission is released.
 */
void vsvm_engine_stop(struct vsvm_device *vdev)
{
	flush_workqueue(vdev->wq);
	wait_event(vdev->submits_wq, !atomic_read(&vdev->submits));
	drm_sched_fini(&vdev->sched);
	kthread_stop(vdev->engine);
	WARN_ON(!list_empty(&vdev->hw_active));
	kthread_stop(vdev->copy_engine);
	destroy_workqueue(vdev->wq);
	destroy_workqueue(vdev->fault_wq);
}
