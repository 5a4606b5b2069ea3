// SPDX-License-Identifier: MIT
/*
 * libvsvm: see vsvm.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <xf86drm.h>

#include "vsvm.h"

#define RENDER_MINOR_FIRST	128
#define RENDER_MINOR_LAST	191

static __thread uint64_t last_fault_addr;

static int vsvm_ioctl(int fd, unsigned long request, void *arg)
{
	return drmIoctl(fd, request, arg) ? -errno : 0;
}

/* Open render node @minor if it is a vsvm device. */
static int open_vsvm_node(int minor, struct vsvm_dev *dev)
{
	char path[64];
	drmVersionPtr ver;
	int fd, err;

	snprintf(path, sizeof(path), "/dev/dri/renderD%d", minor);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ver = drmGetVersion(fd);
	if (!ver || strcmp(ver->name, "vsvm")) {
		if (ver)
			drmFreeVersion(ver);
		close(fd);
		return -ENODEV;
	}
	drmFreeVersion(ver);
	memset(dev, 0, sizeof(*dev));
	dev->fd = fd;
	err = vsvm_ioctl(fd, DRM_IOCTL_VSVM_GET_INFO, &dev->info);
	if (err)
		close(fd);
	return err;
}

/** vsvm_num_devices() - number of vsvm devices, or a negative errno */
int vsvm_num_devices(void)
{
	struct vsvm_dev dev;
	int minor, n;

	for (minor = RENDER_MINOR_FIRST; minor <= RENDER_MINOR_LAST; minor++) {
		if (open_vsvm_node(minor, &dev))
			continue;
		n = dev.info.num_devices;
		vsvm_close(&dev);
		return n;
	}
	return -ENODEV;
}

/** vsvm_open() - open the vsvm device of index @index */
int vsvm_open(unsigned int index, struct vsvm_dev *dev)
{
	int minor;

	for (minor = RENDER_MINOR_FIRST; minor <= RENDER_MINOR_LAST; minor++) {
		if (open_vsvm_node(minor, dev))
			continue;
		if (dev->info.index == index)
			return 0;
		vsvm_close(dev);
	}
	return -ENODEV;
}

void vsvm_close(struct vsvm_dev *dev)
{
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
}

const char *vsvm_layout_name(uint32_t layout)
{
	return layout == DRM_VSVM_LAYOUT_NTO1 ? "N:1" : "1:1";
}

int vsvm_vm_create(struct vsvm_dev *dev, uint32_t *vm_id)
{
	struct drm_vsvm_vm_create args = { 0 };
	int err = vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_VM_CREATE, &args);

	if (!err)
		*vm_id = args.vm_id;
	return err;
}

int vsvm_vm_destroy(struct vsvm_dev *dev, uint32_t vm_id)
{
	struct drm_vsvm_vm_destroy args = { .vm_id = vm_id };

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_VM_DESTROY, &args);
}

/** vsvm_jobs_status() - the first failed job's status (0 if none) */
int vsvm_jobs_status(const struct drm_vsvm_job *jobs, unsigned int num_jobs)
{
	unsigned int i;

	for (i = 0; i < num_jobs; i++)
		if (jobs[i].status) {
			last_fault_addr = jobs[i].fault_addr;
			return jobs[i].status;
		}
	return 0;
}

static int exec_ioctl(struct vsvm_dev *dev, uint32_t vm_id,
		      struct drm_vsvm_job *jobs, unsigned int num_jobs,
		      uint32_t flags, uint64_t *seqno)
{
	struct drm_vsvm_exec args = {
		.vm_id = vm_id,
		.flags = flags,
		.num_jobs = num_jobs,
		.jobs = (uintptr_t)jobs,
	};
	int err = vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_EXEC, &args);

	if (!err && seqno)
		*seqno = args.seqno;
	return err;
}

/**
 * vsvm_exec() - run jobs and wait for them
 *
 * Return: a negative errno if the submission was refused, else the first
 * failed job's status (0 when every job succeeded).
 */
int vsvm_exec(struct vsvm_dev *dev, uint32_t vm_id, struct drm_vsvm_job *jobs,
	      unsigned int num_jobs)
{
	int err = exec_ioctl(dev, vm_id, jobs, num_jobs, 0, NULL);

	return err ? err : vsvm_jobs_status(jobs, num_jobs);
}

/** vsvm_submit() - queue jobs without waiting; see vsvm_wait() */
int vsvm_submit(struct vsvm_dev *dev, uint32_t vm_id,
		struct drm_vsvm_job *jobs, unsigned int num_jobs,
		uint64_t *seqno)
{
	return exec_ioctl(dev, vm_id, jobs, num_jobs, DRM_VSVM_EXEC_ASYNC,
			  seqno);
}

/**
 * vsvm_exec_syncs() - submit jobs with syncobjs to wait for and to signal
 *
 * @flags are DRM_VSVM_EXEC_* (DRM_VSVM_EXEC_ASYNC: see vsvm_wait()); the
 * syncs go in a DRM_VSVM_EXT_EXEC_SYNCS extension (none when @num_syncs is
 * 0).
 *
 * Return: the ioctl's result (the jobs' results are in their status).
 */
int vsvm_exec_syncs(struct vsvm_dev *dev, uint32_t vm_id,
		    struct drm_vsvm_job *jobs, unsigned int num_jobs,
		    uint32_t flags, const struct drm_vsvm_sync *syncs,
		    unsigned int num_syncs, uint64_t *seqno)
{
	struct drm_vsvm_ext_exec_syncs ext = {
		.base.name = DRM_VSVM_EXT_EXEC_SYNCS,
		.num_syncs = num_syncs,
		.syncs = (uintptr_t)syncs,
	};
	struct drm_vsvm_exec args = {
		.vm_id = vm_id,
		.flags = flags,
		.num_jobs = num_jobs,
		.jobs = (uintptr_t)jobs,
		.extensions = num_syncs ? (uintptr_t)&ext : 0,
	};
	int err = vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_EXEC, &args);

	if (!err && seqno)
		*seqno = args.seqno;
	return err;
}

/** vsvm_wait() - wait for a submission; its jobs' results are then written */
int vsvm_wait(struct vsvm_dev *dev, uint32_t vm_id, uint64_t seqno,
	      int64_t timeout_ns)
{
	struct drm_vsvm_wait args = {
		.vm_id = vm_id,
		.seqno = seqno,
		.timeout_ns = timeout_ns,
	};

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_WAIT, &args);
}

static int run_one(struct vsvm_dev *dev, uint32_t vm_id,
		   struct drm_vsvm_job *job)
{
	return vsvm_exec(dev, vm_id, job, 1);
}

int vsvm_copy(struct vsvm_dev *dev, uint32_t vm_id, void *dst,
	      const void *src, size_t size)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_COPY,
		.dst = (uintptr_t)dst,
		.src = (uintptr_t)src,
		.size = size,
	};

	return run_one(dev, vm_id, &job);
}

int vsvm_fill(struct vsvm_dev *dev, uint32_t vm_id, void *dst, uint8_t value,
	      size_t size)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_FILL,
		.dst = (uintptr_t)dst,
		.size = size,
		.value = value,
	};

	return run_one(dev, vm_id, &job);
}

int vsvm_checksum(struct vsvm_dev *dev, uint32_t vm_id, const void *src,
		  size_t size, uint64_t *sum)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_CHECKSUM,
		.src = (uintptr_t)src,
		.size = size,
	};
	int err = run_one(dev, vm_id, &job);

	if (!err)
		*sum = job.result;
	return err;
}

int vsvm_atomic_add(struct vsvm_dev *dev, uint32_t vm_id, uint64_t *dst,
		    size_t count, uint64_t value)
{
	struct drm_vsvm_job job = {
		.op = DRM_VSVM_OP_ATOMIC_ADD,
		.dst = (uintptr_t)dst,
		.size = count * sizeof(*dst),
		.value = value,
	};

	return run_one(dev, vm_id, &job);
}

/** vsvm_last_fault_addr() - the fault address of this thread's last failed job */
uint64_t vsvm_last_fault_addr(void)
{
	return last_fault_addr;
}

uint64_t vsvm_fnv1a(const void *data, size_t size)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	while (size--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

int vsvm_set_attr(struct vsvm_dev *dev, uint32_t vm_id, void *start,
		  size_t size, uint32_t attr, uint64_t value)
{
	struct drm_vsvm_set_attr args = {
		.vm_id = vm_id,
		.attr = attr,
		.start = (uintptr_t)start,
		.size = size,
		.value = value,
	};

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_SET_ATTR, &args);
}

int vsvm_prefetch(struct vsvm_dev *dev, uint32_t vm_id, void *start,
		  size_t size, uint32_t region)
{
	return vsvm_prefetch_devices(dev, vm_id, start, size, region, 0);
}

int vsvm_prefetch_devices(struct vsvm_dev *dev, uint32_t vm_id, void *start,
			  size_t size, uint32_t region, uint64_t devices)
{
	struct drm_vsvm_prefetch args = {
		.vm_id = vm_id,
		.region = region,
		.start = (uintptr_t)start,
		.size = size,
		.devices = devices,
	};

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_PREFETCH, &args);
}

int vsvm_userptr_create(struct vsvm_dev *dev, uint32_t vm_id, void *addr,
			size_t size, uint32_t flags, uint32_t *handle)
{
	struct drm_vsvm_userptr_create args = {
		.vm_id = vm_id,
		.flags = flags,
		.addr = (uintptr_t)addr,
		.size = size,
	};
	int err = vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_USERPTR_CREATE, &args);

	if (!err)
		*handle = args.handle;
	return err;
}

int vsvm_userptr_bind(struct vsvm_dev *dev, uint32_t vm_id, uint32_t handle,
		      uint64_t gpu_va)
{
	struct drm_vsvm_userptr_bind args = {
		.vm_id = vm_id,
		.handle = handle,
		.gpu_va = gpu_va,
	};

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_USERPTR_BIND, &args);
}

int vsvm_userptr_destroy(struct vsvm_dev *dev, uint32_t vm_id,
			 uint32_t handle)
{
	struct drm_vsvm_userptr_destroy args = {
		.vm_id = vm_id,
		.handle = handle,
	};

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_USERPTR_DESTROY, &args);
}

int vsvm_stats(struct vsvm_dev *dev, uint32_t vm_id,
	       struct drm_vsvm_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->vm_id = vm_id;
	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_STATS, stats);
}

int vsvm_vm_read(struct vsvm_dev *dev, uint32_t vm_id, const void *addr,
		 void *data, size_t size)
{
	struct drm_vsvm_vm_read args = {
		.vm_id = vm_id,
		.addr = (uintptr_t)addr,
		.size = size,
		.data = (uintptr_t)data,
	};

	return vsvm_ioctl(dev->fd, DRM_IOCTL_VSVM_VM_READ, &args);
}
