/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * vsvm: a virtual SVM GPU built on drm_gpusvm. See vsvm_drv.c for the DOC.
 */
#ifndef _VSVM_DRV_H_
#define _VSVM_DRV_H_

#include <linux/atomic.h>
#include <linux/sizes.h>
#include <linux/dma-fence.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <drm/drm_device.h>
#include <drm/drm_gpusvm.h>
#include <drm/gpu_scheduler.h>

#include "vsvm_drm.h"

#define VSVM_MAX_DEVICES	8
#define VSVM_MAX_JOBS		1024
#define VSVM_MAX_INFLIGHT	16
/* Submissions of a VM queued or running (EXEC fails with -EBUSY beyond). */
#define VSVM_MAX_PENDING	64
/* Syncs of one EXEC. */
#define VSVM_MAX_SYNCS		64
/* Time slice of a submission on the engine. */
#define VSVM_SLICE_NS		(2 * NSEC_PER_MSEC)
/* Submissions the scheduler hands to the engine at once (one per VM). */
#define VSVM_HW_SUBMISSIONS	256
#define VSVM_USERPTR_MAX_SIZE	SZ_256M
/* The largest vram_timeslice_ms: drm_pagemap's own bound. */
#define VSVM_VRAM_TIMESLICE_MAX_MS	DRM_PAGEMAP_TIMESLICE_MAX_MS
/* Caps on what one file and one VM may hold (-ENOSPC beyond). */
#define VSVM_MAX_VMS_PER_FILE	64
#define VSVM_MAX_USERPTRS	1024
/*
 * A GPU access that keeps racing invalidations gives up with -EBUSY once it
 * made VSVM_FAULT_TRIES tries and VSVM_FAULT_STORM_MS went by since its
 * first, and after VSVM_FAULT_MAX_TRIES tries in any case (see
 * vsvm_fault_retry()).
 */
#define VSVM_FAULT_TRIES	16
#define VSVM_FAULT_STORM_MS	2000
#define VSVM_FAULT_MAX_TRIES	(4 * VSVM_FAULT_TRIES)
/*
 * How long an access of a job may keep racing invalidations, yielding the
 * engine between rounds of tries, before its job fails with -EBUSY.
 */
#define VSVM_JOB_STORM_MS	10000
/* -EBUSY tries one prefetch may make in all, over all its ranges. */
#define VSVM_PREFETCH_BUSY_TRIES	4

/* GPU page table: 4 KiB PTEs in 2 MiB leaves (512 entries). */
#define VSVM_PTE_VALID		BIT_ULL(0)
#define VSVM_PTE_WRITE		BIT_ULL(1)
#define VSVM_PTE_DEVMEM		BIT_ULL(2)	/* address is VRAM (own or a peer's) */
#define VSVM_PT_LEAF_SHIFT	21
#define VSVM_PT_LEAF_ENTRIES	(1UL << (VSVM_PT_LEAF_SHIFT - PAGE_SHIFT))

/**
 * struct vsvm_counters - event counters of a VM (also summed per device)
 * @faults: GPU page faults serviced
 * @fault_retries: fault passes retried after racing an invalidation
 * @fault_errors: faults that failed their job
 * @pages_mapped: GPU PTEs valid now
 * @jobs: jobs completed
 * @bytes_moved: bytes the engine read or wrote
 * @invalidations: zaps of GPU PTEs by an invalidation
 * @userptr_faults: faults serviced from a userptr
 * @pt_leaves: GPU page-table leaves allocated now
 */
struct vsvm_counters {
	atomic64_t faults;
	atomic64_t fault_retries;
	atomic64_t fault_errors;
	atomic64_t pages_mapped;
	atomic64_t jobs;
	atomic64_t bytes_moved;
	atomic64_t invalidations;
	atomic64_t userptr_faults;
	atomic64_t pt_leaves;
};

/**
 * struct vsvm_device - one virtual GPU
 * @drm: the DRM device (its render node is the UAPI)
 * @index: index among the vsvm devices (the pages-object index in N:1)
 * @sched: the GPU scheduler of the job engine (see DOC: Engine)
 * @engine: the engine thread, time-slicing the submissions it was handed
 * @hw_lock: protects @hw_active and @copy_queue
 * @hw_active: submissions on the engine (one per VM at most), in
 *             round-robin order
 * @hw_wq: the engine sleeps here
 * @fence_lock: the lock of the engine's fences
 * @wq: releases submissions and finishes the entities of destroyed VMs
 * @submits: submissions allocated and not yet released
 * @submits_wq: woken when @submits drops to 0
 * @tlb_sem: the engine's "TLB": held for read while the engine uses
 *           translations it read from a page table; an invalidation zaps
 *           PTEs, then takes it for write once, which waits until the engine
 *           can no longer use a zapped translation (a TLB flush)
 * @fault_wq: the fault queue: GPU page faults are serviced here, in order
 * @copy_engine: the copy engine, a kthread moving data between VRAM and
 *               system memory; it never waits for anything, so any context
 *               (a CPU fault, the GPU fault queue) may wait for it
 * @copy_queue: copies waiting for the copy engine (under @hw_lock)
 * @copy_wq: the copy engine sleeps here
 * @vram: the device memory (NULL without)
 * @page_owner: the &dev_pagemap.owner of its VRAM and the
 *              &drm_gpusvm_ctx.device_private_page_owner of its faults: the
 *              device itself, or the interconnect group's owner shared with
 *              its peers (module parameter ``interconnect``)
 * @dma_bounces: the device's DMA goes through swiotlb bounce buffers (forced,
 *               as in confidential guests, or because its DMA mask cannot
 *               reach all memory): the CPU and the device would not see the
 *               same memory, so the device refuses SVM (VM_CREATE fails)
 * @cpu_agent_delay_us: for tests (debugfs ``cpu_agent_delay_us``): the
 *                      CPU agent waits this long between faulting a pass
 *                      and taking the notifier lock to copy it, widening the
 *                      window an invalidation must be caught in
 * @stats: counters summed over every VM of the device
 * @vms_lock: protects @vms
 * @vms: the device's VMs (for debugfs)
 * @dmirror: the device's dmirror node (see DOC: dmirror personality)
 * @dmirror_name: its name, vsvm_dmirrorN
 * @floor: the device's raw floor node, make bench's (see DOC: raw floor)
 * @floor_name: its name, vsvm_floorN
 */
struct vsvm_device {
	struct drm_device drm;
	unsigned int index;
	struct drm_gpu_scheduler sched;
	struct task_struct *engine;
	spinlock_t hw_lock;		/* protects @hw_active, @copy_queue */
	struct list_head hw_active;
	wait_queue_head_t hw_wq;
	spinlock_t fence_lock;		/* the engine's fences */
	struct workqueue_struct *wq;
	atomic_t submits;
	wait_queue_head_t submits_wq;
	struct rw_semaphore tlb_sem;
	struct workqueue_struct *fault_wq;
	struct task_struct *copy_engine;
	struct list_head copy_queue;
	wait_queue_head_t copy_wq;
	struct vsvm_vram *vram;
	void *page_owner;
	bool dma_bounces;
	u32 cpu_agent_delay_us;
	struct vsvm_counters stats;
	struct mutex vms_lock;		/* protects @vms */
	struct list_head vms;
	struct miscdevice dmirror;
	char dmirror_name[24];
	struct miscdevice floor;
	char floor_name[24];
};

/**
 * struct vsvm_attr - attributes of a VA interval of a GPU SVM
 * @link: entry in &vsvm_svm.attrs (sorted, non-overlapping)
 * @start: start of the interval
 * @end: end of the interval (exclusive)
 * @read_only: the GPU may not write
 * @preferred_loc: a DRM_VSVM_LOC_* value
 *
 * Intervals not in the list have the default attributes (all zero).
 */
struct vsvm_attr {
	struct list_head link;
	unsigned long start;
	unsigned long end;
	bool read_only;
	u32 preferred_loc;
};

/**
 * struct vsvm_svm - the driver's GPU SVM: one per VM (1:1) or one per
 *                   process shared by every device (N:1)
 * @gpusvm: the framework object
 * @lock: the driver lock: serialises range insertion and removal, faults,
 *        binds, attributes and userptr (un)binding
 * @refcount: one per VM using it
 * @id: unique id (reported to user space as svm_id)
 * @shared: N:1 layout: ranges hold one pages object per device
 * @owner: 1:1 layout: the only device
 * @vms: the VMs using it; changed under @lock and the notifier lock held
 *       for write, so the invalidate callback may walk it
 * @attrs: VA attributes (&struct vsvm_attr), under @lock
 * @gc_lock: protects @gc_list and @closing
 * @gc_list: ranges unmapped by the CPU, waiting for removal
 * @gc_work: runs the garbage collector
 * @closing: teardown started: no more garbage-collector work
 * @link: entry in the process registry (N:1)
 * @ranges_created: ranges created
 * @ranges_live: ranges alive now
 * @gc_runs: garbage-collector passes that removed ranges
 * @gc_ranges: ranges the garbage collector removed
 */
struct vsvm_svm {
	struct drm_gpusvm gpusvm;
	struct mutex lock;		/* the driver lock */
	struct kref refcount;
	u64 id;
	bool shared;
	struct vsvm_device *owner;
	struct list_head vms;
	struct list_head attrs;
	spinlock_t gc_lock;		/* protects @gc_list, @closing */
	struct list_head gc_list;
	struct work_struct gc_work;
	bool closing;
	struct list_head link;
	atomic64_t ranges_created;
	atomic64_t ranges_live;
	atomic64_t gc_runs;
	atomic64_t gc_ranges;
};

/**
 * struct vsvm_range - the driver's range: the MM range plus its pages
 * @base: the framework range
 * @gc_link: entry in &vsvm_svm.gc_list (empty when not queued)
 * @pages: one pages object (1:1) or one per device (N:1), contiguous as
 *         drm_gpusvm_range_set_unmapped() requires
 */
struct vsvm_range {
	struct drm_gpusvm_range base;
	struct list_head gc_link;
	struct drm_gpusvm_pages pages[];
};

/**
 * struct vsvm_vm - a GPU VM: a page table mirroring one process
 * @vdev: the device
 * @id: id in the file (user-visible)
 * @refcount: the file's reference, one per submission, one per ioctl
 *            running on the VM and one while @fini_work is pending; the last
 *            one detaches the VM from @svm and frees @pt (see DOC: VM
 *            lifetime)
 * @svm: the GPU SVM (for as long as the VM is referenced)
 * @svm_link: entry in &vsvm_svm.vms
 * @dev_link: entry in &vsvm_device.vms
 * @pt: the GPU page table: leaves of %VSVM_PT_LEAF_ENTRIES PTEs indexed by
 *      VA >> %VSVM_PT_LEAF_SHIFT; leaves live until the VM goes
 * @userptrs: userptr objects by handle (changed under &vsvm_svm.lock)
 * @closing: the VM is being destroyed: the engine cancels its jobs, and
 *           nothing new is added to the VM (set under @submit_lock and
 *           &vsvm_svm.lock)
 * @inflight: ioctls adding state to the VM running, plus one until the VM
 *            is destroyed; the last one tears the VM down
 * @entity: the VM's scheduler entity: its submissions, in order
 * @fini_work: finishes @entity once the VM is destroyed
 * @fence_context: the context of the VM's engine fences
 * @fence_seqno: the last engine fence's seqno (scheduler thread only)
 * @last_hw_fence: the engine fence of the VM's last submission handed to the
 *                 engine (scheduler thread only)
 * @pending: submissions queued or running (at most %VSVM_MAX_PENDING)
 * @submit_lock: protects @submits and @next_seqno, orders submissions
 * @submits: asynchronous submissions not yet waited for, by seqno
 * @next_seqno: the next submission's seqno
 * @stats: counters
 */
struct vsvm_vm {
	struct vsvm_device *vdev;
	u32 id;
	struct kref refcount;
	struct vsvm_svm *svm;
	struct list_head svm_link;
	struct list_head dev_link;
	struct xarray pt;
	struct xarray userptrs;
	bool closing;
	atomic_t inflight;
	struct drm_sched_entity entity;
	struct work_struct fini_work;
	u64 fence_context;
	u64 fence_seqno;
	struct dma_fence *last_hw_fence;
	atomic_t pending;
	struct mutex submit_lock;	/* protects @submits */
	struct xarray submits;
	u64 next_seqno;
	struct vsvm_counters stats;
};

/**
 * struct vsvm_userptr - a user buffer mirrored by a pages object, no range
 * @vm: the VM
 * @handle: user-visible handle
 * @notifier: its own MMU interval notifier over [@start, @start + @size)
 * @pages: the pages object (the VM's device)
 * @start: CPU address
 * @size: size in bytes
 * @read_only: the GPU may only read
 * @bound: bound at @gpu_va (changed under &vsvm_svm.lock and the notifier
 *         lock held for write)
 * @gpu_va: where it is bound
 */
struct vsvm_userptr {
	struct vsvm_vm *vm;
	u32 handle;
	struct mmu_interval_notifier notifier;
	struct drm_gpusvm_pages pages;
	unsigned long start;
	unsigned long size;
	bool read_only;
	bool bound;
	u64 gpu_va;
};

/**
 * struct vsvm_submit - one exec: a scheduler job running a list of jobs
 * @base: the scheduler job
 * @vm: the VM (a reference is held)
 * @refcount: the scheduler's (until free_job), the engine's (while it runs
 *            it), the ioctl's and, when asynchronous, the VM's submission
 *            table's
 * @free_work: releases the submission (on &vsvm_device.wq)
 * @done: the scheduler's finished fence: the submission's completion
 * @pending_cb: counts the submission out of &vsvm_vm.pending when @done
 *              signals
 * @hw_fence: the engine fence, signalled when the engine is done with the
 *            submission; initialised when the engine takes it
 * @on_hw: the engine took the submission (scheduler thread only)
 * @waited_prev: the dependency on the VM's previous submission was returned
 * @hw_link: entry in &vsvm_device.hw_active
 * @cancel: 0, or why the engine must stop the submission (-ETIME)
 * @error: the status of the first failed job
 * @cur: the job the engine is at
 * @cur_done: bytes of job @cur done
 * @storm_since: jiffies when the engine's access at @cur_done began racing
 *               invalidations, 0 when it does not (see vsvm_engine_storm())
 * @seqno: sequence number in the VM
 * @user_jobs: where the job results go
 * @num_jobs: number of jobs
 * @jobs: the jobs, with their results
 */
struct vsvm_submit {
	struct drm_sched_job base;
	struct vsvm_vm *vm;
	struct kref refcount;
	struct work_struct free_work;
	struct dma_fence *done;
	struct dma_fence_cb pending_cb;
	struct dma_fence *hw_fence;
	bool on_hw;
	bool waited_prev;
	struct list_head hw_link;
	int cancel;
	int error;
	unsigned int cur;
	u64 cur_done;
	unsigned long storm_since;
	u64 seqno;
	u64 user_jobs;
	unsigned int num_jobs;
	struct drm_vsvm_job jobs[];
};

/* Count an event in a VM and its device. */
#define vsvm_count(vm, counter, n) do { \
		atomic64_add((n), &(vm)->stats.counter); \
		atomic64_add((n), &(vm)->vdev->stats.counter); \
	} while (0)

/**
 * vsvm_pages_read_only() - whether a pages object holds a read-only mapping
 * @pages: the pages object
 *
 * A lockless hint (the flags word is read once): the fault path, which alone
 * maps the object (driver lock held), uses it to drop a read-only mapping
 * before asking drm_gpusvm_get_pages() for a writable one.
 *
 * Return: true if @pages is mapped read-only.
 */
static inline bool vsvm_pages_read_only(struct drm_gpusvm_pages *pages)
{
	struct drm_gpusvm_pages_flags flags = {
		.__flags = READ_ONCE(pages->flags.__flags)
	};

	return (flags.has_dma_mapping || flags.has_devmem_pages) &&
	       flags.read_only;
}

static inline struct vsvm_device *to_vsvm_device(struct drm_device *drm)
{
	return container_of(drm, struct vsvm_device, drm);
}

extern unsigned int vsvm_num_devices;
extern unsigned int vsvm_job_timeout_ms;
extern bool vsvm_layout_shared;
extern unsigned long vsvm_notifier_size;
extern unsigned int vsvm_vram_timeslice_ms;
struct vsvm_vram;
struct vsvm_device *vsvm_device_get_by_index(unsigned int index);
void vsvm_vm_put(struct vsvm_vm *vm);
struct vsvm_vm *vsvm_vm_create(struct vsvm_device *vdev, struct mm_struct *mm);
void vsvm_vm_destroy(struct vsvm_vm *vm);

/* vsvm_engine.c */
int vsvm_engine_start(struct vsvm_device *vdev);
void vsvm_engine_stop(struct vsvm_device *vdev);
void vsvm_engine_set_timeout(struct vsvm_device *vdev);
int vsvm_engine_vm_init(struct vsvm_vm *vm);
void vsvm_engine_vm_close(struct vsvm_vm *vm);
struct vsvm_submit *vsvm_submit_create(struct vsvm_vm *vm,
				       unsigned int num_jobs);
void vsvm_submit_get(struct vsvm_submit *submit);
void vsvm_submit_put(struct vsvm_submit *submit);
void vsvm_submit_abort(struct vsvm_submit *submit);
void vsvm_submit_push(struct vsvm_submit *submit);
u64 vsvm_pt_lookup(struct vsvm_vm *vm, unsigned long va);
int vsvm_pt_prepare(struct vsvm_vm *vm, unsigned long start,
		    unsigned long end);
void vsvm_pt_bind(struct vsvm_vm *vm, unsigned long va,
		  const struct drm_pagemap_addr *addr, unsigned long npages,
		  u64 flags, bool skip_userptrs);
unsigned long vsvm_pt_zap(struct vsvm_vm *vm, unsigned long start,
			  unsigned long end);
void vsvm_pt_release_leaves(struct vsvm_vm *vm, unsigned long start,
			    unsigned long end);
void vsvm_pt_fini(struct vsvm_vm *vm);
void vsvm_tlb_flush(struct vsvm_device *vdev);
void *vsvm_engine_kmap(struct vsvm_device *vdev, u64 pte, unsigned long va);
void vsvm_copy_engine_run(struct vsvm_device *vdev, void (*fn)(void *arg),
			  void *arg);

/**
 * vsvm_fault_retry() - whether a GPU access racing invalidations tries again
 * @tries: tries made so far
 * @first: jiffies at the first try
 *
 * An invalidation storm (fork()s in other threads write-protect the whole
 * process, chaos threads munmap) can zap a mapping between its bind and the
 * access again and again. The access gives up only after both
 * %VSVM_FAULT_TRIES tries and %VSVM_FAULT_STORM_MS: a count alone fails
 * accesses on a slow kernel (KASAN) where each try takes long enough for
 * another fork to land in it. %VSVM_FAULT_MAX_TRIES caps the tries (each
 * may wait for HMM's timeout). Then a GPU job's access yields the engine and
 * starts another round at its next turn, for up to %VSVM_JOB_STORM_MS in all
 * (vsvm_engine_storm()).
 *
 * Return: true to try again.
 */
static inline bool vsvm_fault_retry(unsigned int tries, unsigned long first)
{
	if (tries >= VSVM_FAULT_MAX_TRIES)
		return false;
	return tries < VSVM_FAULT_TRIES ||
	       time_before(jiffies, first + msecs_to_jiffies(VSVM_FAULT_STORM_MS));
}

/**
 * enum vsvm_place - where vsvm_svm_fault() puts the pages it maps
 * @VSVM_PLACE_BY_ATTR: a GPU fault: where the preferred-location attribute
 *                      says (this device's VRAM pages, and its
 *                      interconnect peers', stay where they are)
 * @VSVM_PLACE_DEVICE: a prefetch to the device: migrate to its VRAM, from
 *                     system memory, from its interconnect peers' VRAM and,
 *                     through system memory, from other devices' VRAM
 * @VSVM_PLACE_DEVICE_FROM_SYSTEM: a prefetch to the device that migrates
 *                                 what is in system memory (and its peers'
 *                                 VRAM) once, as test_hmm's migration does
 *                                 (the dmirror personality): pages another
 *                                 device held come back to system memory
 *                                 and stay there
 * @VSVM_PLACE_SYSTEM: a prefetch to system memory: device pages come back
 *                     (the fault asks for no device-private owner, so
 *                     hmm_range_fault() migrates them), whatever the
 *                     attribute says
 */
enum vsvm_place {
	VSVM_PLACE_BY_ATTR,
	VSVM_PLACE_DEVICE,
	VSVM_PLACE_DEVICE_FROM_SYSTEM,
	VSVM_PLACE_SYSTEM,
};

/* vsvm_svm.c */
int vsvm_svm_attach(struct vsvm_vm *vm, struct mm_struct *mm);
void vsvm_svm_detach(struct vsvm_vm *vm);
int vsvm_handle_fault(struct vsvm_vm *vm, unsigned long addr, bool write);
int vsvm_svm_set_attr(struct vsvm_vm *vm, unsigned long start,
		      unsigned long end, u32 attr, u64 value);
int vsvm_svm_prefetch(struct vsvm_vm *vm, unsigned long start,
		      unsigned long end, enum vsvm_place place, u32 devices);
void vsvm_svm_zap_vm(struct vsvm_vm *vm, unsigned long start,
		     unsigned long end);

/* vsvm_vram.c */
#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
int vsvm_vram_init(struct vsvm_device *vdev, unsigned long size);
void vsvm_vram_fini(struct vsvm_device *vdev);
long vsvm_vram_migrate(struct vsvm_device *vdev, struct mm_struct *mm,
		       unsigned long start, unsigned long end);
struct drm_pagemap *vsvm_vram_dpagemap(struct vsvm_device *vdev);
void vsvm_vram_touch(u64 addr);
void *vsvm_vram_kmap(u64 addr);
void vsvm_vram_stats(struct vsvm_device *vdev, struct drm_vsvm_stats *stats);
void vsvm_vram_debugfs_init(struct vsvm_device *vdev, struct dentry *root);
#else
/* Without device-private pages there is no VRAM: vdev->vram stays NULL. */
static inline int vsvm_vram_init(struct vsvm_device *vdev, unsigned long size)
{
	return size ? -EOPNOTSUPP : 0;
}

static inline void vsvm_vram_fini(struct vsvm_device *vdev)
{
}

static inline long vsvm_vram_migrate(struct vsvm_device *vdev,
				     struct mm_struct *mm, unsigned long start,
				     unsigned long end)
{
	return -EOPNOTSUPP;
}

static inline struct drm_pagemap *vsvm_vram_dpagemap(struct vsvm_device *vdev)
{
	return NULL;
}

static inline void vsvm_vram_touch(u64 addr)
{
}

static inline void *vsvm_vram_kmap(u64 addr)
{
	return NULL;
}

static inline void vsvm_vram_stats(struct vsvm_device *vdev,
				   struct drm_vsvm_stats *stats)
{
}

static inline void vsvm_vram_debugfs_init(struct vsvm_device *vdev,
					  struct dentry *root)
{
}
#endif

/* vsvm_cpu_agent.c */
int vsvm_cpu_agent_read(struct vsvm_vm *vm, u64 addr, u64 size,
			void __user *data);

/* vsvm_dmirror.c */
int vsvm_dmirror_register(struct vsvm_device *vdev);
void vsvm_dmirror_unregister(struct vsvm_device *vdev);

/* vsvm_floor.c */
int vsvm_floor_register(struct vsvm_device *vdev);
void vsvm_floor_unregister(struct vsvm_device *vdev);

/* vsvm_userptr.c */
int vsvm_userptr_create(struct vsvm_vm *vm, unsigned long start,
			unsigned long size, bool read_only, u32 *handle);
int vsvm_userptr_bind(struct vsvm_vm *vm, u32 handle, u64 gpu_va);
int vsvm_userptr_destroy(struct vsvm_vm *vm, u32 handle);
void vsvm_userptr_destroy_all(struct vsvm_vm *vm);
struct vsvm_userptr *vsvm_userptr_at(struct vsvm_vm *vm, unsigned long va);
bool vsvm_userptr_overlaps(struct vsvm_vm *vm, unsigned long start,
			   unsigned long end);
int vsvm_userptr_fault(struct vsvm_userptr *up, bool write);
void vsvm_userptr_clip(struct vsvm_vm *vm, unsigned long addr,
		       unsigned long *start, unsigned long *end);

#endif
