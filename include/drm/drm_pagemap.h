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
#include <linux/completion.h>
#include <linux/dma-direction.h>
#include <linux/fs.h>
#include <linux/hugetlb_inline.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/types.h>

struct dev_pagemap_ops;
struct device;
struct dma_fence;
struct drm_device;
struct drm_pagemap;
struct mm_struct;
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
 * @populate_mm: migrate [@start, @end) of @mm into this provider's memory,
 *               to stay there at least @timeslice_ms before a CPU fault
 *               moves it back (optional; see drm_pagemap_populate_mm())
 * @destroy: the last reference is gone (optional for a provider from
 *           drm_pagemap_create(), which is then freed; required for one
 *           set up with drm_pagemap_init() in the driver's memory).
 *           @is_atomic_or_reclaim: called from atomic or memory-reclaim
 *           context, where the provider may not sleep or allocate.
 */
struct drm_pagemap_ops {
	struct drm_pagemap_addr (*device_map)(struct drm_pagemap *dpagemap,
					      struct device *dev,
					      struct page *page,
					      unsigned int order,
					      enum dma_data_direction dir);
	void (*device_unmap)(struct drm_pagemap *dpagemap, struct device *dev,
			     struct drm_pagemap_addr addr);
	int (*populate_mm)(struct drm_pagemap *dpagemap, unsigned long start,
			   unsigned long end, struct mm_struct *mm,
			   unsigned long timeslice_ms);
	void (*destroy)(struct drm_pagemap *dpagemap,
			bool is_atomic_or_reclaim);
};

/**
 * struct drm_pagemap - a provider of device memory
 * @ops: the provider's ops
 * @ref: reference count (drm_pagemap_get() / drm_pagemap_put())
 * @drm: the DRM device owning the memory
 * @pagemap: the MEMORY_DEVICE_PRIVATE pagemap of the memory (its
 *           &dev_pagemap.owner is the owner drm_gpusvm matches against
 *           &drm_gpusvm_ctx.device_private_page_owner)
 */
struct drm_pagemap {
	const struct drm_pagemap_ops *ops;
	struct kref ref;
	struct drm_device *drm;
	struct dev_pagemap *pagemap;
};

/**
 * drm_pagemap_get() - take a reference on a provider
 * @dpagemap: the provider, or NULL
 *
 * Return: @dpagemap.
 */
static inline struct drm_pagemap *drm_pagemap_get(struct drm_pagemap *dpagemap)
{
	if (dpagemap)
		kref_get(&dpagemap->ref);
	return dpagemap;
}

/**
 * drm_pagemap_get_unless_zero() - take a reference unless the last one went
 * @dpagemap: the provider, or NULL
 *
 * For a provider found through a pointer that holds no reference (a cache,
 * a page's allocation): one whose last reference went is being destroyed.
 *
 * Return: @dpagemap, or NULL if its count was zero.
 */
static inline struct drm_pagemap *
drm_pagemap_get_unless_zero(struct drm_pagemap *dpagemap)
{
	return dpagemap && kref_get_unless_zero(&dpagemap->ref) ? dpagemap :
								  NULL;
}

struct drm_pagemap_devmem;

/**
 * struct drm_pagemap_devmem_ops - ops of one device-memory allocation
 * @devmem_release: the allocation holds no device page any more (every page
 *                  migrated back or freed, or none migrated): release it.
 *                  Called once, from any context that frees a device page:
 *                  it must not sleep.
 * @populate_devmem_pfn: fill @pfn with the @npages device pfns backing the
 *                       allocation, in order
 * @copy_to_devmem: copy @npages source pages at @pagemap_addr into the
 *                  device pages @pages (NULL entries: skip). A source is a
 *                  system page DMA-mapped for the provider's device
 *                  (%DRM_INTERCONNECT_SYSTEM; address 0: no source page,
 *                  zero-fill) or a peer's device page at the address its
 *                  provider's &drm_pagemap_ops.device_map gave this device
 *                  (%DRM_INTERCONNECT_DRIVER, any address, 0 included). The
 *                  copy must not touch device memory before
 *                  @pre_migrate_fence (if not NULL) signals.
 * @copy_to_ram: copy the device pages @pages (NULL entries: skip) to the
 *               destinations at @pagemap_addr: system pages DMA-mapped for
 *               the provider's device (%DRM_INTERCONNECT_SYSTEM), or, for a
 *               migration with &drm_pagemap_migrate_details.source_peer_migrates,
 *               a peer's device pages at the addresses its provider's
 *               &drm_pagemap_ops.device_map gave this device
 *               (%DRM_INTERCONNECT_DRIVER); after @pre_migrate_fence (if not
 *               NULL) signals
 *
 * The copy ops find their device state from the device pages
 * (drm_pagemap_page_to_dpagemap()), as they get no allocation.
 */
struct drm_pagemap_devmem_ops {
	void (*devmem_release)(struct drm_pagemap_devmem *devmem);
	int (*populate_devmem_pfn)(struct drm_pagemap_devmem *devmem,
				   unsigned long npages, unsigned long *pfn);
	int (*copy_to_devmem)(struct page **pages,
			      struct drm_pagemap_addr *pagemap_addr,
			      unsigned long npages,
			      struct dma_fence *pre_migrate_fence);
	int (*copy_to_ram)(struct page **pages,
			   struct drm_pagemap_addr *pagemap_addr,
			   unsigned long npages,
			   struct dma_fence *pre_migrate_fence);
};

/**
 * struct drm_pagemap_devmem - one allocation of device memory
 * @dev: the provider's device (system pages are DMA-mapped for it)
 * @mm: the process the allocation holds memory of (not referenced: the
 *      allocation holds data only while the process maps it)
 * @detached: completed when the allocation holds no device page any more,
 *            just before &drm_pagemap_devmem_ops.devmem_release (a waiter
 *            must keep the object embedding the allocation alive itself:
 *            the release may free it right after)
 * @ops: the allocation's ops
 * @dpagemap: the provider
 * @size: size of the allocation in bytes
 * @timeslice_expiration: jiffies before which a CPU fault does not move the
 *                        allocation's pages back (set by
 *                        drm_pagemap_migrate_to_devmem())
 * @pre_migrate_fence: fence the copies into and out of the allocation wait
 *                     for (a clear of the memory, say), or NULL; a
 *                     reference is held until the release
 * @refs: one per device page holding data of the allocation, plus one held
 *        by its creator until it drops it with drm_pagemap_devmem_put()
 *        (an extension of this tree: the count behind @detached)
 *
 * The driver embeds it in its allocation object. Each device page's
 * zone_device_data points to it while the page holds data.
 */
struct drm_pagemap_devmem {
	struct device *dev;
	struct mm_struct *mm;
	struct completion detached;
	const struct drm_pagemap_devmem_ops *ops;
	struct drm_pagemap *dpagemap;
	size_t size;
	u64 timeslice_expiration;
	struct dma_fence *pre_migrate_fence;
	atomic_t refs;
};

/*
 * The longest timeslice: a CPU fault that may not drop mmap_lock (another
 * device's hmm_range_fault(), get_user_pages_remote()) waits it out with the
 * lock held, and hmm_range_fault() callers give up after
 * HMM_RANGE_DEFAULT_TIMEOUT (1000 ms).
 */
#define DRM_PAGEMAP_TIMESLICE_MAX_MS	250

/**
 * struct drm_pagemap_migrate_details - how drm_pagemap_migrate_to_devmem()
 * migrates
 * @timeslice_ms: the migrated memory stays in device memory at least this
 *                long before a CPU fault moves it back; at most
 *                %DRM_PAGEMAP_TIMESLICE_MAX_MS (larger values are clamped)
 * @can_migrate_same_pagemap: pages already in the destination's pagemap
 *                            migrate too, into the new allocation; without
 *                            it they stay where they are and do not count
 *                            in @migrated
 * @source_peer_migrates: which side copies a peer's device page (a page of
 *                        another drm_pagemap provider with the destination's
 *                        page owner; other owners' pages are not selected).
 *                        Unset, the destination: its
 *                        &drm_pagemap_devmem_ops.copy_to_devmem gets the
 *                        address the peer's provider gives the destination's
 *                        device for the page (&drm_pagemap_ops.device_map,
 *                        %DMA_TO_DEVICE). Set, the source: the peer
 *                        allocation's &drm_pagemap_devmem_ops.copy_to_ram
 *                        gets its own device pages and the addresses the
 *                        destination's provider gives the peer's device for
 *                        the new pages (%DMA_FROM_DEVICE; mapped before they
 *                        are set up: device_map may only use their pfn), and
 *                        waits for the destination's
 *                        &drm_pagemap_devmem.pre_migrate_fence. Either way
 *                        the page moves device to device, never through
 *                        system memory; a page whose device_map fails stays
 *                        where it is
 * @migrated: if not NULL, set to the number of pages that migrated, from
 *            system memory and from peers (an extension of this tree)
 */
struct drm_pagemap_migrate_details {
	unsigned long timeslice_ms;
	u32 can_migrate_same_pagemap : 1;
	u32 source_peer_migrates : 1;
	unsigned long *migrated;
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
 * drm_pagemap_page_to_dpagemap() - the provider of a device page
 * @page: a device-private page of a drm_pagemap provider, holding data
 *
 * Return: the provider.
 */
static inline struct drm_pagemap *drm_pagemap_page_to_dpagemap(struct page *page)
{
	return drm_pagemap_page_devmem(page)->dpagemap;
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

int drm_pagemap_init(struct drm_pagemap *dpagemap,
		     struct dev_pagemap *pagemap, struct drm_device *drm,
		     const struct drm_pagemap_ops *ops);
struct drm_pagemap *drm_pagemap_create(struct drm_device *drm,
				       struct dev_pagemap *pagemap,
				       const struct drm_pagemap_ops *ops);
void drm_pagemap_put(struct drm_pagemap *dpagemap);
void drm_pagemap_destroy(struct drm_pagemap *dpagemap,
			 bool is_atomic_or_reclaim);
int drm_pagemap_reinit(struct drm_pagemap *dpagemap);
int drm_pagemap_populate_mm(struct drm_pagemap *dpagemap,
			    unsigned long start, unsigned long end,
			    struct mm_struct *mm, unsigned long timeslice_ms);

void drm_pagemap_devmem_init(struct drm_pagemap_devmem *devmem,
			     struct device *dev, struct mm_struct *mm,
			     const struct drm_pagemap_devmem_ops *ops,
			     struct drm_pagemap *dpagemap, size_t size,
			     struct dma_fence *pre_migrate_fence);
void drm_pagemap_devmem_put(struct drm_pagemap_devmem *devmem);
int drm_pagemap_migrate_to_devmem(struct drm_pagemap_devmem *devmem,
				  struct mm_struct *mm, unsigned long start,
				  unsigned long end,
				  const struct drm_pagemap_migrate_details *mdetails);
int drm_pagemap_evict_to_ram(struct drm_pagemap_devmem *devmem);
const struct dev_pagemap_ops *drm_pagemap_pagemap_ops_get(void);

#endif
