// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: a virtual SVM GPU, the reference driver of drm_gpusvm.
 */

#include <linux/debugfs.h>
#include <linux/dma-fence-chain.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>
#include <linux/uaccess.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_print.h>
#include <drm/drm_syncobj.h>

#include "vsvm_drv.h"

#define CREATE_TRACE_POINTS
#include "vsvm_trace.h"

/**
 * DOC: Overview
 *
 * vsvm is a GPU whose hardware is software, driven exactly the way a real
 * SVM driver drives drm_gpusvm. The module creates ``num_devices`` platform
 * devices, each a DRM device with a render node, a GPU scheduler feeding an
 * engine (a kernel thread, see DOC: Engine) and a fault queue (an ordered
 * workqueue).
 *
 * Each open file creates GPU VMs (DRM_IOCTL_VSVM_VM_CREATE). A VM mirrors the
 * address space of the process that created it: GPU VA == CPU VA, so jobs use
 * malloc(), stack, global or mmap() pointers directly. Its page table starts
 * empty; the engine's first access to a page is a GPU page fault, which the
 * fault queue services through drm_gpusvm (range_find_or_insert,
 * get_pages, then the bind under the notifier lock after pages_valid).
 *
 * CPU-side changes reach the driver through the GPU SVM's invalidate
 * callback, which zaps PTEs, waits for the engine (the TLB flush) and only
 * then DMA-unmaps; munmap also queues the ranges to a garbage collector that
 * removes them under the driver lock.
 *
 * A VM may only be used by the process it mirrors (-EACCES otherwise): after
 * fork() the child creates its own VMs, also on an inherited file.
 *
 * DRM_IOCTL_VSVM_VM_READ reads a VM's memory as the device's CPU agent sees
 * it, as a GPU debugger would, through a pages object without a DMA device
 * (see DOC: CPU agent).
 *
 * Observability: debugfs ``dri/<minor>/vsvm_stats`` (per device and VM),
 * DRM_IOCTL_VSVM_STATS, and the tracepoints of the ``vsvm`` trace system
 * (vsvm_fault, vsvm_bind, vsvm_invalidate, vsvm_gc).
 */

/**
 * DOC: VM lifetime
 *
 * A VM is published in its file's table last, fully set up: VM_CREATE
 * reserves the id, sets the VM up, then stores it, and returns the id from a
 * local copy; VM_DESTROY leaves a reserved id alone. Nothing touches an
 * object after publishing it: a racing destroy that guessed the id may free
 * it at once (userptr handles are read under the driver lock for the same
 * reason).
 *
 * &vsvm_vm.refcount counts the file's table, every submission, every
 * ioctl running on the VM and the pending work finishing its scheduler
 * entity. The reference keeps the VM's GPU SVM and page table: only the
 * last one takes the VM out of its GPU SVM (the last VM of a GPU SVM frees
 * it) and frees the page table, so whoever holds a reference may use
 * &vsvm_vm.svm. The last reference takes the driver lock: no reference is
 * dropped under it.
 *
 * VM_DESTROY (and closing the file) takes the VM out of the table, then sets
 * &vsvm_vm.closing under the submit lock and the driver lock. Exec checks it
 * under the submit lock; the ioctls that add state to the VM (SET_ATTR,
 * PREFETCH, USERPTR_CREATE, USERPTR_BIND) check it under the driver lock and,
 * before it is set, count in &vsvm_vm.inflight. Destroy then stops the VM's
 * submissions (see DOC: Engine) and drops the table's count in
 * &vsvm_vm.inflight without waiting for anything: whoever drops the last
 * count (destroy, or the last ioctl in flight) tears the VM down: from then
 * on nothing adds to the VM (later ioctls fail with -ENOENT). The teardown
 * destroys the userptrs (and their notifiers) and takes the VM off the
 * device's list, which debugfs walks under &vsvm_device.vms_lock: a VM on
 * the list still has its GPU SVM. The other ioctls (STATS, WAIT,
 * USERPTR_DESTROY, VM_READ) only need their reference: VM_READ's notifiers
 * (see DOC: CPU agent) live only while it runs, and the reference keeps the
 * GPU SVM whose notifier lock they take.
 *
 * Lock order: &vsvm_vm.submit_lock, the driver lock (&vsvm_svm.lock),
 * mmap_lock, the GPU SVM's notifier lock.
 */

static struct platform_device *vsvm_pdevs[VSVM_MAX_DEVICES];
/* Set and cleared under the module's parameter lock (job_timeout_ms). */
static struct vsvm_device *vsvm_devices[VSVM_MAX_DEVICES];

unsigned int vsvm_num_devices = 2;
module_param_named(num_devices, vsvm_num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "number of vsvm devices (1-8, default 2)");

unsigned int vsvm_job_timeout_ms = 30000;

static int vsvm_job_timeout_set(const char *val, const struct kernel_param *kp)
{
	unsigned int i;
	int err;

	/* Under the module's parameter lock, as probe and remove. */
	err = param_set_uint(val, kp);
	if (err)
		return err;
	for (i = 0; i < VSVM_MAX_DEVICES; i++)
		if (vsvm_devices[i])
			vsvm_engine_set_timeout(vsvm_devices[i]);
	return 0;
}

static const struct kernel_param_ops vsvm_job_timeout_ops = {
	.set = vsvm_job_timeout_set,
	.get = param_get_uint,
};

module_param_cb(job_timeout_ms, &vsvm_job_timeout_ops, &vsvm_job_timeout_ms,
		0644);
MODULE_PARM_DESC(job_timeout_ms,
		 "cancel a submission on the engine for longer than this (ms, default 30000, 0: never)");

static char *vsvm_layout = "1:1";
module_param_named(layout, vsvm_layout, charp, 0444);
MODULE_PARM_DESC(layout,
		 "GPU SVM layout: \"1:1\" (a GPU SVM per VM, default) or \"n:1\" (one per process, shared by all devices)");

bool vsvm_layout_shared;

unsigned long vsvm_notifier_size = SZ_512M;
module_param_named(notifier_size, vsvm_notifier_size, ulong, 0444);
MODULE_PARM_DESC(notifier_size,
		 "GPU SVM notifier window in bytes (power of two, >= 2 MiB; default 512 MiB)");

static unsigned int vsvm_interconnect;
module_param_named(interconnect, vsvm_interconnect, uint, 0444);
MODULE_PARM_DESC(interconnect,
		 "bitmask of the devices on one interconnect: they share a page owner and map each other's VRAM directly (default 0: none)");

/* The page owner of the devices on the interconnect. */
static int vsvm_interconnect_owner;

unsigned int vsvm_vram_timeslice_ms;

static int vsvm_vram_timeslice_set(const char *val,
				   const struct kernel_param *kp)
{
	unsigned int ms;
	int err;

	err = kstrtouint(val, 0, &ms);
	if (err)
		return err;
	if (ms > VSVM_VRAM_TIMESLICE_MAX_MS)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, ms);
	return 0;
}

static const struct kernel_param_ops vsvm_vram_timeslice_ops = {
	.set = vsvm_vram_timeslice_set,
	.get = param_get_uint,
};

module_param_cb(vram_timeslice_ms, &vsvm_vram_timeslice_ops,
		&vsvm_vram_timeslice_ms, 0644);
MODULE_PARM_DESC(vram_timeslice_ms,
		 "memory the GPU SVM migrates to VRAM stays there at least this long before a CPU fault moves it back (ms, 0-250, default 0)");

static unsigned int vsvm_vram_mb = 256;
module_param_named(vram_size, vsvm_vram_mb, uint, 0444);
MODULE_PARM_DESC(vram_size,
		 "device memory per device in MiB, a multiple of 2 (default 256; 0: none; needs DEVICE_PRIVATE)");

/**
 * vsvm_device_get_by_index() - the vsvm device of an index
 * @index: the index, below vsvm_num_devices
 *
 * Devices live as long as the module: no reference is taken.
 *
 * Return: the device.
 */
struct vsvm_device *vsvm_device_get_by_index(unsigned int index)
{
	return vsvm_devices[index];
}

/**
 * struct vsvm_file - an open file of a vsvm device
 * @vdev: the device
 * @vms: the file's VMs by id
 */
struct vsvm_file {
	struct vsvm_device *vdev;
	struct xarray vms;
};

static struct vsvm_vm *vsvm_vm_get(struct drm_file *file, u32 id)
{
	struct vsvm_file *vfile = file->driver_priv;
	struct vsvm_vm *vm;

	xa_lock(&vfile->vms);
	vm = xa_load(&vfile->vms, id);
	if (vm && !kref_get_unless_zero(&vm->refcount))
		vm = NULL;
	xa_unlock(&vfile->vms);
	return vm;
}

/* The last reference: nobody uses the VM, it leaves its GPU SVM only now. */
static void vsvm_vm_release(struct kref *kref)
{
	struct vsvm_vm *vm = container_of(kref, struct vsvm_vm, refcount);

	vsvm_svm_detach(vm);
	vsvm_pt_fini(vm);
	dma_fence_put(vm->last_hw_fence);
	kfree(vm);
}

/**
 * vsvm_vm_put() - drop a reference on a VM
 * @vm: the VM
 *
 * Not under the driver lock: the last reference takes it.
 */
void vsvm_vm_put(struct vsvm_vm *vm)
{
	might_lock(&vm->svm->lock);
	kref_put(&vm->refcount, vsvm_vm_release);
}

/*
 * Look a VM up for an ioctl that touches its memory: it must mirror the
 * caller's process.
 */
static struct vsvm_vm *vsvm_vm_get_current(struct drm_file *file, u32 id,
					   int *err)
{
	struct vsvm_vm *vm = vsvm_vm_get(file, id);

	*err = 0;
	if (!vm) {
		*err = -ENOENT;
	} else if (vm->svm->gpusvm.mm != current->mm) {
		vsvm_vm_put(vm);
		vm = NULL;
		*err = -EACCES;
	}
	return vm;
}

/*
 * Look a VM up for an ioctl that adds state to it: as vsvm_vm_get_current(),
 * and the VM is not being destroyed (-ENOENT). It counts as in flight until
 * vsvm_vm_put_active(): the VM's teardown waits for it.
 */
static struct vsvm_vm *vsvm_vm_get_active(struct drm_file *file, u32 id,
					  int *err)
{
	struct vsvm_vm *vm = vsvm_vm_get_current(file, id, err);

	if (!vm)
		return NULL;
	mutex_lock(&vm->svm->lock);
	if (vm->closing)
		*err = -ENOENT;
	else
		atomic_inc(&vm->inflight);
	mutex_unlock(&vm->svm->lock);
	if (*err) {
		vsvm_vm_put(vm);
		return NULL;
	}
	return vm;
}

/*
 * The last count in &vsvm_vm.inflight: nothing adds to the closing VM any
 * more. Drops the file table's reference.
 */
static void vsvm_vm_teardown(struct vsvm_vm *vm)
{
	struct vsvm_device *vdev = vm->vdev;

	vsvm_userptr_destroy_all(vm);

	mutex_lock(&vdev->vms_lock);
	list_del(&vm->dev_link);
	mutex_unlock(&vdev->vms_lock);
	vsvm_vm_put(vm);
}

static void vsvm_vm_put_active(struct vsvm_vm *vm)
{
	if (atomic_dec_and_test(&vm->inflight))
		vsvm_vm_teardown(vm);
	vsvm_vm_put(vm);
}

/**
 * vsvm_vm_destroy() - destroy a VM
 * @vm: the VM, out of the file's table (if it was in one)
 *
 * See DOC: VM lifetime: its GPU SVM and page table go with the last
 * reference. Waits for nothing.
 */
void vsvm_vm_destroy(struct vsvm_vm *vm)
{
	struct vsvm_submit *submit;
	unsigned long idx;

	/*
	 * Under the submit lock and the driver lock: an exec or an ioctl
	 * adding state racing with us either came before, and is cancelled
	 * or counted in @inflight, or sees the flag and does nothing.
	 */
	mutex_lock(&vm->submit_lock);
	mutex_lock(&vm->svm->lock);
	WRITE_ONCE(vm->closing, true);
	mutex_unlock(&vm->svm->lock);
	mutex_unlock(&vm->submit_lock);
	vsvm_engine_vm_close(vm);

	mutex_lock(&vm->submit_lock);
	xa_for_each(&vm->submits, idx, submit) {
		xa_erase(&vm->submits, idx);
		vsvm_submit_put(submit);
	}
	mutex_unlock(&vm->submit_lock);

	if (atomic_dec_and_test(&vm->inflight))
		vsvm_vm_teardown(vm);
}

static int vsvm_get_info_ioctl(struct drm_device *drm, void *data,
			       struct drm_file *file)
{
	struct vsvm_device *vdev = to_vsvm_device(drm);
	struct drm_vsvm_info *args = data;

	memset(args, 0, sizeof(*args));
	args->index = vdev->index;
	args->num_devices = vsvm_num_devices;
	args->layout = vsvm_layout_shared ? DRM_VSVM_LAYOUT_NTO1 :
					    DRM_VSVM_LAYOUT_1TO1;
	args->version = DRM_VSVM_UAPI_VERSION;
	args->notifier_size = vsvm_notifier_size;
	args->vram_size = vdev->vram ? (u64)vsvm_vram_mb << 20 : 0;
	args->max_jobs = VSVM_MAX_JOBS;
	args->max_inflight = VSVM_MAX_INFLIGHT;
	return 0;
}

/*
 * Check the extension chain of an ioctl that knows no extension: a chain's
 * first link names an unknown one.
 */
static int vsvm_extensions_check(u64 extensions)
{
	struct drm_vsvm_user_extension ext;

	if (!extensions)
		return 0;
	if (copy_from_user(&ext, u64_to_user_ptr(extensions), sizeof(ext)))
		return -EFAULT;
	return -EINVAL;
}

/**
 * vsvm_vm_create() - create a VM mirroring a process
 * @vdev: the device
 * @mm: the process (the caller's)
 *
 * The VM is on the device's list, in no file's table: the caller owns its
 * file reference and its count in &vsvm_vm.inflight, which
 * vsvm_vm_destroy() drops.
 *
 * Return: the VM or an ERR_PTR().
 */
struct vsvm_vm *vsvm_vm_create(struct vsvm_device *vdev, struct mm_struct *mm)
{
	struct vsvm_vm *vm;
	int err;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	vm->vdev = vdev;
	kref_init(&vm->refcount);
	INIT_LIST_HEAD(&vm->svm_link);
	xa_init(&vm->pt);
	xa_init_flags(&vm->userptrs, XA_FLAGS_ALLOC1);
	atomic_set(&vm->inflight, 1);	/* until the VM is destroyed */
	mutex_init(&vm->submit_lock);
	xa_init(&vm->submits);
	vm->next_seqno = 1;

	err = vsvm_engine_vm_init(vm);
	if (err)
		goto err_free;
	err = vsvm_svm_attach(vm, mm);
	if (err)
		goto err_entity;

	mutex_lock(&vdev->vms_lock);
	list_add_tail(&vm->dev_link, &vdev->vms);
	mutex_unlock(&vdev->vms_lock);
	return vm;

err_entity:
	drm_sched_entity_fini(&vm->entity);
err_free:
	kfree(vm);
	return ERR_PTR(err);
}

static int vsvm_vm_create_ioctl(struct drm_device *drm, void *data,
				struct drm_file *file)
{
	struct vsvm_device *vdev = to_vsvm_device(drm);
	struct vsvm_file *vfile = file->driver_priv;
	struct drm_vsvm_vm_create *args = data;
	struct vsvm_vm *vm;
	u32 id;
	int err;

	if (args->flags)
		return -EINVAL;
	err = vsvm_extensions_check(args->extensions);
	if (err)
		return err;

	/* Reserve the id: VM_DESTROY of it fails until the VM is stored. */
	err = xa_alloc(&vfile->vms, &id, NULL,
		       XA_LIMIT(1, VSVM_MAX_VMS_PER_FILE), GFP_KERNEL_ACCOUNT);
	if (err)
		return err == -EBUSY ? -ENOSPC : err;
	vm = vsvm_vm_create(vdev, current->mm);
	if (IS_ERR(vm)) {
		xa_erase(&vfile->vms, id);
		return PTR_ERR(vm);
	}
	vm->id = id;

	/* Publish it last (storing at a reserved index cannot fail). */
	xa_store(&vfile->vms, id, vm, GFP_KERNEL);
	args->vm_id = id;
	return 0;
}

static int vsvm_vm_destroy_ioctl(struct drm_device *drm, void *data,
				 struct drm_file *file)
{
	struct vsvm_file *vfile = file->driver_priv;
	struct drm_vsvm_vm_destroy *args = data;
	struct vsvm_vm *vm;

	if (args->pad)
		return -EINVAL;
	/* A reserved id (a VM being created) loads as NULL: leave it. */
	xa_lock(&vfile->vms);
	vm = xa_load(&vfile->vms, args->vm_id);
	if (vm)
		__xa_erase(&vfile->vms, args->vm_id);
	xa_unlock(&vfile->vms);
	if (!vm)
		return -ENOENT;
	vsvm_vm_destroy(vm);
	return 0;
}

/* Whether [addr, addr + size) is a valid user interval. */
static bool vsvm_user_range_ok(u64 addr, u64 size)
{
	return addr + size >= addr && addr + size <= TASK_SIZE_MAX;
}

static bool vsvm_user_pages_ok(u64 addr, u64 size)
{
	return size && PAGE_ALIGNED(addr) && PAGE_ALIGNED(size) &&
	       vsvm_user_range_ok(addr, size);
}

/*
 * A job is well-formed when its op is known, its intervals are user memory,
 * and its flags, pad and the fields its op does not use are zero.
 */
static bool vsvm_job_ok(const struct drm_vsvm_job *job)
{
	if (job->flags || job->pad)
		return false;
	switch (job->op) {
	case DRM_VSVM_OP_COPY:
		return !job->value && vsvm_user_range_ok(job->src, job->size) &&
		       vsvm_user_range_ok(job->dst, job->size);
	case DRM_VSVM_OP_FILL:
		return !job->src && job->value <= 0xff &&
		       vsvm_user_range_ok(job->dst, job->size);
	case DRM_VSVM_OP_CHECKSUM:
		return !job->dst && !job->value &&
		       vsvm_user_range_ok(job->src, job->size);
	case DRM_VSVM_OP_ATOMIC_ADD:
		return !job->src && IS_ALIGNED(job->dst, sizeof(u64)) &&
		       IS_ALIGNED(job->size, sizeof(u64)) &&
		       vsvm_user_range_ok(job->dst, job->size);
	default:
		return false;
	}
}

static int vsvm_submit_copy_results(struct vsvm_submit *submit)
{
	if (copy_to_user(u64_to_user_ptr(submit->user_jobs), submit->jobs,
			 array_size(submit->num_jobs, sizeof(submit->jobs[0]))))
		return -EFAULT;
	return 0;
}

/**
 * struct vsvm_exec_syncs - the syncs of an exec
 * @num: number of syncs
 * @syncs: the syncs, checked
 * @syncobjs: the syncobjs to signal (NULL for a WAIT sync)
 * @chains: the timeline links of the syncobjs to signal at a point
 */
struct vsvm_exec_syncs {
	unsigned int num;
	struct drm_vsvm_sync *syncs;
	struct drm_syncobj **syncobjs;
	struct dma_fence_chain **chains;
};

static bool vsvm_sync_ok(const struct drm_vsvm_sync *sync)
{
	return (sync->flags == DRM_VSVM_SYNC_WAIT ||
		sync->flags == DRM_VSVM_SYNC_SIGNAL) && !sync->reserved;
}

/* Read and check the %DRM_VSVM_EXT_EXEC_SYNCS extension at @uptr. */
static int vsvm_exec_syncs_read(u64 uptr, struct vsvm_exec_syncs *es)
{
	struct drm_vsvm_ext_exec_syncs ext;
	unsigned int i;

	if (es->syncs)
		return -EINVAL;		/* a second one */
	if (copy_from_user(&ext, u64_to_user_ptr(uptr), sizeof(ext)))
		return -EFAULT;
	if (ext.pad || !ext.num_syncs || ext.num_syncs > VSVM_MAX_SYNCS)
		return -EINVAL;
	es->syncs = memdup_user(u64_to_user_ptr(ext.syncs),
				array_size(ext.num_syncs, sizeof(*es->syncs)));
	if (IS_ERR(es->syncs)) {
		int err = PTR_ERR(es->syncs);

		es->syncs = NULL;
		return err;
	}
	es->num = ext.num_syncs;
	for (i = 0; i < es->num; i++)
		if (!vsvm_sync_ok(&es->syncs[i]))
			return -EINVAL;
	return 0;
}

/* Read and check an exec's extension chain. */
static int vsvm_exec_extensions(u64 extensions, struct vsvm_exec_syncs *es)
{
	while (extensions) {
		struct drm_vsvm_user_extension ext;
		int err;

		if (copy_from_user(&ext, u64_to_user_ptr(extensions),
				   sizeof(ext)))
			return -EFAULT;
		if (ext.pad || ext.name != DRM_VSVM_EXT_EXEC_SYNCS)
			return -EINVAL;
		err = vsvm_exec_syncs_read(extensions, es);
		if (err)
			return err;
		extensions = ext.next_extension;
	}
	return 0;
}

/*
 * Resolve the syncs once the VM is known: the fences to wait for become
 * dependencies of the submission; the syncobjs to signal, and the chain
 * links of their timeline points, are looked up and allocated now so that
 * nothing fails once the submission is pushed.
 */
static int vsvm_exec_syncs_prepare(struct drm_file *file,
				   struct vsvm_submit *submit,
				   struct vsvm_exec_syncs *es)
{
	unsigned int i;
	int err;

	if (!es->num)
		return 0;
	es->syncobjs = kcalloc(es->num, sizeof(*es->syncobjs), GFP_KERNEL);
	es->chains = kcalloc(es->num, sizeof(*es->chains), GFP_KERNEL);
	if (!es->syncobjs || !es->chains)
		return -ENOMEM;
	for (i = 0; i < es->num; i++) {
		struct drm_vsvm_sync *sync = &es->syncs[i];
		struct dma_fence *fence;

		if (sync->flags == DRM_VSVM_SYNC_WAIT) {
			err = drm_syncobj_find_fence(file, sync->handle,
						     sync->timeline_point, 0,
						     &fence);
			if (err)
				return err;
			/* Takes over the reference, also on failure. */
			err = drm_sched_job_add_dependency(&submit->base, fence);
			if (err)
				return err;
			continue;
		}
		es->syncobjs[i] = drm_syncobj_find(file, sync->handle);
		if (!es->syncobjs[i])
			return -ENOENT;
		if (sync->timeline_point) {
			es->chains[i] = dma_fence_chain_alloc();
			if (!es->chains[i])
				return -ENOMEM;
		}
	}
	return 0;
}

/* Give the syncobjs to signal the pushed submission's completion fence. */
static void vsvm_exec_syncs_signal(struct vsvm_submit *submit,
				   struct vsvm_exec_syncs *es)
{
	unsigned int i;

	for (i = 0; i < es->num; i++) {
		if (!es->syncobjs[i])
			continue;
		if (es->chains[i]) {
			drm_syncobj_add_point(es->syncobjs[i], es->chains[i],
					      submit->done,
					      es->syncs[i].timeline_point);
			es->chains[i] = NULL;	/* the syncobj's now */
		} else {
			drm_syncobj_replace_fence(es->syncobjs[i], submit->done);
		}
	}
}

static void vsvm_exec_syncs_free(struct vsvm_exec_syncs *es)
{
	unsigned int i;

	for (i = 0; es->syncobjs && i < es->num; i++) {
		if (es->syncobjs[i])
			drm_syncobj_put(es->syncobjs[i]);
		if (es->chains && es->chains[i])
			dma_fence_chain_free(es->chains[i]);
	}
	kfree(es->chains);
	kfree(es->syncobjs);
	kfree(es->syncs);
}

/*
 * Queue a submission: under the submit lock, so that seqnos follow the
 * order of the entity's queue. Return: 0 or a negative errno.
 */
static int vsvm_exec_push(struct vsvm_vm *vm, struct vsvm_submit *submit,
			  bool async)
{
	int err = 0;

	mutex_lock(&vm->submit_lock);
	if (READ_ONCE(vm->closing)) {
		err = -ENOENT;
		goto out;
	}
	if (atomic_read(&vm->pending) >= VSVM_MAX_PENDING) {
		err = -EBUSY;
		goto out;
	}
	if (async) {
		unsigned long idx, n = 0;
		struct vsvm_submit *s;

		xa_for_each(&vm->submits, idx, s)
			n++;
		err = n >= VSVM_MAX_INFLIGHT ? -EBUSY :
			xa_insert(&vm->submits, vm->next_seqno, submit,
				  GFP_KERNEL);
		if (err)
			goto out;
		vsvm_submit_get(submit);	/* the table's */
	}
	submit->seqno = vm->next_seqno++;
	atomic_inc(&vm->pending);
	vsvm_submit_get(submit);	/* the scheduler's */
	vsvm_submit_push(submit);
out:
	mutex_unlock(&vm->submit_lock);
	return err;
}

struct vsvm_fence_waiter {
	struct dma_fence_cb cb;
	struct completion done;
};

static void vsvm_fence_waiter_cb(struct dma_fence *fence,
				 struct dma_fence_cb *cb)
{
	complete(&container_of(cb, struct vsvm_fence_waiter, cb)->done);
}

/* Wait for a fence, killably. Return: 0 or -ERESTARTSYS. */
static int vsvm_fence_wait_killable(struct dma_fence *fence)
{
	struct vsvm_fence_waiter waiter;
	int err;

	init_completion(&waiter.done);
	if (dma_fence_add_callback(fence, &waiter.cb, vsvm_fence_waiter_cb))
		return 0;	/* signalled */
	err = wait_for_completion_killable(&waiter.done);
	/* Once removed (or run: under the fence's lock), it is ours again. */
	dma_fence_remove_callback(fence, &waiter.cb);
	return err;
}

static int vsvm_exec_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file)
{
	struct drm_vsvm_exec *args = data;
	bool async = args->flags & DRM_VSVM_EXEC_ASYNC;
	struct vsvm_exec_syncs es = {};
	struct drm_vsvm_job *jobs;
	struct vsvm_submit *submit;
	struct vsvm_vm *vm;
	unsigned int i;
	int err;

	if (args->flags & ~DRM_VSVM_EXEC_ASYNC || args->pad ||
	    !args->num_jobs || args->num_jobs > VSVM_MAX_JOBS)
		return -EINVAL;
	err = vsvm_exec_extensions(args->extensions, &es);
	if (err)
		goto out_syncs;

	/* The jobs are arguments too: checked before the VM is looked up. */
	jobs = vmemdup_user(u64_to_user_ptr(args->jobs),
			    array_size(args->num_jobs, sizeof(*jobs)));
	if (IS_ERR(jobs)) {
		err = PTR_ERR(jobs);
		goto out_syncs;
	}
	for (i = 0; i < args->num_jobs; i++) {
		if (!vsvm_job_ok(&jobs[i])) {
			err = -EINVAL;
			goto out_jobs;
		}
		/* The engine overwrites the status of each job it runs. */
		jobs[i].status = -ECANCELED;
		jobs[i].fault_addr = 0;
		jobs[i].result = 0;
	}
	vm = vsvm_vm_get_current(file, args->vm_id, &err);
	if (!vm)
		goto out_jobs;

	submit = vsvm_submit_create(vm, args->num_jobs);
	if (IS_ERR(submit)) {
		err = PTR_ERR(submit);
		vsvm_vm_put(vm);
		goto out_jobs;
	}
	/* The submission took over the VM reference. */
	memcpy(submit->jobs, jobs, array_size(args->num_jobs, sizeof(*jobs)));
	submit->user_jobs = args->jobs;

	err = vsvm_exec_syncs_prepare(file, submit, &es);
	if (!err)
		err = vsvm_exec_push(vm, submit, async);
	if (err) {
		vsvm_submit_abort(submit);
		goto out_jobs;
	}
	vsvm_exec_syncs_signal(submit, &es);
	args->seqno = submit->seqno;

	if (!async) {
		/* Killable: the engine finishes or cancels it anyway. */
		err = vsvm_fence_wait_killable(submit->done);
		if (!err)
			err = vsvm_submit_copy_results(submit);
	}
	vsvm_submit_put(submit);
out_jobs:
	kvfree(jobs);
out_syncs:
	vsvm_exec_syncs_free(&es);
	return err;
}

static int vsvm_wait_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file)
{
	struct drm_vsvm_wait *args = data;
	struct vsvm_submit *submit;
	struct vsvm_vm *vm;
	long ret;
	int err;

	if (args->flags || args->timeout_ns < 0)
		return -EINVAL;
	vm = vsvm_vm_get_current(file, args->vm_id, &err);
	if (!vm)
		return err;

	mutex_lock(&vm->submit_lock);
	submit = xa_load(&vm->submits, args->seqno);
	if (submit)
		vsvm_submit_get(submit);
	mutex_unlock(&vm->submit_lock);
	if (!submit) {
		err = -ENOENT;
		goto out_vm;
	}

	ret = dma_fence_wait_timeout(submit->done, true,
				     nsecs_to_jiffies(args->timeout_ns));
	if (ret < 0) {
		err = ret;
	} else if (!ret) {
		err = -ETIME;
	} else {
		/* Only one waiter takes the results. */
		mutex_lock(&vm->submit_lock);
		if (xa_erase(&vm->submits, args->seqno) == submit)
			vsvm_submit_put(submit);
		else
			err = -ENOENT;
		mutex_unlock(&vm->submit_lock);
		if (!err)
			err = vsvm_submit_copy_results(submit);
	}
	vsvm_submit_put(submit);
out_vm:
	vsvm_vm_put(vm);
	return err;
}

static int vsvm_set_attr_ioctl(struct drm_device *drm, void *data,
			       struct drm_file *file)
{
	struct drm_vsvm_set_attr *args = data;
	struct vsvm_vm *vm;
	int err;

	if (args->reserved || !vsvm_user_pages_ok(args->start, args->size))
		return -EINVAL;
	vm = vsvm_vm_get_active(file, args->vm_id, &err);
	if (!vm)
		return err;
	err = vsvm_svm_set_attr(vm, args->start, args->start + args->size,
				args->attr, args->value);
	vsvm_vm_put_active(vm);
	return err;
}

static int vsvm_prefetch_ioctl(struct drm_device *drm, void *data,
			       struct drm_file *file)
{
	struct vsvm_device *vdev = to_vsvm_device(drm);
	struct drm_vsvm_prefetch *args = data;
	u32 devices = BIT(vdev->index);
	struct vsvm_vm *vm;
	unsigned int i;
	int err;

	if (!vsvm_user_pages_ok(args->start, args->size) ||
	    args->region > DRM_VSVM_LOC_DEVICE ||
	    args->devices >> vsvm_num_devices ||
	    (!vsvm_layout_shared && args->devices & ~(u64)devices))
		return -EINVAL;
	devices |= args->devices;
	if (args->region == DRM_VSVM_LOC_DEVICE) {
		if (!vdev->vram)
			return -EOPNOTSUPP;
		/* The others access its VRAM: only peers can. */
		for (i = 0; i < vsvm_num_devices; i++)
			if (devices & BIT(i) &&
			    vsvm_device_get_by_index(i)->page_owner !=
			    vdev->page_owner)
				return -EOPNOTSUPP;
	}
	vm = vsvm_vm_get_active(file, args->vm_id, &err);
	if (!vm)
		return err;
	err = vsvm_svm_prefetch(vm, args->start, args->start + args->size,
				args->region == DRM_VSVM_LOC_DEVICE ?
				VSVM_PLACE_DEVICE : VSVM_PLACE_SYSTEM, devices);
	vsvm_vm_put_active(vm);
	return err;
}

static int vsvm_userptr_create_ioctl(struct drm_device *drm, void *data,
				     struct drm_file *file)
{
	struct drm_vsvm_userptr_create *args = data;
	struct vsvm_vm *vm;
	int err;

	if (args->flags & ~DRM_VSVM_USERPTR_READ_ONLY || args->pad ||
	    !vsvm_user_pages_ok(args->addr, args->size) ||
	    args->size > VSVM_USERPTR_MAX_SIZE)
		return -EINVAL;
	vm = vsvm_vm_get_active(file, args->vm_id, &err);
	if (!vm)
		return err;
	err = vsvm_userptr_create(vm, args->addr, args->size,
				  args->flags & DRM_VSVM_USERPTR_READ_ONLY,
				  &args->handle);
	vsvm_vm_put_active(vm);
	return err;
}

static int vsvm_userptr_bind_ioctl(struct drm_device *drm, void *data,
				   struct drm_file *file)
{
	struct drm_vsvm_userptr_bind *args = data;
	struct vsvm_vm *vm;
	int err;

	if (args->reserved || !PAGE_ALIGNED(args->gpu_va))
		return -EINVAL;
	vm = vsvm_vm_get_active(file, args->vm_id, &err);
	if (!vm)
		return err;
	err = vsvm_userptr_bind(vm, args->handle, args->gpu_va);
	vsvm_vm_put_active(vm);
	return err;
}

static int vsvm_userptr_destroy_ioctl(struct drm_device *drm, void *data,
				      struct drm_file *file)
{
	struct drm_vsvm_userptr_destroy *args = data;
	struct vsvm_vm *vm;
	int err;

	vm = vsvm_vm_get_current(file, args->vm_id, &err);
	if (!vm)
		return err;
	/*
	 * No userptr has handle 0, and xa_erase() of index 0 would make it
	 * allocatable in the handle table (XA_FLAGS_ALLOC1).
	 */
	err = args->handle ? vsvm_userptr_destroy(vm, args->handle) : -ENOENT;
	vsvm_vm_put(vm);
	return err;
}

static int vsvm_stats_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file)
{
	struct drm_vsvm_stats *args = data;
	struct vsvm_svm *svm;
	struct vsvm_vm *vm;
	u32 vm_id = args->vm_id;

	if (args->pad || memchr_inv(args->reserved, 0, sizeof(args->reserved)))
		return -EINVAL;
	vm = vsvm_vm_get(file, vm_id);
	if (!vm)
		return -ENOENT;
	svm = vm->svm;
	memset(args, 0, sizeof(*args));
	args->vm_id = vm_id;
	args->svm_id = svm->id;
	args->faults = atomic64_read(&vm->stats.faults);
	args->fault_retries = atomic64_read(&vm->stats.fault_retries);
	args->fault_errors = atomic64_read(&vm->stats.fault_errors);
	args->pages_mapped = atomic64_read(&vm->stats.pages_mapped);
	args->jobs = atomic64_read(&vm->stats.jobs);
	args->bytes_moved = atomic64_read(&vm->stats.bytes_moved);
	args->invalidations = atomic64_read(&vm->stats.invalidations);
	args->userptr_faults = atomic64_read(&vm->stats.userptr_faults);
	args->ranges_created = atomic64_read(&svm->ranges_created);
	args->ranges_live = atomic64_read(&svm->ranges_live);
	args->gc_runs = atomic64_read(&svm->gc_runs);
	args->gc_ranges = atomic64_read(&svm->gc_ranges);
	vsvm_vram_stats(vm->vdev, args);
	vsvm_vm_put(vm);
	return 0;
}

/**
 * vsvm_vm_read_ioctl() - DRM_IOCTL_VSVM_VM_READ: read a VM's memory
 * @drm: the device
 * @data: the &struct drm_vsvm_vm_read
 * @file: the file
 *
 * The arguments are checked before the VM is looked up; the VM is held by
 * a reference only (see DOC: VM lifetime, DOC: CPU agent).
 *
 * Return: 0 or a negative errno (see &struct drm_vsvm_vm_read).
 */
static int vsvm_vm_read_ioctl(struct drm_device *drm, void *data,
			      struct drm_file *file)
{
	struct drm_vsvm_vm_read *args = data;
	struct vsvm_vm *vm;
	int err;

	if (args->flags || args->reserved || !args->size ||
	    args->size > DRM_VSVM_VM_READ_MAX_SIZE ||
	    !vsvm_user_range_ok(args->addr, args->size))
		return -EINVAL;
	vm = vsvm_vm_get_current(file, args->vm_id, &err);
	if (!vm)
		return err;
	err = vsvm_cpu_agent_read(vm, args->addr, args->size,
				  u64_to_user_ptr(args->data));
	vsvm_vm_put(vm);
	return err;
}

static const struct drm_ioctl_desc vsvm_ioctls[] = {
	DRM_IOCTL_DEF_DRV(VSVM_GET_INFO, vsvm_get_info_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_VM_CREATE, vsvm_vm_create_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_VM_DESTROY, vsvm_vm_destroy_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_EXEC, vsvm_exec_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_WAIT, vsvm_wait_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_SET_ATTR, vsvm_set_attr_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_PREFETCH, vsvm_prefetch_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_USERPTR_CREATE, vsvm_userptr_create_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_USERPTR_BIND, vsvm_userptr_bind_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_USERPTR_DESTROY, vsvm_userptr_destroy_ioctl,
			  DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_STATS, vsvm_stats_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(VSVM_VM_READ, vsvm_vm_read_ioctl, DRM_RENDER_ALLOW),
};

static int vsvm_open(struct drm_device *drm, struct drm_file *file)
{
	struct vsvm_file *vfile;

	vfile = kzalloc(sizeof(*vfile), GFP_KERNEL);
	if (!vfile)
		return -ENOMEM;
	vfile->vdev = to_vsvm_device(drm);
	xa_init_flags(&vfile->vms, XA_FLAGS_ALLOC1);
	file->driver_priv = vfile;
	return 0;
}

static void vsvm_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct vsvm_file *vfile = file->driver_priv;
	struct vsvm_vm *vm;
	unsigned long idx;

	xa_for_each(&vfile->vms, idx, vm) {
		xa_erase(&vfile->vms, idx);
		vsvm_vm_destroy(vm);
	}
	xa_destroy(&vfile->vms);
	kfree(vfile);
}

static void vsvm_counters_show(struct seq_file *m,
			       const struct vsvm_counters *c)
{
	s64 mapped = atomic64_read(&c->pages_mapped);

	seq_printf(m, "faults %lld retries %lld errors %lld userptr_faults %lld pages_mapped %lld bytes_mapped %lld invalidations %lld jobs %lld bytes_moved %lld",
		   atomic64_read(&c->faults), atomic64_read(&c->fault_retries),
		   atomic64_read(&c->fault_errors),
		   atomic64_read(&c->userptr_faults), mapped,
		   mapped << PAGE_SHIFT, atomic64_read(&c->invalidations),
		   atomic64_read(&c->jobs), atomic64_read(&c->bytes_moved));
}

static int vsvm_stats_show(struct seq_file *m, void *unused)
{
	struct vsvm_device *vdev = m->private;
	struct vsvm_vm *vm;

	struct drm_vsvm_stats vram = {};

	seq_printf(m, "device %u layout %s\ntotal: ", vdev->index,
		   vsvm_layout_shared ? "n:1" : "1:1");
	vsvm_counters_show(m, &vdev->stats);
	vsvm_vram_stats(vdev, &vram);
	seq_printf(m, "\nvram: size %llu used %llu pages_in %llu pages_out %llu evictions %llu\n",
		   vdev->vram ? (u64)vsvm_vram_mb << 20 : 0, vram.vram_used,
		   vram.vram_pages_in, vram.vram_pages_out, vram.vram_evictions);
	mutex_lock(&vdev->vms_lock);
	list_for_each_entry(vm, &vdev->vms, dev_link) {
		struct vsvm_svm *svm = vm->svm;

		seq_printf(m, "vm %u svm %llu ranges_live %lld ranges_created %lld gc_runs %lld gc_ranges %lld pt_leaves %lld ",
			   vm->id, svm->id, atomic64_read(&svm->ranges_live),
			   atomic64_read(&svm->ranges_created),
			   atomic64_read(&svm->gc_runs),
			   atomic64_read(&svm->gc_ranges),
			   atomic64_read(&vm->stats.pt_leaves));
		vsvm_counters_show(m, &vm->stats);
		seq_puts(m, "\n");
	}
	mutex_unlock(&vdev->vms_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vsvm_stats);

static void vsvm_debugfs_init(struct drm_minor *minor)
{
	debugfs_create_file("vsvm_stats", 0444, minor->debugfs_root,
			    to_vsvm_device(minor->dev), &vsvm_stats_fops);
	debugfs_create_u32("cpu_agent_delay_us", 0600, minor->debugfs_root,
			   &to_vsvm_device(minor->dev)->cpu_agent_delay_us);
	vsvm_vram_debugfs_init(to_vsvm_device(minor->dev), minor->debugfs_root);
}

static const struct file_operations vsvm_fops = {
	.owner = THIS_MODULE,
	.open = drm_open,
	.release = drm_release,
	.unlocked_ioctl = drm_ioctl,
	.compat_ioctl = drm_compat_ioctl,
	.poll = drm_poll,
	.read = drm_read,
	.llseek = noop_llseek,
};

static const struct drm_driver vsvm_drm_driver = {
	.driver_features = DRIVER_RENDER | DRIVER_SYNCOBJ |
			   DRIVER_SYNCOBJ_TIMELINE,
	.open = vsvm_open,
	.postclose = vsvm_postclose,
	.ioctls = vsvm_ioctls,
	.num_ioctls = ARRAY_SIZE(vsvm_ioctls),
	.fops = &vsvm_fops,
	.debugfs_init = vsvm_debugfs_init,
	.name = "vsvm",
	.desc = "virtual SVM GPU",
	.date = "20261124",
	.major = 1,
	.minor = 0,
};

static int vsvm_probe(struct platform_device *pdev)
{
	struct vsvm_device *vdev;
	int err;

	vdev = devm_drm_dev_alloc(&pdev->dev, &vsvm_drm_driver,
				  struct vsvm_device, drm);
	if (IS_ERR(vdev))
		return PTR_ERR(vdev);
	vdev->index = pdev->id;
	vdev->page_owner = vsvm_interconnect & BIT(vdev->index) ?
			   (void *)&vsvm_interconnect_owner : vdev;
	mutex_init(&vdev->vms_lock);
	INIT_LIST_HEAD(&vdev->vms);

	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err)
		return err;
	vdev->dma_bounces = is_swiotlb_force_bounce(&pdev->dev) ||
			    dma_addressing_limited(&pdev->dev);
	if (vdev->dma_bounces)
		drm_info(&vdev->drm, "DMA is bounce-buffered: no SVM on this device\n");
	err = vsvm_vram_init(vdev, (unsigned long)vsvm_vram_mb << 20);
	if (err)
		return err;
	err = vsvm_engine_start(vdev);
	if (err)
		return err;
	err = drm_dev_register(&vdev->drm, 0);
	if (err) {
		vsvm_engine_stop(vdev);
		return err;
	}
	err = vsvm_dmirror_register(vdev);
	if (err)
		goto err_unregister;
	err = vsvm_floor_register(vdev);
	if (err)
		goto err_dmirror;
	platform_set_drvdata(pdev, vdev);
	kernel_param_lock(THIS_MODULE);
	vsvm_devices[vdev->index] = vdev;
	kernel_param_unlock(THIS_MODULE);
	return 0;

err_dmirror:
	vsvm_dmirror_unregister(vdev);
err_unregister:
	drm_dev_unregister(&vdev->drm);
	vsvm_engine_stop(vdev);
	return err;
}

static int vsvm_remove(struct platform_device *pdev)
{
	struct vsvm_device *vdev = platform_get_drvdata(pdev);

	kernel_param_lock(THIS_MODULE);
	vsvm_devices[vdev->index] = NULL;
	kernel_param_unlock(THIS_MODULE);
	vsvm_floor_unregister(vdev);
	vsvm_dmirror_unregister(vdev);
	drm_dev_unregister(&vdev->drm);
	/* Before devres removes the pagemap: no device page may remain. */
	vsvm_vram_fini(vdev);
	vsvm_engine_stop(vdev);
	return 0;
}

static struct platform_driver vsvm_platform_driver = {
	.probe = vsvm_probe,
	.remove = vsvm_remove,
	.driver = {
		.name = "vsvm",
		/* Unbinding a device with open files would free it in use. */
		.suppress_bind_attrs = true,
	},
};

static void vsvm_destroy_devices(void)
{
	int i;

	for (i = VSVM_MAX_DEVICES - 1; i >= 0; i--) {
		if (vsvm_pdevs[i])
			platform_device_unregister(vsvm_pdevs[i]);
		vsvm_pdevs[i] = NULL;
	}
}

static int __init vsvm_init(void)
{
	unsigned int i;
	int err;

	if (!vsvm_num_devices || vsvm_num_devices > VSVM_MAX_DEVICES) {
		pr_err("vsvm: num_devices must be 1-%d\n", VSVM_MAX_DEVICES);
		return -EINVAL;
	}
	if (!strcmp(vsvm_layout, "n:1") || !strcmp(vsvm_layout, "N:1")) {
		vsvm_layout_shared = true;
	} else if (strcmp(vsvm_layout, "1:1")) {
		pr_err("vsvm: layout must be \"1:1\" or \"n:1\"\n");
		return -EINVAL;
	}
	if (vsvm_vram_mb % 2) {
		pr_err("vsvm: vram_size must be a multiple of 2 MiB\n");
		return -EINVAL;
	}
	if (!IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		vsvm_vram_mb = 0;
	if (!is_power_of_2(vsvm_notifier_size) || vsvm_notifier_size < SZ_2M) {
		pr_err("vsvm: notifier_size must be a power of two >= 2 MiB\n");
		return -EINVAL;
	}

	err = platform_driver_register(&vsvm_platform_driver);
	if (err)
		return err;
	for (i = 0; i < vsvm_num_devices; i++) {
		struct platform_device_info info = {
			.name = "vsvm",
			.id = i,
			.dma_mask = DMA_BIT_MASK(64),
		};

		vsvm_pdevs[i] = platform_device_register_full(&info);
		if (IS_ERR(vsvm_pdevs[i])) {
			err = PTR_ERR(vsvm_pdevs[i]);
			vsvm_pdevs[i] = NULL;
			goto err_devices;
		}
		if (!vsvm_devices[i]) {	/* probe failed */
			err = -ENODEV;
			goto err_devices;
		}
	}
	pr_info("vsvm: %u devices, layout %s, notifier size %lu MiB, VRAM %u MiB each\n",
		vsvm_num_devices, vsvm_layout_shared ? "n:1" : "1:1",
		vsvm_notifier_size >> 20, vsvm_vram_mb);
	return 0;

err_devices:
	vsvm_destroy_devices();
	platform_driver_unregister(&vsvm_platform_driver);
	return err;
}

static void __exit vsvm_exit(void)
{
	vsvm_destroy_devices();
	platform_driver_unregister(&vsvm_platform_driver);
}

module_init(vsvm_init);
module_exit(vsvm_exit);

MODULE_DESCRIPTION("vsvm: virtual SVM GPU, reference driver of drm_gpusvm");
MODULE_LICENSE("Dual MIT/GPL");
