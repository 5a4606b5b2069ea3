// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * Source compatibility with mainline's drm_gpusvm.h and drm_pagemap.h.
 *
 * Compiled with -Werror by make check (make modules and make modules-stock),
 * never linked or loaded. Each entry point of mainline's API (Linux after
 * the drm_gpusvm / drm_pagemap split series) is assigned to a function
 * pointer spelled with mainline's exact prototype, so that a different argument type, order,
 * constness or return type is an incompatible-pointer error; the driver
 * callbacks are filled with functions of mainline's callback types; the
 * macros and inline helpers are used as a driver uses them.
 */

#include <linux/dma-fence.h>
#include <linux/memremap.h>
#include <linux/mmu_notifier.h>

#include <drm/drm_gpusvm.h>
#include <drm/drm_pagemap.h>

/* drm_gpusvm.h entry points, with mainline's prototypes. */
static int (*const gpusvm_init)(struct drm_gpusvm *, const char *,
				struct mm_struct *, unsigned long,
				unsigned long, unsigned long,
				const struct drm_gpusvm_ops *,
				const unsigned long *, int) __used =
	drm_gpusvm_init;
static void (*const gpusvm_fini)(struct drm_gpusvm *) __used =
	drm_gpusvm_fini;
static void (*const gpusvm_free)(struct drm_gpusvm *) __used =
	drm_gpusvm_free;
static unsigned long (*const gpusvm_find_vma_start)(struct drm_gpusvm *,
						    unsigned long,
						    unsigned long) __used =
	drm_gpusvm_find_vma_start;
static struct drm_gpusvm_range *
(*const gpusvm_range_find_or_insert)(struct drm_gpusvm *, unsigned long,
				     unsigned long, unsigned long,
				     const struct drm_gpusvm_ctx *) __used =
	drm_gpusvm_range_find_or_insert;
static void (*const gpusvm_range_remove)(struct drm_gpusvm *,
					 struct drm_gpusvm_range *) __used =
	drm_gpusvm_range_remove;
static int (*const gpusvm_range_evict)(struct drm_gpusvm *,
				       struct drm_gpusvm_range *) __used =
	drm_gpusvm_range_evict;
static struct drm_gpusvm_range *
(*const gpusvm_range_get)(struct drm_gpusvm_range *) __used =
	drm_gpusvm_range_get;
static void (*const gpusvm_range_put)(struct drm_gpusvm_range *) __used =
	drm_gpusvm_range_put;
static bool (*const gpusvm_pages_valid)(struct drm_gpusvm *,
					struct drm_gpusvm_pages *) __used =
	drm_gpusvm_pages_valid;
static bool (*const gpusvm_has_mapping)(struct drm_gpusvm *, unsigned long,
					unsigned long) __used =
	drm_gpusvm_has_mapping;
static struct drm_gpusvm_notifier *
(*const gpusvm_notifier_find)(struct drm_gpusvm *, unsigned long,
			      unsigned long) __used =
	drm_gpusvm_notifier_find;
static struct drm_gpusvm_range *
(*const gpusvm_range_find)(struct drm_gpusvm_notifier *, unsigned long,
			   unsigned long) __used =
	drm_gpusvm_range_find;
static void
(*const gpusvm_range_set_unmapped)(struct drm_gpusvm_range *,
				   struct drm_gpusvm_pages *, unsigned int,
				   const struct mmu_notifier_range *) __used =
	drm_gpusvm_range_set_unmapped;
static int (*const gpusvm_get_pages)(struct drm_gpusvm *,
				     struct drm_gpusvm_pages *,
				     struct mm_struct *,
				     struct mmu_interval_notifier *,
				     unsigned long, unsigned long,
				     const struct drm_gpusvm_ctx *) __used =
	drm_gpusvm_get_pages;
static void (*const gpusvm_unmap_pages)(struct drm_gpusvm *,
					struct drm_gpusvm_pages *,
					unsigned long,
					const struct drm_gpusvm_ctx *) __used =
	drm_gpusvm_unmap_pages;
static void (*const gpusvm_free_pages)(struct drm_gpusvm *,
				       struct drm_gpusvm_pages *,
				       unsigned long) __used =
	drm_gpusvm_free_pages;
static void (*const gpusvm_init_pages)(struct drm_gpusvm_pages *,
				       struct drm_device *) __used =
	drm_gpusvm_init_pages;
static enum drm_gpusvm_scan_result
(*const gpusvm_scan_mm)(struct drm_gpusvm_range *, void *,
			const struct dev_pagemap *) __used =
	drm_gpusvm_scan_mm;

/* drm_pagemap.h entry points, with mainline's prototypes. */
static int (*const pagemap_init)(struct drm_pagemap *, struct dev_pagemap *,
				 struct drm_device *,
				 const struct drm_pagemap_ops *) __used =
	drm_pagemap_init;
static struct drm_pagemap *
(*const pagemap_create)(struct drm_device *, struct dev_pagemap *,
			const struct drm_pagemap_ops *) __used =
	drm_pagemap_create;
static void (*const pagemap_put)(struct drm_pagemap *) __used =
	drm_pagemap_put;
static void (*const pagemap_destroy)(struct drm_pagemap *, bool) __used =
	drm_pagemap_destroy;
static int (*const pagemap_reinit)(struct drm_pagemap *) __used =
	drm_pagemap_reinit;
static int (*const pagemap_populate_mm)(struct drm_pagemap *, unsigned long,
					unsigned long, struct mm_struct *,
					unsigned long) __used =
	drm_pagemap_populate_mm;
static void (*const pagemap_devmem_init)(struct drm_pagemap_devmem *,
					 struct device *, struct mm_struct *,
					 const struct drm_pagemap_devmem_ops *,
					 struct drm_pagemap *, size_t,
					 struct dma_fence *) __used =
	drm_pagemap_devmem_init;
static int
(*const pagemap_migrate_to_devmem)(struct drm_pagemap_devmem *,
				   struct mm_struct *, unsigned long,
				   unsigned long,
				   const struct drm_pagemap_migrate_details *) __used =
	drm_pagemap_migrate_to_devmem;
static int (*const pagemap_evict_to_ram)(struct drm_pagemap_devmem *) __used =
	drm_pagemap_evict_to_ram;
static const struct dev_pagemap_ops *
(*const pagemap_pagemap_ops_get)(void) __used =
	drm_pagemap_pagemap_ops_get;

/* Driver callbacks of mainline's types. */
static struct drm_gpusvm_notifier *api_notifier_alloc(void)
{
	return NULL;
}

static void api_notifier_free(struct drm_gpusvm_notifier *notifier)
{
}

static struct drm_gpusvm_range *api_range_alloc(struct drm_gpusvm *gpusvm)
{
	return NULL;
}

static void api_range_free(struct drm_gpusvm_range *range)
{
}

static void api_invalidate(struct drm_gpusvm *gpusvm,
			   struct drm_gpusvm_notifier *notifier,
			   const struct mmu_notifier_range *mmu_range)
{
}

static const struct drm_gpusvm_ops api_gpusvm_ops __used = {
	.notifier_alloc = api_notifier_alloc,
	.notifier_free = api_notifier_free,
	.range_alloc = api_range_alloc,
	.range_free = api_range_free,
	.invalidate = api_invalidate,
};

static struct drm_pagemap_addr
api_device_map(struct drm_pagemap *dpagemap, struct device *dev,
	       struct page *page, unsigned int order,
	       enum dma_data_direction dir)
{
	return drm_pagemap_addr_encode(0, DRM_INTERCONNECT_DRIVER, order, dir);
}

static void api_device_unmap(struct drm_pagemap *dpagemap, struct device *dev,
			     struct drm_pagemap_addr addr)
{
}

static int api_populate_mm(struct drm_pagemap *dpagemap, unsigned long start,
			   unsigned long end, struct mm_struct *mm,
			   unsigned long timeslice_ms)
{
	return 0;
}

static void api_destroy(struct drm_pagemap *dpagemap,
			bool is_atomic_or_reclaim)
{
}

static const struct drm_pagemap_ops api_pagemap_ops __used = {
	.device_map = api_device_map,
	.device_unmap = api_device_unmap,
	.populate_mm = api_populate_mm,
	.destroy = api_destroy,
};

static void api_devmem_release(struct drm_pagemap_devmem *devmem)
{
}

static int api_populate_devmem_pfn(struct drm_pagemap_devmem *devmem,
				   unsigned long npages, unsigned long *pfn)
{
	return 0;
}

static int api_copy_to_devmem(struct page **pages,
			      struct drm_pagemap_addr *pagemap_addr,
			      unsigned long npages,
			      struct dma_fence *pre_migrate_fence)
{
	return 0;
}

static int api_copy_to_ram(struct page **pages,
			   struct drm_pagemap_addr *pagemap_addr,
			   unsigned long npages,
			   struct dma_fence *pre_migrate_fence)
{
	return 0;
}

static const struct drm_pagemap_devmem_ops api_devmem_ops __used = {
	.devmem_release = api_devmem_release,
	.populate_devmem_pfn = api_populate_devmem_pfn,
	.copy_to_devmem = api_copy_to_devmem,
	.copy_to_ram = api_copy_to_ram,
};

/* Macros, inline helpers and structure fields, as a driver uses them. */
static void __used drm_gpusvm_mainline_api(struct drm_gpusvm *gpusvm,
					   struct drm_gpusvm_range *range,
					   struct drm_pagemap *dpagemap,
					   struct page *page,
					   struct drm_pagemap_devmem *devmem,
					   struct rw_semaphore *driver_lock)
{
	struct drm_gpusvm_notifier *notifier, *next_notifier;
	struct drm_gpusvm_range *r, *next;
	struct drm_gpusvm_ctx ctx = {
		.device_private_page_owner = NULL,
		.check_pages_threshold = SZ_64K,
		.timeslice_ms = 5,
		.in_notifier = false,
		.read_only = false,
		.devmem_possible = true,
		.devmem_only = false,
		.allow_mixed = true,
	};
	struct drm_pagemap_migrate_details mdetails = {
		.timeslice_ms = ctx.timeslice_ms,
		.can_migrate_same_pagemap = true,
		.source_peer_migrates = false,
	};
	struct drm_pagemap_addr addr;
	unsigned long size = 0;

	drm_gpusvm_driver_set_lock(gpusvm, driver_lock);
	drm_gpusvm_notifier_lock(gpusvm);
	drm_gpusvm_for_each_notifier(notifier, gpusvm, 0, ULONG_MAX)
		size += drm_gpusvm_notifier_end(notifier) -
			drm_gpusvm_notifier_start(notifier);
	drm_gpusvm_for_each_notifier_safe(notifier, next_notifier, gpusvm, 0,
					  ULONG_MAX) {
		drm_gpusvm_for_each_range(r, notifier, 0, ULONG_MAX)
			size += drm_gpusvm_range_size(r);
		drm_gpusvm_for_each_range_safe(r, next, notifier, 0, ULONG_MAX)
			size += drm_gpusvm_range_end(r) -
				drm_gpusvm_range_start(r);
	}
	drm_gpusvm_notifier_unlock(gpusvm);

	addr = drm_pagemap_addr_encode(size, DRM_INTERCONNECT_SYSTEM, 0,
				       DMA_BIDIRECTIONAL);
	if (addr.proto == DRM_INTERCONNECT_DRIVER && ctx.devmem_possible)
		drm_pagemap_put(drm_pagemap_get(dpagemap));
	if (drm_pagemap_get_unless_zero(drm_pagemap_page_to_dpagemap(page)))
		drm_pagemap_put(dpagemap);
	WRITE_ONCE(devmem->timeslice_expiration, mdetails.timeslice_ms);
	wait_for_completion(&devmem->detached);
	range->flags.unmapped = devmem->size == size;
}
