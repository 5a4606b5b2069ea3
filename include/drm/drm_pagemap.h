/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Device-memory provider interface used by drm_gpusvm.
 *
 * A provider of device memory (drm_pagemap) hands out device-private pages
 * through allocations (drm_pagemap_devmem) with copy ops; the helpers in
 * gpusvm/drm_pagemap.c migrate process memory to and from those pages. The
 * mapping side (drm_gpusvm_get_pages()) maps device pages through the
 * provider's device_map.
 */
#ifndef _DRM_PAGEMAP_H_
#define _DRM_PAGEMAP_H_

#include <linux/atomic.h>
#include <linux/dma-direction.h>
#include <linux/fs.h>
#include <linux/hugetlb_inline.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/types.h>

struct device;
struct drm_pagemap;
struct page;

/**
 * enum drm_interconnect_protocol - how a device reaches a mapped chunk
 * @DRM_INTERCONNECT_SYSTEM: system memory, through the DMA API
 * @DRM_INTERCONNECT_DRIVER: device memory, through a driver-private path
 *                           (the provider's &drm_pagemap_ops.device_map)
 * @DRM_INTERCONNECT_CPU: no DMA mapping: the address is the CPU physical
 *                        address, for pages objects without a DMA device
 */
enum drm_interconnect_protocol {
	DRM_INTERCONNECT_SYSTEM,
	DRM_INTERCONNECT_DRIVER,
	DRM_INTERCONNECT_CPU,
};

/**
 * struct drm_pagemap_addr - address of one mapped chunk of pages
 * @addr: the address the device uses (DMA address, device-physical address
 *        or CPU physical address, depending on @proto)
 * @proto: an &enum drm_interconnect_protocol
 * @order: the chunk covers PAGE_SIZE << @order bytes
 * @dir: the &enum dma_data_direction of the mapping
 *
 * One entry describes one physically contiguous chunk: a 2 MiB THP mapped by
 * the CPU as one PMD is one entry of order 9.
 */
struct drm_pagemap_addr {
	dma_addr_t addr;
	u64 proto : 54;
	u64 order : 8;
	u64 dir : 2;
};

/**
 * drm_pagemap_addr_encode() - build a &struct drm_pagemap_addr
 * @addr: the address
 * @proto: the interconnect protocol
 * @order: the chunk order
 * @dir: the DMA direction
 *
 * Return: the encoded address.
 */
static inline struct drm_pagemap_addr
drm_pagemap_addr_encode(dma_addr_t addr, enum drm_interconnect_protocol proto,
			unsigned int order, enum dma_data_direction dir)
{
	return (struct drm_pagemap_addr) {
		.addr = addr,
		.proto = proto,
		.order = order,
		.dir = dir,
	};
}

/**
 * struct drm_pagemap_ops - ops of a device-memory provider
 * @device_map: map a device page of this provider for @dev; return an
 *              address with a protocol the device understands (a mapping
 *              error is reported with dma_mapping_error() semantics)
 * @device_unmap: undo @device_map (optional)
 */
struct drm_pagemap_ops {
	struct drm_pagemap_addr (*device_map)(struct drm_pagemap *dpagemap,
					      struct device *dev,
					      struct page *page,
					      unsigned int order,
					      enum dma_data_direction dir);
	void (*device_unmap)(struct drm_pagemap *dpagemap, struct device *dev,
			     struct drm_pagemap_addr addr);
};

/**
 * struct drm_pagemap - a provider of device memory
 * @ops: the provider's ops
 * @dev: the device owning the memory
 * @pagemap: the MEMORY_DEVICE_PRIVATE pagemap of the memory (its
 *           &dev_pagemap.owner is the owner drm_gpusvm matches against
 *           &drm_gpusvm_ctx.device_private_page_owner)
 */
struct drm_pagemap {
	const struct drm_pagemap_ops *ops;
	struct device *dev;
	struct dev_pagemap *pagemap;
};

struct drm_pagemap_devmem;

/**
 * struct drm_pagemap_devmem_ops - ops of one device-memory allocation
 * @devmem_release: the allocation holds no device page any more (every page
 *                  migrated back or freed, or none migrated): release it.
 *                  Called once, from any context that frees a device page.
 * @populate_devmem_pfn: fill @pfn with the @npages device pfns backing the
 *                       allocation, in order
 * @copy_to_devmem: copy @npages system pages, DMA-mapped for the provider's
 *                  device at @dma_addr (0: no source page, zero-fill), into
 *                  the device pages @pages (NULL entries: skip)
 * @copy_to_ram: copy the device pages @pages (NULL entries: skip) into the
 *               system pages DMA-mapped at @dma_addr
 */
struct drm_pagemap_devmem_ops {
	void (*devmem_release)(struct drm_pagemap_devmem *devmem);
	int (*populate_devmem_pfn)(struct drm_pagemap_devmem *devmem,
				   unsigned long npages, unsigned long *pfn);
	int (*copy_to_devmem)(struct drm_pagemap_devmem *devmem,
			      struct page **pages, dma_addr_t *dma_addr,
			      unsigned long npages);
	int (*copy_to_ram)(struct drm_pagemap_devmem *devmem,
			   struct page **pages, dma_addr_t *dma_addr,
			   unsigned long npages);
};

/**
 * struct drm_pagemap_devmem - one allocation of device memory
 * @dev: the provider's device (system pages are DMA-mapped for it)
 * @ops: the allocation's ops
 * @dpagemap: the provider
 * @npages: size of the allocation in pages
 * @refs: one per device page holding data of the allocation, plus one held
 *        by a migration in progress; &drm_pagemap_devmem_ops.devmem_release
 *        runs when it drops to zero
 *
 * The driver embeds it in its allocation object. Each device page's
 * zone_device_data points to it while the page holds data.
 */
struct drm_pagemap_devmem {
	struct device *dev;
	const struct drm_pagemap_devmem_ops *ops;
	struct drm_pagemap *dpagemap;
	unsigned long npages;
	atomic_t refs;
};

/**
 * drm_pagemap_page_devmem() - the allocation a device page belongs to
 * @page: a device-private page of a drm_pagemap provider
 *
 * Return: the allocation.
 */
static inline struct drm_pagemap_devmem *drm_pagemap_page_devmem(struct page *page)
{
	return page->zone_device_data;
}

/**
 * drm_pagemap_devmem_get_unless_zero() - take a reference on an allocation
 * @devmem: the allocation
 *
 * Return: false if it is already being released.
 */
static inline bool
drm_pagemap_devmem_get_unless_zero(struct drm_pagemap_devmem *devmem)
{
	return atomic_inc_not_zero(&devmem->refs);
}

/**
 * drm_pagemap_devmem_put() - drop a reference on an allocation
 * @devmem: the allocation
 *
 * The last reference releases it through
 * &drm_pagemap_devmem_ops.devmem_release.
 */
static inline void drm_pagemap_devmem_put(struct drm_pagemap_devmem *devmem)
{
	if (atomic_dec_and_test(&devmem->refs))
		devmem->ops->devmem_release(devmem);
}

/**
 * drm_pagemap_vma_migratable() - whether a VMA's pages may move to device memory
 * @vma: the VMA
 *
 * Anonymous VMAs, and writable private file mappings (not DAX), whose pages
 * drm_pagemap_migrate_to_devmem() makes anonymous first by breaking their
 * copy-on-write sharing with the page cache. Never hugetlbfs, shared mappings
 * or read-only private file mappings: their pages are the file's.
 * drm_gpusvm marks ranges migratable by it, and
 * drm_pagemap_migrate_to_devmem() migrates nothing elsewhere.
 *
 * Return: true if the VMA's pages may migrate.
 */
static inline bool drm_pagemap_vma_migratable(struct vm_area_struct *vma)
{
	if (is_vm_hugetlb_page(vma))
		return false;
	if (vma_is_anonymous(vma))
		return true;
	return (vma->vm_flags & (VM_MAYSHARE | VM_WRITE)) == VM_WRITE &&
	       !vma_is_dax(vma);
}

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
void drm_pagemap_devmem_init(struct drm_pagemap_devmem *devmem,
			     struct device *dev,
			     const struct drm_pagemap_devmem_ops *ops,
			     struct drm_pagemap *dpagemap, unsigned long npages);
long drm_pagemap_migrate_to_devmem(struct drm_pagemap_devmem *devmem,
				   struct mm_struct *mm, unsigned long start,
				   unsigned long end, void *pgmap_owner);
vm_fault_t drm_pagemap_cpu_fault(struct vm_fault *vmf);
void drm_pagemap_page_free(struct page *page);
int drm_pagemap_evict_to_ram(struct drm_pagemap_devmem *devmem);
#endif

#endif
