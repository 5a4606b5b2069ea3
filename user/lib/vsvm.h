/* SPDX-License-Identifier: MIT */
/*
 * libvsvm: a small user-space library over the vsvm UAPI (through libdrm),
 * used by the selftests, the demo and the benchmarks.
 *
 * Every function returns 0 or a negative errno. Job helpers return the job's
 * own status: 0, or why the GPU could not do it (-EFAULT, -EACCES, ...),
 * with the faulting address in vsvm_last_fault_addr().
 */
#ifndef VSVM_LIB_H
#define VSVM_LIB_H

#include <stddef.h>
#include <stdint.h>

#include "vsvm_drm.h"

/** An open vsvm device (a render node). */
struct vsvm_dev {
	int fd;
	struct drm_vsvm_info info;
};

/* Devices */
int vsvm_num_devices(void);
int vsvm_open(unsigned int index, struct vsvm_dev *dev);
void vsvm_close(struct vsvm_dev *dev);
const char *vsvm_layout_name(uint32_t layout);

/* VMs */
int vsvm_vm_create(struct vsvm_dev *dev, uint32_t *vm_id);
int vsvm_vm_destroy(struct vsvm_dev *dev, uint32_t vm_id);

/* Jobs: raw submission */
int vsvm_exec(struct vsvm_dev *dev, uint32_t vm_id, struct drm_vsvm_job *jobs,
	      unsigned int num_jobs);
int vsvm_submit(struct vsvm_dev *dev, uint32_t vm_id,
		struct drm_vsvm_job *jobs, unsigned int num_jobs,
		uint64_t *seqno);
int vsvm_exec_syncs(struct vsvm_dev *dev, uint32_t vm_id,
		    struct drm_vsvm_job *jobs, unsigned int num_jobs,
		    uint32_t flags, const struct drm_vsvm_sync *syncs,
		    unsigned int num_syncs, uint64_t *seqno);
int vsvm_wait(struct vsvm_dev *dev, uint32_t vm_id, uint64_t seqno,
	      int64_t timeout_ns);
int vsvm_jobs_status(const struct drm_vsvm_job *jobs, unsigned int num_jobs);

/* Jobs: one operation each, run synchronously */
int vsvm_copy(struct vsvm_dev *dev, uint32_t vm_id, void *dst,
	      const void *src, size_t size);
int vsvm_fill(struct vsvm_dev *dev, uint32_t vm_id, void *dst, uint8_t value,
	      size_t size);
int vsvm_checksum(struct vsvm_dev *dev, uint32_t vm_id, const void *src,
		  size_t size, uint64_t *sum);
int vsvm_atomic_add(struct vsvm_dev *dev, uint32_t vm_id, uint64_t *dst,
		    size_t count, uint64_t value);
uint64_t vsvm_last_fault_addr(void);

/* The checksum the engine computes, on the CPU (FNV-1a 64) */
uint64_t vsvm_fnv1a(const void *data, size_t size);

/* VA attributes and prefetch */
int vsvm_set_attr(struct vsvm_dev *dev, uint32_t vm_id, void *start,
		  size_t size, uint32_t attr, uint64_t value);
int vsvm_prefetch(struct vsvm_dev *dev, uint32_t vm_id, void *start,
		  size_t size, uint32_t region);
/* Prefetch mapped for the devices of @devices too (N:1 layout). */
int vsvm_prefetch_devices(struct vsvm_dev *dev, uint32_t vm_id, void *start,
			  size_t size, uint32_t region, uint64_t devices);

/* Userptr */
int vsvm_userptr_create(struct vsvm_dev *dev, uint32_t vm_id, void *addr,
			size_t size, uint32_t flags, uint32_t *handle);
int vsvm_userptr_bind(struct vsvm_dev *dev, uint32_t vm_id, uint32_t handle,
		      uint64_t gpu_va);
int vsvm_userptr_destroy(struct vsvm_dev *dev, uint32_t vm_id,
			 uint32_t handle);

/* Counters */
int vsvm_stats(struct vsvm_dev *dev, uint32_t vm_id,
	       struct drm_vsvm_stats *stats);

/*
 * The CPU agent: read @size bytes (1 .. DRM_VSVM_VM_READ_MAX_SIZE) of the
 * VM's memory at @addr into @data, as a CPU access would see them
 */
int vsvm_vm_read(struct vsvm_dev *dev, uint32_t vm_id, const void *addr,
		 void *data, size_t size);

#endif
