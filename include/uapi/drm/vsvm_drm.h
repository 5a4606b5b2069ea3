/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * vsvm: UAPI of the virtual SVM GPU.
 */
#ifndef _UAPI_VSVM_DRM_H_
#define _UAPI_VSVM_DRM_H_

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

/**
 * DOC: Overview
 *
 * A vsvm device is a GPU whose engine runs in software. Each open file creates
 * GPU VMs; a VM mirrors the address space of the process that created it
 * (system-allocator mode): GPU VA == CPU VA, and any pointer of the process is
 * valid in jobs without registration. Jobs run on the device's engine; a job
 * touching memory the GPU has not mapped takes a GPU page fault that the
 * driver services through drm_gpusvm.
 *
 * Memory: what the GPU faults in for a process (system pages, and VRAM pages
 * its data migrates to) and what the driver allocates for it (VMs, GPU page
 * tables, ranges, userptrs, submissions) are charged to the memory cgroup
 * of the process, as its own page faults are. A GPU fault that would take
 * the cgroup over its memory.max invokes the cgroup's OOM killer, as a CPU
 * fault would: the process is killed (SIGKILL), and its jobs never report
 * a status. A killed process's VMs, jobs and VRAM go with it.
 */

/**
 * DOC: Errors and extensibility
 *
 * Every ioctl checks its flags and reserved fields (must be zero), sizes and
 * address overflow; errors are -EINVAL (bad argument), -ENOENT (unknown VM
 * or userptr handle, or syncobj), -EFAULT (bad user pointer), -ENOMEM,
 * -EBUSY (too many submissions outstanding), -EACCES (the VM belongs to
 * another process), -ETIME (wait timed out).
 *
 * Rules that keep the UAPI extensible (as in xe and amdgpu): an ioctl fails
 * with -EINVAL when a flag it does not know is set, when a pad or reserved
 * field is not zero, and when a field its operation does not use is not zero
 * (e.g. &drm_vsvm_job.src of a fill), so that any of them can get a meaning
 * later. Out fields are ignored on input. These checks, the extension chain
 * and an exec's jobs are checked before the ioctl looks up its VM or handle:
 * such a call fails with -EINVAL (-EFAULT for a pointer it cannot read)
 * whatever its ids.
 *
 * Structs likely to grow have an ``extensions`` field: a user pointer to a
 * chain of &struct drm_vsvm_user_extension, or 0. An extension the ioctl does
 * not know fails it with -EINVAL (-EFAULT if unreadable). Defined:
 * %DRM_VSVM_EXT_EXEC_SYNCS (EXEC only).
 *
 * Fields appended to a struct later are zero for older binaries (the DRM core
 * zero-fills a shorter struct), but an older kernel ignores the bytes of a
 * longer struct beyond its own: user space checks &drm_vsvm_info.version
 * before using a field newer than the kernel.
 */

/**
 * DOC: Ioctls
 *
 * The ioctls of a vsvm render node, each with its argument:
 *
 * - %DRM_IOCTL_VSVM_GET_INFO: the device's index, layout, UAPI version and
 *   limits (&struct drm_vsvm_info).
 * - %DRM_IOCTL_VSVM_VM_CREATE and %DRM_IOCTL_VSVM_VM_DESTROY: a GPU VM
 *   mirroring the calling process (&struct drm_vsvm_vm_create,
 *   &struct drm_vsvm_vm_destroy).
 * - %DRM_IOCTL_VSVM_EXEC: run jobs on the device's engine, synchronously or
 *   not, waiting for and signalling syncobjs (&struct drm_vsvm_exec,
 *   &struct drm_vsvm_job, &struct drm_vsvm_ext_exec_syncs,
 *   &struct drm_vsvm_sync).
 * - %DRM_IOCTL_VSVM_WAIT: wait for an asynchronous submission and collect
 *   its jobs' results (&struct drm_vsvm_wait).
 * - %DRM_IOCTL_VSVM_SET_ATTR: a VA attribute of an interval, read-only or
 *   preferred location (&struct drm_vsvm_set_attr).
 * - %DRM_IOCTL_VSVM_PREFETCH: fault an interval in ahead of use, into system
 *   memory or VRAM, for one device or several (&struct drm_vsvm_prefetch).
 * - %DRM_IOCTL_VSVM_USERPTR_CREATE, %DRM_IOCTL_VSVM_USERPTR_BIND and
 *   %DRM_IOCTL_VSVM_USERPTR_DESTROY: a user buffer mirrored as a GPU object
 *   and bound at a GPU VA of its choice (&struct drm_vsvm_userptr_create,
 *   &struct drm_vsvm_userptr_bind, &struct drm_vsvm_userptr_destroy).
 * - %DRM_IOCTL_VSVM_STATS: the counters of a VM (&struct drm_vsvm_stats).
 * - %DRM_IOCTL_VSVM_VM_READ: read a VM's memory as the device's CPU agent,
 *   the way a GPU debugger does (&struct drm_vsvm_vm_read).
 */

#define DRM_VSVM_GET_INFO		0x00
#define DRM_VSVM_VM_CREATE		0x01
#define DRM_VSVM_VM_DESTROY		0x02
#define DRM_VSVM_EXEC			0x03
#define DRM_VSVM_WAIT			0x04
#define DRM_VSVM_SET_ATTR		0x05
#define DRM_VSVM_PREFETCH		0x06
#define DRM_VSVM_USERPTR_CREATE		0x07
#define DRM_VSVM_USERPTR_BIND		0x08
#define DRM_VSVM_USERPTR_DESTROY	0x09
#define DRM_VSVM_STATS			0x0a
#define DRM_VSVM_VM_READ		0x0b

#define DRM_IOCTL_VSVM_GET_INFO \
	DRM_IOR(DRM_COMMAND_BASE + DRM_VSVM_GET_INFO, struct drm_vsvm_info)
#define DRM_IOCTL_VSVM_VM_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VSVM_VM_CREATE, struct drm_vsvm_vm_create)
#define DRM_IOCTL_VSVM_VM_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_VM_DESTROY, struct drm_vsvm_vm_destroy)
#define DRM_IOCTL_VSVM_EXEC \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VSVM_EXEC, struct drm_vsvm_exec)
#define DRM_IOCTL_VSVM_WAIT \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_WAIT, struct drm_vsvm_wait)
#define DRM_IOCTL_VSVM_SET_ATTR \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_SET_ATTR, struct drm_vsvm_set_attr)
#define DRM_IOCTL_VSVM_PREFETCH \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_PREFETCH, struct drm_vsvm_prefetch)
#define DRM_IOCTL_VSVM_USERPTR_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VSVM_USERPTR_CREATE, \
		 struct drm_vsvm_userptr_create)
#define DRM_IOCTL_VSVM_USERPTR_BIND \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_USERPTR_BIND, \
		struct drm_vsvm_userptr_bind)
#define DRM_IOCTL_VSVM_USERPTR_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_USERPTR_DESTROY, \
		struct drm_vsvm_userptr_destroy)
#define DRM_IOCTL_VSVM_STATS \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VSVM_STATS, struct drm_vsvm_stats)
#define DRM_IOCTL_VSVM_VM_READ \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VSVM_VM_READ, struct drm_vsvm_vm_read)

/**
 * DRM_VSVM_UAPI_VERSION - &drm_vsvm_info.version of this UAPI
 *
 * 0: the first UAPI (the field was padding). 1: the rules above are
 * enforced, &drm_vsvm_vm_create.extensions and &drm_vsvm_exec.extensions
 * exist. 2: submissions go through the GPU scheduler: fair between VMs,
 * time-sliced, a job timeout (-ETIME), at most 64 submissions pending per VM
 * (-EBUSY), and the %DRM_VSVM_EXT_EXEC_SYNCS extension (syncobjs, the
 * device supports DRIVER_SYNCOBJ and DRIVER_SYNCOBJ_TIMELINE). 3:
 * &drm_vsvm_prefetch.devices (it was the reserved field) and
 * DRM_IOCTL_VSVM_VM_READ (&struct drm_vsvm_vm_read).
 */
#define DRM_VSVM_UAPI_VERSION	3

/**
 * struct drm_vsvm_user_extension - one link of an extension chain
 * @next_extension: user pointer to the next link, 0 ends the chain
 * @name: which extension this is (its struct starts with this one): a
 *        DRM_VSVM_EXT_* the ioctl knows, -EINVAL otherwise
 * @pad: zero
 */
struct drm_vsvm_user_extension {
	__u64 next_extension;
	__u32 name;
	__u32 pad;
};

/** How the driver lays out its GPU SVMs (module parameter "layout"). */
#define DRM_VSVM_LAYOUT_1TO1	0	/* one drm_gpusvm per VM */
#define DRM_VSVM_LAYOUT_NTO1	1	/* one drm_gpusvm per process, all devices */

/**
 * struct drm_vsvm_info - device information (DRM_IOCTL_VSVM_GET_INFO)
 * @index: this device's index among the vsvm devices
 * @num_devices: number of vsvm devices
 * @layout: %DRM_VSVM_LAYOUT_1TO1 (one GPU SVM per VM) or
 *          %DRM_VSVM_LAYOUT_NTO1 (one GPU SVM per process, shared by the
 *          VMs it has on every device)
 * @version: the UAPI version the kernel implements: %DRM_VSVM_UAPI_VERSION
 *           or lower
 * @notifier_size: size of the GPU SVM notifier windows, in bytes
 * @vram_size: bytes of device memory (0: none)
 * @max_jobs: most jobs in one DRM_IOCTL_VSVM_EXEC
 * @max_inflight: most asynchronous submissions outstanding per VM
 * @reserved: zero
 */
struct drm_vsvm_info {
	__u32 index;
	__u32 num_devices;
	__u32 layout;
	__u32 version;
	__u64 notifier_size;
	__u64 vram_size;
	__u32 max_jobs;
	__u32 max_inflight;
	__u64 reserved[4];
};

/**
 * struct drm_vsvm_vm_create - create a GPU VM mirroring the caller's mm
 *
 * A file holds at most 64 VMs (-ENOSPC beyond).
 *
 * Fails with -EOPNOTSUPP on a device whose DMA is bounce-buffered (swiotlb
 * forced, as in confidential guests, or a DMA mask that cannot reach all
 * memory): the device and the CPU would not share memory.
 *
 * @flags: zero
 * @vm_id: out: the VM's id (never 0)
 * @extensions: user pointer to a chain of &struct drm_vsvm_user_extension,
 *              or 0 (was a reserved zero field before UAPI version 1)
 */
struct drm_vsvm_vm_create {
	__u32 flags;
	__u32 vm_id;
	__u64 extensions;
};

/**
 * struct drm_vsvm_vm_destroy - destroy a GPU VM
 * @vm_id: the VM
 * @pad: zero
 *
 * Jobs of the VM still queued or running are cancelled (-ECANCELED): the
 * running one stops at its next page, the queued ones do not run. VM_DESTROY
 * waits for none of it and returns at once; a synchronous exec or a WAIT of
 * the VM already in progress returns when the submission completes, with
 * the jobs' statuses. A submission still waiting for a syncobj completes
 * (cancelled) once that fence signalled.
 * Ioctls adding to the VM (SET_ATTR, PREFETCH, USERPTR_CREATE, USERPTR_BIND)
 * that run meanwhile finish before the VM is torn down; every ioctl on the
 * VM after VM_DESTROY fails with -ENOENT.
 */
struct drm_vsvm_vm_destroy {
	__u32 vm_id;
	__u32 pad;
};

/* Job operations. Addresses are GPU VAs (== CPU VAs of the VM's process). */
#define DRM_VSVM_OP_COPY	1	/* dst[0..size) = src[0..size) */
#define DRM_VSVM_OP_FILL	2	/* dst[0..size) = (u8)value */
#define DRM_VSVM_OP_CHECKSUM	3	/* result = FNV-1a 64 of src[0..size) */
#define DRM_VSVM_OP_ATOMIC_ADD	4	/* each u64 of dst[0..size) += value */

/**
 * struct drm_vsvm_job - one job of an exec
 * @op: %DRM_VSVM_OP_COPY (copy @size bytes from @src to @dst),
 *      %DRM_VSVM_OP_FILL (set the @size bytes at @dst to the byte @value),
 *      %DRM_VSVM_OP_CHECKSUM (@result: the 64-bit FNV-1a hash of the @size
 *      bytes at @src) or %DRM_VSVM_OP_ATOMIC_ADD (add @value to each u64
 *      of the @size bytes at @dst, atomically)
 * @flags: zero
 * @dst: destination GPU VA (COPY, FILL, ATOMIC_ADD; 8-byte aligned there);
 *       zero for CHECKSUM
 * @src: source GPU VA (COPY, CHECKSUM); zero for FILL and ATOMIC_ADD
 * @size: bytes (a multiple of 8 for ATOMIC_ADD); 0 is a no-op
 * @value: FILL byte (0..255) or ATOMIC_ADD addend; zero for COPY and
 *         CHECKSUM
 * @status: out: 0, or why the job failed: -EFAULT (no CPU mapping at
 *          @fault_addr; for a userptr also memory the GPU cannot mirror),
 *          -EACCES (write to memory the CPU or a VA attribute made
 *          read-only), -EPERM (memory the GPU cannot mirror: VM_IO,
 *          VM_PFNMAP, special mappings such as the vDSO, PROT_NONE,
 *          memfd_secret(), userfaultfd-registered memory), -EBUSY (the
 *          fault kept racing invalidations), -ETIME (the submission timed
 *          out while this job ran), -ECANCELED (an earlier job failed, the
 *          submission timed out before this job, or the VM went away),
 *          -ENOMEM
 * @pad: zero
 * @fault_addr: out: the GPU VA of the unrecoverable fault
 * @result: out: the CHECKSUM result
 */
struct drm_vsvm_job {
	__u32 op;
	__u32 flags;
	__u64 dst;
	__u64 src;
	__u64 size;
	__u64 value;
	__s32 status;
	__u32 pad;
	__u64 fault_addr;
	__u64 result;
};

#define DRM_VSVM_EXEC_ASYNC	(1u << 0)	/* return at once; see WAIT */

/* &drm_vsvm_sync.flags: exactly one of them */
#define DRM_VSVM_SYNC_WAIT	(1u << 0)	/* run after the fence signals */
#define DRM_VSVM_SYNC_SIGNAL	(1u << 1)	/* signal when the exec completes */

/**
 * struct drm_vsvm_sync - a syncobj an exec waits for or signals
 * @handle: the syncobj (DRM_IOCTL_SYNCOBJ_CREATE on the same file)
 * @flags: %DRM_VSVM_SYNC_WAIT or %DRM_VSVM_SYNC_SIGNAL
 * @timeline_point: 0 for a binary syncobj; else the timeline point
 * @reserved: zero
 *
 * WAIT: the submission runs only after the syncobj's fence (of
 * @timeline_point) signalled, whatever its error. The fence must be there
 * when the exec is made: a binary syncobj without one, or a point nobody
 * submitted yet, fails the exec with -EINVAL.
 *
 * SIGNAL: the syncobj gets the submission's completion fence: in place of
 * its fence for a binary syncobj, as point @timeline_point of a timeline.
 * It signals when the exec completes (when a synchronous exec would
 * return), with an error if a job failed (its status), the submission timed
 * out (-ETIME) or its VM was destroyed (-ECANCELED).
 */
struct drm_vsvm_sync {
	__u32 handle;
	__u32 flags;
	__u64 timeline_point;
	__u64 reserved;
};

/** &drm_vsvm_user_extension.name of &struct drm_vsvm_ext_exec_syncs */
#define DRM_VSVM_EXT_EXEC_SYNCS	1

/**
 * struct drm_vsvm_ext_exec_syncs - exec extension: syncobjs (UAPI version 2)
 * @base: the chain link, name %DRM_VSVM_EXT_EXEC_SYNCS
 * @num_syncs: number of syncs at @syncs (1..64)
 * @pad: zero
 * @syncs: user pointer to an array of &struct drm_vsvm_sync
 *
 * At most one per exec (a second one fails with -EINVAL). Flags and
 * reserved fields are checked with the rest of the arguments, before the VM
 * lookup; handles after it: an unknown one fails with -ENOENT. A failed exec
 * changes no syncobj.
 */
struct drm_vsvm_ext_exec_syncs {
	struct drm_vsvm_user_extension base;
	__u32 num_syncs;
	__u32 pad;
	__u64 syncs;
};

/**
 * struct drm_vsvm_exec - run jobs on the device's engine
 * @vm_id: the VM
 * @flags: 0, or %DRM_VSVM_EXEC_ASYNC: return once the submission is
 *         queued and collect it with DRM_IOCTL_VSVM_WAIT
 * @num_jobs: number of jobs at @jobs (1..max_jobs)
 * @pad: zero
 * @jobs: user pointer to an array of &struct drm_vsvm_job; the out fields
 *        are written back when the submission completes (at the end of a
 *        synchronous exec, or by a successful DRM_IOCTL_VSVM_WAIT)
 * @seqno: out: the submission's sequence number in the VM
 * @extensions: user pointer to a chain of &struct drm_vsvm_user_extension,
 *              or 0 (appended in UAPI version 1: older binaries pass the
 *              struct without it, which the DRM core zero-fills)
 *
 * Every job is checked before any runs: one malformed job fails the ioctl
 * with -EINVAL and nothing runs. Jobs run in order; after a failed job the
 * rest are cancelled. The ioctl's return value only tells whether the
 * submission was accepted (and, when synchronous, completed): the jobs' own
 * results are in their @status.
 *
 * The submissions of a VM run in order; the device's GPU scheduler takes
 * the VMs in turn, and its engine time-slices the submissions of different
 * VMs, so a long submission does not hold up another VM's short one. A
 * submission still on the engine job_timeout_ms (vsvm module parameter,
 * default 30000, 0: none) after it started is cancelled: its running job
 * ends with -ETIME, the later ones with -ECANCELED; the VM stays usable. A
 * VM has at most 64 submissions queued or running (synchronous ones
 * included): the exec fails with -EBUSY beyond (and beyond max_inflight
 * asynchronous submissions not yet waited for). A synchronous exec waits
 * killably: only a fatal signal interrupts it.
 */
struct drm_vsvm_exec {
	__u32 vm_id;
	__u32 flags;
	__u32 num_jobs;
	__u32 pad;
	__u64 jobs;
	__u64 seqno;
	__u64 extensions;
};

/**
 * struct drm_vsvm_wait - wait for an asynchronous submission
 * @vm_id: the VM
 * @flags: zero
 * @seqno: the submission (from &drm_vsvm_exec.seqno)
 * @timeout_ns: how long to wait; 0 polls
 *
 * On success the submission's job results are copied to its job array and
 * the submission is released (a second wait returns -ENOENT). -ETIME when
 * it is still running at the timeout. The wait is interruptible: a signal
 * ends it with -EINTR, or restarts it with the whole timeout when the
 * signal's handler has SA_RESTART.
 */
struct drm_vsvm_wait {
	__u32 vm_id;
	__u32 flags;
	__u64 seqno;
	__s64 timeout_ns;
};

#define DRM_VSVM_ATTR_READ_ONLY		1	/* value: 0 or 1 */
#define DRM_VSVM_ATTR_PREFERRED_LOC	2	/* value: DRM_VSVM_LOC_* */

#define DRM_VSVM_LOC_SYSTEM	0	/* system memory */
#define DRM_VSVM_LOC_DEVICE	1	/* the VM's device's VRAM (-EOPNOTSUPP without) */

/**
 * struct drm_vsvm_set_attr - set an attribute on a VA interval of a VM
 * @vm_id: the VM
 * @attr: %DRM_VSVM_ATTR_READ_ONLY or %DRM_VSVM_ATTR_PREFERRED_LOC
 * @start: page-aligned start
 * @size: page-aligned size (non-zero)
 * @value: the attribute's value: 0 or 1 for %DRM_VSVM_ATTR_READ_ONLY;
 *         %DRM_VSVM_LOC_SYSTEM or %DRM_VSVM_LOC_DEVICE (the VM's
 *         device's VRAM, -EOPNOTSUPP without) for
 *         %DRM_VSVM_ATTR_PREFERRED_LOC
 * @reserved: zero
 *
 * GPU mappings of the interval are dropped and fault again under the new
 * attribute. With DRM_VSVM_ATTR_READ_ONLY the GPU can read but not write the
 * interval (a write fails the job with -EACCES).
 */
struct drm_vsvm_set_attr {
	__u32 vm_id;
	__u32 attr;
	__u64 start;
	__u64 size;
	__u64 value;
	__u64 reserved;
};

/**
 * struct drm_vsvm_prefetch - fault a VA interval into the GPU ahead of use
 * @vm_id: the VM
 * @region: where the pages should be: %DRM_VSVM_LOC_SYSTEM or
 *          %DRM_VSVM_LOC_DEVICE
 * @start: page-aligned start
 * @size: page-aligned size (non-zero)
 * @devices: 0 for the VM's device alone, or a mask of vsvm devices (bit i:
 *           device i, as &drm_vsvm_info.index numbers them) to map the
 *           interval for too (UAPI version 3; zero before)
 *
 * Fails with the first error a GPU fault in the interval would have given
 * (-EFAULT for a hole).
 *
 * The ranges a prefetch creates lie within the interval (a GPU fault's may
 * grow around the faulting address, up to 2 MiB): with
 * %DRM_VSVM_LOC_DEVICE, the pages that move are the interval's, plus those
 * of any range a GPU fault created across its edges.
 *
 * Several devices (the N:1 layout only, where one GPU SVM serves the VMs the
 * process has on every device): the pages are faulted once and DMA-mapped
 * for each device named, and the interval is bound in the VM and in every VM
 * the process has on the other devices named, so that none of them faults on
 * it. With
 * %DRM_VSVM_LOC_DEVICE the pages move to the VM's device's VRAM, which the
 * other devices named then access directly: they must be its peers on one
 * interconnect (the module parameter ``interconnect``). Fails with -EINVAL
 * for a bit beyond &drm_vsvm_info.num_devices or, in the 1:1 layout, for any
 * device but the VM's; -EOPNOTSUPP for %DRM_VSVM_LOC_DEVICE naming a device
 * that is not such a peer; -ENOENT when the process has no VM on a device
 * named (checked with the VM, before any work).
 */
struct drm_vsvm_prefetch {
	__u32 vm_id;
	__u32 region;
	__u64 start;
	__u64 size;
	__u64 devices;
};

#define DRM_VSVM_USERPTR_READ_ONLY	(1u << 0)

/**
 * struct drm_vsvm_userptr_create - mirror a user buffer as a GPU object
 * @vm_id: the VM (its process owns the memory)
 * @flags: 0, or %DRM_VSVM_USERPTR_READ_ONLY: the GPU may only read the
 *         buffer (a write fails the job with -EACCES)
 * @addr: page-aligned CPU address
 * @size: page-aligned size (non-zero, at most 256 MiB)
 * @handle: out: the userptr's handle (never 0)
 * @pad: zero
 *
 * The object is a pages object of the GPU SVM without any range, validated
 * by an MMU interval notifier of its own. A VM holds at most 1024 userptrs
 * (-ENOSPC beyond).
 */
struct drm_vsvm_userptr_create {
	__u32 vm_id;
	__u32 flags;
	__u64 addr;
	__u64 size;
	__u32 handle;
	__u32 pad;
};

/**
 * struct drm_vsvm_userptr_bind - bind a userptr at a GPU VA of its VM
 * @vm_id: the VM
 * @handle: the userptr
 * @gpu_va: page-aligned GPU VA; the userptr then backs
 *          [gpu_va, gpu_va + size), in place of the process's own memory
 *          there. A new bind replaces the previous one.
 * @reserved: zero
 */
struct drm_vsvm_userptr_bind {
	__u32 vm_id;
	__u32 handle;
	__u64 gpu_va;
	__u64 reserved;
};

/**
 * struct drm_vsvm_userptr_destroy - unbind and destroy a userptr
 * @vm_id: the VM
 * @handle: the userptr
 */
struct drm_vsvm_userptr_destroy {
	__u32 vm_id;
	__u32 handle;
};

/**
 * struct drm_vsvm_stats - counters of a VM (DRM_IOCTL_VSVM_STATS)
 * @vm_id: in: the VM
 * @pad: zero
 * @svm_id: identifies the VM's GPU SVM: VMs sharing one (N:1) report the
 *          same id
 * @faults: GPU page faults serviced
 * @fault_retries: faults retried after racing an invalidation
 * @fault_errors: faults that failed their job
 * @pages_mapped: 4 KiB GPU PTEs valid now
 * @jobs: jobs completed (successfully or not)
 * @bytes_moved: bytes the engine read or wrote
 * @invalidations: ranges or userptrs invalidated (GPU PTEs zapped)
 * @ranges_created: ranges created in the GPU SVM
 * @ranges_live: ranges in the GPU SVM now
 * @gc_runs: garbage-collector passes that removed ranges
 * @gc_ranges: ranges removed by the garbage collector
 * @userptr_faults: faults serviced from a userptr
 * @vram_pages_in: pages migrated into the device's VRAM (device-wide)
 * @vram_pages_out: pages copied from the device's VRAM back to system
 *                  memory (device-wide)
 * @vram_evictions: VRAM blocks evicted under pressure (device-wide)
 * @vram_used: bytes of the device's VRAM allocated now
 * @reserved: zero
 *
 * @ranges_created, @ranges_live, @gc_runs and @gc_ranges count the GPU SVM
 * (shared by every VM of the process in the N:1 layout).
 */
struct drm_vsvm_stats {
	__u32 vm_id;
	__u32 pad;
	__u64 svm_id;
	__u64 faults;
	__u64 fault_retries;
	__u64 fault_errors;
	__u64 pages_mapped;
	__u64 jobs;
	__u64 bytes_moved;
	__u64 invalidations;
	__u64 ranges_created;
	__u64 ranges_live;
	__u64 gc_runs;
	__u64 gc_ranges;
	__u64 userptr_faults;
	__u64 vram_pages_in;
	__u64 vram_pages_out;
	__u64 vram_evictions;
	__u64 vram_used;
	__u64 reserved[2];
};

/**
 * DRM_VSVM_VM_READ_MAX_SIZE - the most bytes one DRM_IOCTL_VSVM_VM_READ reads
 */
#define DRM_VSVM_VM_READ_MAX_SIZE	(1u << 20)

/**
 * struct drm_vsvm_vm_read - read a VM's memory as the device's CPU agent
 * @vm_id: the VM
 * @flags: zero
 * @addr: the first byte, a CPU (== GPU) VA of the VM's process, any
 *        alignment
 * @size: bytes, 1 .. %DRM_VSVM_VM_READ_MAX_SIZE; [@addr, @addr + @size) in
 *        user space
 * @data: user pointer to @size bytes the read writes
 * @reserved: zero
 *
 * Reads the bytes of [@addr, @addr + @size) of the VM's process as a CPU
 * access would see them at the time of the read, the way a GPU debugger
 * reads a VM: each page's bytes are those of one moment at which the page
 * was mapped there (a page is never torn by a remap, nor read after the
 * process let it go), but pages are not read all at once. The device's own
 * engine plays no part: data the device placed in device memory (VRAM) is
 * migrated back to system memory first, as a CPU access would, and read
 * there. Read-only memory is readable; nothing is written to the VM's
 * memory. Userptr bindings play no part: @addr is the process's own
 * address. (UAPI version 3.)
 *
 * Errors: -EINVAL (@flags or @reserved not zero, @size 0 or above
 * %DRM_VSVM_VM_READ_MAX_SIZE, the interval wraps or leaves user space),
 * -ENOENT (unknown VM), -EACCES (the VM belongs to another process), -EFAULT
 * (a hole or memory a device cannot mirror in the interval: unmapped,
 * PROT_NONE, I/O and special mappings; or @data not writable), -EBUSY (the
 * memory kept changing under the read), -EINTR (fatal signal), -ENOMEM. On
 * failure the content of @data is undefined.
 */
struct drm_vsvm_vm_read {
	__u32 vm_id;
	__u32 flags;
	__u64 addr;
	__u64 size;
	__u64 data;
	__u64 reserved;
};

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_VSVM_DRM_H_ */
