// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * drm_pagemap: migration of process memory to and from device memory.
 */

#include <linux/delay.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include <drm/drm_pagemap.h>

#if IS_BUILTIN(CONFIG_KUNIT)
#include <kunit/resource.h>
#endif

/**
 * DOC: Device memory
 *
 * A driver with device memory registers it as MEMORY_DEVICE_PRIVATE pages
 * (memremap_pages(), with the &dev_pagemap_ops of
 * drm_pagemap_pagemap_ops_get()) and describes it with a &struct
 * drm_pagemap, the *provider*: its &dev_pagemap, its &drm_device, and its
 * ops. &drm_pagemap_ops.device_map turns one of its pages into an address
 * a device understands (protocol %DRM_INTERCONNECT_DRIVER).
 * drm_gpusvm_get_pages() maps device pages whose &dev_pagemap.owner is
 * &drm_gpusvm_ctx.device_private_page_owner through it; device pages of any
 * other owner are migrated back to system memory by hmm_range_fault()
 * first, so a device never reads another device's stale copy.
 *
 * A provider is reference counted: drm_pagemap_create() allocates one,
 * drm_pagemap_init() sets up one embedded in a driver structure, and the
 * last drm_pagemap_put() calls &drm_pagemap_ops.destroy (which may keep it
 * for drm_pagemap_reinit()). Every allocation holds a reference, so a
 * provider outlives the device pages holding its data.
 *
 * Memory moves in *allocations* (&struct drm_pagemap_devmem), typically one
 * per GPU SVM range, with ops that give the allocation's device pfns and copy
 * between device and system pages (the device's copy engine):
 *
 * - drm_pagemap_populate_mm() asks a provider to migrate a VA interval into
 *   its memory (&drm_pagemap_ops.populate_mm: allocate, then migrate).
 * - drm_pagemap_migrate_to_devmem() migrates a VA interval of a process into
 *   an allocation: migrate_vma_setup() selects system pages and the device
 *   pages of the destination's page owner, the copy runs, migrate_vma_pages()
 *   and migrate_vma_finalize() switch the CPU page tables to device-private
 *   entries. Pages in a peer's device memory (a provider sharing the owner:
 *   devices on one interconnect) move device to device, copied by one
 *   device through the address &drm_pagemap_ops.device_map gives it for the
 *   other's page; pages already in the destination's pagemap stay unless
 *   &drm_pagemap_migrate_details.can_migrate_same_pagemap. Pages that cannot
 *   migrate (pinned, under writeback, ...) stay where they are;
 *   &drm_pagemap_migrate_details.migrated counts the pages that did move.
 * - A CPU touch of a device page (the provider's migrate_to_ram) migrates
 *   the whole allocation-sized window around it back (not just the
 *   faulting page), with the MMU_NOTIFY_MIGRATE invalidation that makes
 *   GPUs drop their mappings; but not before the allocation has been in
 *   device memory for the migration's &drm_pagemap_migrate_details.timeslice_ms:
 *   a CPU and a GPU taking turns on one page get at least a timeslice each
 *   instead of moving it at every access. The fault waits killably for the
 *   rest of the timeslice (at most %DRM_PAGEMAP_TIMESLICE_MAX_MS), with
 *   mmap_lock dropped when the fault may be retried. A fault that cannot
 *   retry (another device's hmm_range_fault(), get_user_pages_remote())
 *   waits with mmap_lock held, and while it waits it holds a reference on
 *   the faulting page, which an eviction cannot move meanwhile.
 * - drm_pagemap_evict_to_ram() moves an allocation back by its pfns with
 *   migrate_device_range(), without knowing where it is mapped and without
 *   waiting for a timeslice: for device memory pressure and for driver
 *   teardown. No device page may outlive its provider.
 *
 * Lifetime: each device page holding data of an allocation holds a reference
 * on it (zone_device_data points to it); the provider's
 * &dev_pagemap_ops.page_free drops it. When the last page is gone the
 * allocation's &drm_pagemap_devmem.detached completes and
 * &drm_pagemap_devmem_ops.devmem_release gives the memory back to the
 * provider's allocator.
 *
 * Without CONFIG_DEVICE_PRIVATE the provider helpers work, but
 * drm_pagemap_migrate_to_devmem() returns -EOPNOTSUPP and
 * drm_pagemap_pagemap_ops_get() NULL.
 */

static void drm_pagemap_release(struct kref *ref)
{
	drm_pagemap_destroy(container_of(ref, struct drm_pagemap, ref), false);
}

static void drm_pagemap_release_atomic(struct kref *ref)
{
	drm_pagemap_destroy(container_of(ref, struct drm_pagemap, ref), true);
}

/**
 * drm_pagemap_init() - set up a provider in the driver's memory
 * @dpagemap: the provider (embedded in a driver structure)
 * @pagemap: its MEMORY_DEVICE_PRIVATE pagemap, or NULL for a provider with no
 *           device-private memory of its own
 * @drm: the DRM device owning the memory
 * @ops: the provider's ops: &drm_pagemap_ops.device_map and
 *       &drm_pagemap_ops.destroy are required
 *
 * The caller holds the first reference; the last drm_pagemap_put() calls
 * &drm_pagemap_ops.destroy.
 *
 * Return: 0, or -EINVAL if a required op is missing.
 */
int drm_pagemap_init(struct drm_pagemap *dpagemap,
		     struct dev_pagemap *pagemap, struct drm_device *drm,
		     const struct drm_pagemap_ops *ops)
{
	if (!ops || !ops->device_map || !ops->destroy)
		return -EINVAL;
	kref_init(&dpagemap->ref);
	dpagemap->ops = ops;
	dpagemap->pagemap = pagemap;
	dpagemap->drm = drm;
	return 0;
}
EXPORT_SYMBOL_GPL(drm_pagemap_init);

/**
 * drm_pagemap_create() - allocate and set up a provider
 * @drm: the DRM device owning the memory
 * @pagemap: its MEMORY_DEVICE_PRIVATE pagemap
 * @ops: the provider's ops (&drm_pagemap_ops.device_map required); without
 *       &drm_pagemap_ops.destroy the last reference frees the provider
 *
 * Return: the provider, holding one reference for the caller, or
 * ERR_PTR(-ENOMEM) or ERR_PTR(-EINVAL).
 */
struct drm_pagemap *drm_pagemap_create(struct drm_device *drm,
				       struct dev_pagemap *pagemap,
				       const struct drm_pagemap_ops *ops)
{
	struct drm_pagemap *dpagemap;

	if (!ops || !ops->device_map)
		return ERR_PTR(-EINVAL);
	dpagemap = kzalloc(sizeof(*dpagemap), GFP_KERNEL);
	if (!dpagemap)
		return ERR_PTR(-ENOMEM);
	kref_init(&dpagemap->ref);
	dpagemap->ops = ops;
	dpagemap->pagemap = pagemap;
	dpagemap->drm = drm;
	return dpagemap;
}
EXPORT_SYMBOL_GPL(drm_pagemap_create);

/**
 * drm_pagemap_put() - drop a reference on a provider
 * @dpagemap: the provider, or NULL
 *
 * The last reference destroys it with drm_pagemap_destroy(). May sleep if
 * the provider's &drm_pagemap_ops.destroy does.
 */
void drm_pagemap_put(struct drm_pagemap *dpagemap)
{
	if (dpagemap)
		kref_put(&dpagemap->ref, drm_pagemap_release);
}
EXPORT_SYMBOL_GPL(drm_pagemap_put);

/**
 * drm_pagemap_destroy() - destroy a provider whose last reference went
 * @dpagemap: the provider
 * @is_atomic_or_reclaim: called from atomic or memory-reclaim context (the
 *                        last device page of an allocation was freed)
 *
 * Calls &drm_pagemap_ops.destroy, which may keep the provider for reuse
 * with drm_pagemap_reinit(); without that op (a provider of
 * drm_pagemap_create()) frees it.
 */
void drm_pagemap_destroy(struct drm_pagemap *dpagemap,
			 bool is_atomic_or_reclaim)
{
	if (dpagemap->ops->destroy)
		dpagemap->ops->destroy(dpagemap, is_atomic_or_reclaim);
	else
		kfree(dpagemap);
}
EXPORT_SYMBOL_GPL(drm_pagemap_destroy);

/**
 * drm_pagemap_reinit() - bring a destroyed provider back into use
 * @dpagemap: a provider whose &drm_pagemap_ops.destroy kept it (a driver's
 *            cache of providers)
 *
 * The caller holds the new first reference.
 *
 * Return: 0.
 */
int drm_pagemap_reinit(struct drm_pagemap *dpagemap)
{
	kref_init(&dpagemap->ref);
	return 0;
}
EXPORT_SYMBOL_GPL(drm_pagemap_reinit);

/**
 * drm_pagemap_populate_mm() - migrate a VA interval into a provider's memory
 * @dpagemap: the provider; the caller holds a reference
 * @start: start of the interval, page aligned
 * @end: end of the interval (exclusive), page aligned
 * @mm: the process
 * @timeslice_ms: the memory stays in device memory at least this long
 *                before a CPU fault moves it back
 *
 * Calls &drm_pagemap_ops.populate_mm with a reference on @mm's address
 * space, which typically allocates device memory and calls
 * drm_pagemap_migrate_to_devmem().
 *
 * Return: 0, -EINVAL (bad interval), -EFAULT (the mm is gone),
 * -EOPNOTSUPP (the provider has no populate_mm), or the op's error.
 */
int drm_pagemap_populate_mm(struct drm_pagemap *dpagemap,
			    unsigned long start, unsigned long end,
			    struct mm_struct *mm, unsigned long timeslice_ms)
{
	int err;

	if (!dpagemap->ops->populate_mm)
		return -EOPNOTSUPP;
	if (start >= end || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return -EINVAL;
	if (!mmget_not_zero(mm))
		return -EFAULT;
	err = dpagemap->ops->populate_mm(dpagemap, start, end, mm,
					 timeslice_ms);
	/*
	 * Callers hold driver locks (a GPU fault's): if the process exited
	 * meanwhile, its teardown, which runs the MMU notifiers, goes to a
	 * worker.
	 */
	mmput_async(mm);
	return err;
}
EXPORT_SYMBOL_GPL(drm_pagemap_populate_mm);

/**
 * drm_pagemap_devmem_init() - initialise a device-memory allocation
 * @devmem: the allocation (embedded in the driver's object)
 * @dev: the provider's device
 * @mm: the process whose memory will migrate into it
 * @ops: the allocation's ops
 * @dpagemap: the provider; the allocation holds a reference on it until
 *            its release
 * @size: size of the allocation in bytes, a multiple of PAGE_SIZE
 * @pre_migrate_fence: fence the copies wait for, or NULL; the allocation
 *                     takes a reference
 *
 * The caller holds the first reference and drops it with
 * drm_pagemap_devmem_put() after migrating into it.
 */
void drm_pagemap_devmem_init(struct drm_pagemap_devmem *devmem,
			     struct device *dev, struct mm_struct *mm,
			     const struct drm_pagemap_devmem_ops *ops,
			     struct drm_pagemap *dpagemap, size_t size,
			     struct dma_fence *pre_migrate_fence)
{
	devmem->dev = dev;
	devmem->mm = mm;
	init_completion(&devmem->detached);
	devmem->ops = ops;
	devmem->dpagemap = drm_pagemap_get(dpagemap);
	devmem->size = size;
	devmem->timeslice_expiration = 0;
	devmem->pre_migrate_fence = dma_fence_get(pre_migrate_fence);
	atomic_set(&devmem->refs, 1);
}
EXPORT_SYMBOL_GPL(drm_pagemap_devmem_init);

/**
 * drm_pagemap_devmem_put() - drop a reference on an allocation
 * @devmem: the allocation
 *
 * The last reference (the last device page holding its data was freed, or
 * its creator let go of an allocation that got no data) completes
 * &drm_pagemap_devmem.detached, releases the allocation through
 * &drm_pagemap_devmem_ops.devmem_release and drops its fence and provider
 * references. Runs in any context that frees a device page: it does not
 * sleep.
 */
void drm_pagemap_devmem_put(struct drm_pagemap_devmem *devmem)
{
	struct drm_pagemap *dpagemap = devmem->dpagemap;

	if (!atomic_dec_and_test(&devmem->refs))
		return;
	dma_fence_put(devmem->pre_migrate_fence);
	devmem->pre_migrate_fence = NULL;
	complete_all(&devmem->detached);
	devmem->ops->devmem_release(devmem);
	if (dpagemap)
		kref_put(&dpagemap->ref, drm_pagemap_release_atomic);
}
EXPORT_SYMBOL_GPL(drm_pagemap_devmem_put);

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
/*
 * &dev_pagemap_ops.page_free of drm_pagemap pages: drops the page's
 * reference on its allocation.
 */
static void drm_pagemap_page_free(struct page *page)
{
	struct drm_pagemap_devmem *devmem = drm_pagemap_page_devmem(page);

	page->zone_device_data = NULL;
	if (devmem)
		drm_pagemap_devmem_put(devmem);
}

/**
 * struct drm_pagemap_migration - the arrays of one migration (one allocation)
 * @src: migrate_vma source entries
 * @dst: migrate_vma destination entries
 * @addr: the copy's other side of each page: towards device memory the
 *        source page's address (system DMA address, or a peer device
 *        page's interconnect address), back to system memory the
 *        destination page's DMA address
 * @pages: the device pages each copy op gets (towards device memory the
 *         destination pages, or the source pages their own allocation
 *         copies, see drm_pagemap_copier())
 */
struct drm_pagemap_migration {
	unsigned long *src;
	unsigned long *dst;
	struct drm_pagemap_addr *addr;
	struct page **pages;
};

static int drm_pagemap_migration_alloc(struct drm_pagemap_migration *m,
				       unsigned long npages)
{
	size_t each = sizeof(*m->src) + sizeof(*m->dst) +
		      sizeof(*m->addr) + sizeof(*m->pages);
	void *buf = kvcalloc(npages, each, GFP_KERNEL);

	if (!buf)
		return -ENOMEM;
	m->src = buf;
	m->dst = m->src + npages;
	m->addr = (struct drm_pagemap_addr *)(m->dst + npages);
	m->pages = (struct page **)(m->addr + npages);
	return 0;
}

static void drm_pagemap_migration_free(struct drm_pagemap_migration *m)
{
	kvfree(m->src);
}

#if IS_BUILTIN(CONFIG_KUNIT)
/*
 * Test-only failure injection: while a KUnit case holds a named resource
 * "drm_pagemap_fail_dma_map" whose data is an unsigned long page index, the
 * DMA mapping of the system page at that index of a migration (its source
 * page towards device memory, its destination page back) fails in the
 * case's own thread. Other threads, and kernels without KUnit, never fail
 * here.
 */
static bool drm_pagemap_fail_dma_map(unsigned long index)
{
	struct kunit *test = current->kunit_test;
	struct kunit_resource *res;
	bool fail;

	if (!test)
		return false;
	res = kunit_find_named_resource(test, "drm_pagemap_fail_dma_map");
	if (!res)
		return false;
	fail = *(unsigned long *)res->data == index;
	kunit_put_resource(res);
	return fail;
}
#else
static bool drm_pagemap_fail_dma_map(unsigned long index)
{
	return false;
}
#endif

/*
 * DMA-map page @index of a migration for the provider's device @dev.
 * Return: the address (%DRM_INTERCONNECT_SYSTEM), address 0 if it cannot be
 * mapped.
 */
static struct drm_pagemap_addr
drm_pagemap_map_page(struct device *dev, struct page *page,
		     enum dma_data_direction dir, unsigned long index)
{
	dma_addr_t addr = dma_map_page(dev, page, 0, PAGE_SIZE, dir);

	if (dma_mapping_error(dev, addr)) {
		addr = 0;
	} else if (drm_pagemap_fail_dma_map(index)) {
		dma_unmap_page(dev, addr, PAGE_SIZE, dir);
		addr = 0;
	}
	return drm_pagemap_addr_encode(addr, DRM_INTERCONNECT_SYSTEM, 0, dir);
}

/*
 * Whether @pfn is a free device page of @devmem's provider, as
 * &drm_pagemap_devmem_ops.populate_devmem_pfn must give.
 */
static bool drm_pagemap_pfn_free(struct drm_pagemap_devmem *devmem,
				 unsigned long pfn)
{
	struct page *page;

	if (!pfn_valid(pfn))
		return false;
	page = pfn_to_page(pfn);
	return is_device_private_page(page) &&
	       page->pgmap == devmem->dpagemap->pagemap && !page_count(page);
}

/* The &dev_pagemap_ops of drm_pagemap memory, defined below. */
static const struct dev_pagemap_ops drm_pagemap_pagemap_ops;

/*
 * Whether the device-private page @spage, selected by a migration into
 * @devmem (its owner is the destination's), moves: a page of a drm_pagemap
 * provider, in another pagemap (an interconnect peer's) or, with
 * @same_pagemap, in the destination's own.
 */
static bool drm_pagemap_device_source(struct drm_pagemap_devmem *devmem,
				      struct page *spage, bool same_pagemap)
{
	if (spage->pgmap->ops != &drm_pagemap_pagemap_ops)
		return false;
	return same_pagemap || spage->pgmap != devmem->dpagemap->pagemap;
}

/*
 * The address through which one device copies the device page @spage into
 * @dpage, the page of @devmem it goes to: the source's provider maps @spage
 * for the destination's device (the destination copies), or with
 * @source_copies the destination's provider maps @dpage for the source's
 * device (the source copies). Both are %DRM_INTERCONNECT_DRIVER addresses.
 */
static struct drm_pagemap_addr
drm_pagemap_map_device_page(struct drm_pagemap_devmem *devmem,
			    struct page *spage, struct page *dpage,
			    bool source_copies)
{
	struct drm_pagemap_devmem *src = drm_pagemap_page_devmem(spage);
	struct drm_pagemap *dpagemap = devmem->dpagemap;

	if (source_copies)
		return dpagemap->ops->device_map(dpagemap, src->dev, dpage, 0,
						 DMA_FROM_DEVICE);
	return src->dpagemap->ops->device_map(src->dpagemap, devmem->dev,
					      spage, 0, DMA_TO_DEVICE);
}

/*
 * Undo drm_pagemap_map_device_page() for @spage with the mapping provider's
 * &drm_pagemap_ops.device_unmap, if it has one. @spage still holds its
 * allocation (the migration has not finalized yet).
 */
static void drm_pagemap_unmap_device_page(struct drm_pagemap_devmem *devmem,
					  struct page *spage,
					  struct drm_pagemap_addr addr,
					  bool source_copies)
{
	struct drm_pagemap_devmem *src = drm_pagemap_page_devmem(spage);
	struct drm_pagemap *dpagemap = source_copies ? devmem->dpagemap :
						       src->dpagemap;
	struct device *dev = source_copies ? src->dev : devmem->dev;

	if (dpagemap->ops->device_unmap)
		dpagemap->ops->device_unmap(dpagemap, dev, addr);
}

/*
 * Map the source pages of a migration to device memory for their copy and
 * check the device pfns (@pfn) they go to. Device pages that do not move
 * (see drm_pagemap_device_source()), or that cannot be mapped, are taken
 * out of the migration (migrate_vma_finalize() puts them back). Nothing
 * else is touched yet: on failure the caller only unmaps, and
 * migrate_vma_finalize() restores every page.
 */
static int drm_pagemap_map_sources(struct drm_pagemap_devmem *devmem,
				   struct drm_pagemap_migration *m,
				   const unsigned long *pfn,
				   unsigned long npages, bool same_pagemap,
				   bool source_copies)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(m->src[i]);
		bool device = spage && is_device_private_page(spage);

		if (!(m->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (device &&
		    !drm_pagemap_device_source(devmem, spage, same_pagemap)) {
			m->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		if (!drm_pagemap_pfn_free(devmem, pfn[i]))
			return -EINVAL;
		if (!spage)
			continue;
		if (!device) {
			m->addr[i] = drm_pagemap_map_page(devmem->dev, spage,
							  DMA_TO_DEVICE, i);
			if (!m->addr[i].addr)
				return -ENOMEM;
			continue;
		}
		m->addr[i] = drm_pagemap_map_device_page(devmem, spage,
							 pfn_to_page(pfn[i]),
							 source_copies);
		if (m->addr[i].addr == DMA_MAPPING_ERROR) {
			/* Not reachable: this page stays where it is. */
			m->addr[i] = drm_pagemap_addr_encode(0,
							     DRM_INTERCONNECT_SYSTEM,
							     0, DMA_NONE);
			m->src[i] &= ~MIGRATE_PFN_MIGRATE;
		}
	}
	return 0;
}

/*
 * Release the addresses drm_pagemap_map_sources() mapped: DMA mappings of
 * system pages, and interconnect addresses of device pages. Before
 * migrate_vma_finalize(), while the source device pages still hold their
 * allocations.
 */
static void drm_pagemap_unmap_sources(struct drm_pagemap_devmem *devmem,
				      struct drm_pagemap_migration *m,
				      unsigned long npages, bool source_copies)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		struct drm_pagemap_addr *addr = &m->addr[i];
		struct page *spage = migrate_pfn_to_page(m->src[i]);

		/*
		 * By the source page's kind, not the address's protocol: a
		 * provider may give its interconnect addresses any protocol
		 * but %DRM_INTERCONNECT_SYSTEM, the one of an entry never
		 * mapped.
		 */
		if (spage && is_device_private_page(spage)) {
			if (addr->proto != DRM_INTERCONNECT_SYSTEM)
				drm_pagemap_unmap_device_page(devmem, spage,
							      *addr,
							      source_copies);
		} else if (addr->addr) {
			dma_unmap_page(devmem->dev, addr->addr, PAGE_SIZE,
				       addr->dir);
		}
		*addr = drm_pagemap_addr_encode(0, DRM_INTERCONNECT_SYSTEM, 0,
						DMA_NONE);
	}
}

/*
 * The allocation whose copy op moves entry @i of a migration to device
 * memory: NULL when the destination copies (m->pages[i] is the destination
 * page, for its &drm_pagemap_devmem_ops.copy_to_devmem), else the source
 * page's allocation (m->pages[i] is the source page, for its
 * &drm_pagemap_devmem_ops.copy_to_ram).
 */
static struct drm_pagemap_devmem *
drm_pagemap_copier(const struct drm_pagemap_migration *m, unsigned long i)
{
	if (m->pages[i] == migrate_pfn_to_page(m->dst[i]))
		return NULL;
	return drm_pagemap_page_devmem(m->pages[i]);
}

/*
 * Copy the data of a migration into @devmem: one copy call per run of pages
 * with the same copier (drm_pagemap_copier()), entries that do not migrate
 * (NULL) joining any run. Every copy waits for @devmem's fence: it writes
 * @devmem's memory.
 *
 * Return: 0 or the first copy's error (the copies before it are done).
 */
static int drm_pagemap_copy_in(struct drm_pagemap_devmem *devmem,
			       struct drm_pagemap_migration *m,
			       unsigned long npages)
{
	struct drm_pagemap_devmem *copier;
	unsigned long i, j;
	int err;

	for (i = 0; i < npages; i = j) {
		j = i + 1;
		if (!m->pages[i])
			continue;
		copier = drm_pagemap_copier(m, i);
		while (j < npages && (!m->pages[j] ||
				      drm_pagemap_copier(m, j) == copier))
			j++;
		if (copier)
			err = copier->ops->copy_to_ram(&m->pages[i],
						       &m->addr[i], j - i,
						       devmem->pre_migrate_fence);
		else
			err = devmem->ops->copy_to_devmem(&m->pages[i],
							  &m->addr[i], j - i,
							  devmem->pre_migrate_fence);
		if (err)
			return err;
	}
	return 0;
}

/* Give up device pages prepared for a migration that will not happen. */
static void drm_pagemap_abort_devmem(struct drm_pagemap_migration *m,
				     unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		struct page *dpage = migrate_pfn_to_page(m->dst[i]);

		if (!dpage)
			continue;
		m->dst[i] = 0;
		unlock_page(dpage);
		put_page(dpage);	/* frees it: drm_pagemap_page_free() */
	}
}

/**
 * drm_pagemap_migrate_to_devmem() - migrate a VA interval to device memory
 * @devmem: the allocation to migrate into, at least (@end - @start) bytes;
 *          the caller holds a reference
 * @mm: the process
 * @start: start of the interval, page aligned
 * @end: end of the interval (exclusive), page aligned; [@start, @end) lies
 *       in one VMA
 * @mdetails: how to migrate: &drm_pagemap_migrate_details.timeslice_ms sets
 *            &drm_pagemap_devmem.timeslice_expiration; may be NULL (no
 *            timeslice)
 *
 * System pages are selected, and the device pages of drm_pagemap providers
 * whose &dev_pagemap.owner is the destination's: its interconnect peers'
 * pages move too, device to device, with no trip through system memory.
 * Pages already in the destination's pagemap move (into @devmem) only with
 * &drm_pagemap_migrate_details.can_migrate_same_pagemap; without it they
 * stay where they are and do not count as migrated. By default the
 * destination copies a peer's page, through the address of the page the
 * peer's provider gives its device (&drm_pagemap_ops.device_map); with
 * &drm_pagemap_migrate_details.source_peer_migrates the peer's allocation
 * copies it (&drm_pagemap_devmem_ops.copy_to_ram) to the address the
 * destination's provider gives the peer's device for the new page. A peer's
 * page that cannot be mapped so stays where it is. Device pages of other
 * owners are not selected: they move through system memory when a CPU or
 * another device faults them back. The invalidation the migration causes
 * carries the destination's &dev_pagemap.owner; since interconnect peers
 * share it, that owner no longer tells which device started the migration,
 * nor whether pages leave the device: a driver must not skip such an
 * invalidation as one of its own migrations (it may be a peer's taking
 * this device's pages).
 *
 * Pages of the interval that cannot migrate (pinned, under writeback, ...)
 * stay in system memory. Page i of the interval goes to device pfn i of the
 * allocation. In a writable private file mapping, every page of the
 * interval is write-faulted first, as a CPU write would: that breaks its
 * copy-on-write sharing with the page cache, so that it is an anonymous
 * page, which can migrate (the core's migrate_vma would otherwise unmap
 * page-cache pages from every process, copy them, and then refuse them); the
 * interval ends at the first page that cannot be faulted so (past the end of
 * the file, say), and its pages in device memory come back to system memory
 * first. Nothing of a shared or read-only file mapping migrates. On any
 * failure nothing migrates: every source page stays mapped as it was, with
 * its content, and the device pages prepared for it are freed.
 *
 * Unlike mainline, which fails with -EBUSY unless every page migrated, a
 * partial migration succeeds: the range is then mixed, which
 * drm_gpusvm_get_pages() maps with &drm_gpusvm_ctx.allow_mixed.
 *
 * Return: 0 when pages migrated (their number, peers' pages included, which
 * may be fewer than the interval's, is stored where
 * &drm_pagemap_migrate_details.migrated points, if set), -EBUSY when none
 * could (nothing to select, every page already in the destination's pagemap
 * without &drm_pagemap_migrate_details.can_migrate_same_pagemap, or a VMA
 * whose pages may not migrate), -EFAULT (no VMA, or the mm is gone),
 * -EINVAL (bad arguments, a provider without a pagemap, or a pfn from
 * &drm_pagemap_devmem_ops.populate_devmem_pfn that is not a free device page
 * of the provider), -ENOMEM (also a failed DMA mapping), or the error of a
 * provider op; always -EOPNOTSUPP without CONFIG_DEVICE_PRIVATE.
 */
int drm_pagemap_migrate_to_devmem(struct drm_pagemap_devmem *devmem,
				  struct mm_struct *mm, unsigned long start,
				  unsigned long end,
				  const struct drm_pagemap_migrate_details *mdetails)
{
	unsigned long npages = (end - start) >> PAGE_SHIFT, i, migrated = 0;
	unsigned long timeslice_ms = mdetails ? mdetails->timeslice_ms : 0;
	bool same_pagemap = mdetails && mdetails->can_migrate_same_pagemap;
	bool source_copies = mdetails && mdetails->source_peer_migrates;
	struct drm_pagemap_migration m;
	unsigned long *pfn;
	struct migrate_vma migrate = {
		.start = start,
		.end = end,
		.flags = MIGRATE_VMA_SELECT_SYSTEM |
			 MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	struct vm_area_struct *vma;
	int err;

	if (mdetails && mdetails->migrated)
		*mdetails->migrated = 0;
	if (!npages || start >= end || !PAGE_ALIGNED(start) ||
	    !PAGE_ALIGNED(end) || npages > devmem->size >> PAGE_SHIFT ||
	    !devmem->dpagemap || !devmem->dpagemap->pagemap)
		return -EINVAL;
	migrate.pgmap_owner = devmem->dpagemap->pagemap->owner;
	timeslice_ms = min_t(unsigned long, timeslice_ms,
			     DRM_PAGEMAP_TIMESLICE_MAX_MS);
	err = drm_pagemap_migration_alloc(&m, npages);
	if (err)
		return err;
	if (!mmget_not_zero(mm)) {
		err = -EFAULT;
		goto out_free;
	}
	mmap_read_lock(mm);

	vma = vma_lookup(mm, start);
	if (!vma || end > vma->vm_end) {
		err = -EFAULT;
		goto out_unlock;
	}
	if (!drm_pagemap_vma_migratable(vma))
		goto out_unlock;
	if (!vma_is_anonymous(vma)) {
		long faulted;

		/* No pages: only the write faults, mmap_lock kept. */
		faulted = get_user_pages_remote(mm, start, npages, FOLL_WRITE,
						NULL, NULL, NULL);
		if (faulted <= 0)
			goto out_unlock;
		npages = faulted;
		migrate.end = start + (npages << PAGE_SHIFT);
	}
	migrate.vma = vma;
	migrate.src = m.src;
	migrate.dst = m.dst;
	err = migrate_vma_setup(&migrate);
	if (err)
		goto out_unlock;
	if (!migrate.cpages)
		goto out_finalize;

	/*
	 * m.pages holds the device pfn list (same size) until the device pages
	 * are set up. Every source page is mapped and every pfn checked before
	 * the first destination entry exists: a failure part way leaves every
	 * dst entry 0, so migrate_vma_finalize() puts every page back as it was.
	 * Device pages that stay (the destination's own, unmappable ones) leave
	 * the migration here the same way.
	 */
	pfn = (unsigned long *)m.pages;
	err = devmem->ops->populate_devmem_pfn(devmem, npages, pfn);
	if (err)
		goto out_finalize;
	err = drm_pagemap_map_sources(devmem, &m, pfn, npages, same_pagemap,
				      source_copies);
	if (err)
		goto out_unmap;
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(m.src[i]);
		struct page *dpage;

		if (!(m.src[i] & MIGRATE_PFN_MIGRATE)) {
			m.pages[i] = NULL;
			continue;
		}
		dpage = pfn_to_page(pfn[i]);
		zone_device_page_init(dpage);
		atomic_inc(&devmem->refs);
		dpage->zone_device_data = devmem;
		m.dst[i] = migrate_pfn(pfn[i]);
		/* pfn[i] is read: its slot takes the copier's page. */
		if (source_copies && spage && is_device_private_page(spage))
			m.pages[i] = spage;
		else
			m.pages[i] = dpage;
		if ((m.src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (vma->vm_flags & VM_WRITE)))
			m.dst[i] |= MIGRATE_PFN_WRITE;
	}

	/*
	 * The copies are over, done or not: unmap while the pages mapped are
	 * all still held. A copy failing after others succeeded: the
	 * destination pages, some holding copies, are all freed and every
	 * source page stays.
	 */
	err = drm_pagemap_copy_in(devmem, &m, npages);
	drm_pagemap_unmap_sources(devmem, &m, npages, source_copies);
	if (err) {
		drm_pagemap_abort_devmem(&m, npages);
		goto out_finalize;
	}

	/* Before a CPU can fault on the new device pages. */
	WRITE_ONCE(devmem->timeslice_expiration,
		   get_jiffies_64() + msecs_to_jiffies(timeslice_ms));
	migrate_vma_pages(&migrate);
	for (i = 0; i < npages; i++)
		if (m.dst[i] && (m.src[i] & MIGRATE_PFN_MIGRATE))
			migrated++;
	goto out_finalize;

out_unmap:
	drm_pagemap_unmap_sources(devmem, &m, npages, source_copies);
out_finalize:
	migrate_vma_finalize(&migrate);
out_unlock:
	mmap_read_unlock(mm);
	mmput_async(mm);	/* as in drm_pagemap_populate_mm() */
out_free:
	drm_pagemap_migration_free(&m);
	if (err)
		return err;
	if (mdetails && mdetails->migrated)
		*mdetails->migrated = migrated;
	return migrated ? 0 : -EBUSY;
}
EXPORT_SYMBOL_GPL(drm_pagemap_migrate_to_devmem);

/*
 * For each collected device page in @m->src, allocate a system page and copy
 * the data back, one copy call per run of pages of the same allocation.
 * Pages that fail stay where they are (their dst entry stays 0).
 *
 * Return: 0, or -ENOMEM if a system page could not be allocated, else -EIO
 * if a page could not be DMA-mapped or copied. *@focus_err (if not NULL) gets
 * the error of page @focus alone.
 */
static int drm_pagemap_copy_back(struct drm_pagemap_migration *m,
				 unsigned long npages,
				 struct vm_area_struct *vma,
				 unsigned long start, unsigned long focus,
				 int *focus_err)
{
	struct drm_pagemap_devmem *devmem;
	unsigned long i, j, k;
	int err = 0;

	if (focus_err)
		*focus_err = 0;

	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(m->src[i]);
		struct page *dpage;

		m->dst[i] = 0;
		m->pages[i] = NULL;
		m->addr[i].addr = 0;
		if (!spage || !(m->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		devmem = drm_pagemap_page_devmem(spage);
		dpage = vma ? alloc_page_vma(GFP_HIGHUSER, vma,
					     start + (i << PAGE_SHIFT)) :
			      alloc_page(GFP_HIGHUSER);
		if (!dpage) {
			err = -ENOMEM;
			if (i == focus && focus_err)
				*focus_err = -ENOMEM;
			continue;
		}
		m->addr[i] = drm_pagemap_map_page(devmem->dev, dpage,
						  DMA_FROM_DEVICE, i);
		if (!m->addr[i].addr) {
			__free_page(dpage);
			err = err ?: -EIO;
			if (i == focus && focus_err)
				*focus_err = -EIO;
			continue;
		}
		lock_page(dpage);
		m->pages[i] = spage;
		m->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (m->src[i] & MIGRATE_PFN_WRITE)
			m->dst[i] |= MIGRATE_PFN_WRITE;
	}

	for (i = 0; i < npages; i = j) {
		j = i + 1;
		if (!m->pages[i])
			continue;
		devmem = drm_pagemap_page_devmem(m->pages[i]);
		while (j < npages && (!m->pages[j] ||
				      drm_pagemap_page_devmem(m->pages[j]) == devmem))
			j++;
		if (!devmem->ops->copy_to_ram(&m->pages[i], &m->addr[i], j - i,
					      devmem->pre_migrate_fence))
			continue;
		/* Not copied: these pages stay in device memory. */
		for (k = i; k < j; k++) {
			struct page *dpage = migrate_pfn_to_page(m->dst[k]);

			if (!dpage)
				continue;
			dma_unmap_page(devmem->dev, m->addr[k].addr, PAGE_SIZE,
				       DMA_FROM_DEVICE);
			m->addr[k].addr = 0;
			m->dst[k] = 0;
			unlock_page(dpage);
			put_page(dpage);
			if (k == focus && focus_err)
				*focus_err = -EIO;
		}
		err = err ?: -EIO;
	}

	for (i = 0; i < npages; i++) {
		if (!m->addr[i].addr)
			continue;
		devmem = drm_pagemap_page_devmem(m->pages[i]);
		dma_unmap_page(devmem->dev, m->addr[i].addr, PAGE_SIZE,
			       DMA_FROM_DEVICE);
		m->addr[i].addr = 0;
	}
	return err;
}

/*
 * Wait, if needed, until the device memory of a CPU fault has been there
 * for its timeslice. When the fault may be retried, mmap_lock is dropped
 * for the wait and the fault retried (VM_FAULT_RETRY), as a page lock wait
 * does; else it waits with the lock held. A fatal signal ends the wait.
 *
 * Return: 0 to migrate now, or VM_FAULT_RETRY (mmap_lock dropped unless
 * FAULT_FLAG_RETRY_NOWAIT).
 */
static vm_fault_t drm_pagemap_timeslice_wait(struct vm_fault *vmf,
					     struct drm_pagemap_devmem *devmem)
{
	u64 expiry = READ_ONCE(devmem->timeslice_expiration);
	u64 now = get_jiffies_64();

	if (!time_before64(now, expiry))
		return 0;
	if (fault_flag_allow_retry_first(vmf->flags)) {
		if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
			return VM_FAULT_RETRY;
		mmap_read_unlock(vmf->vma->vm_mm);
		schedule_timeout_killable(expiry - now);
		return VM_FAULT_RETRY;
	}
	schedule_timeout_killable(expiry - now);
	return 0;
}

/*
 * &dev_pagemap_ops.migrate_to_ram of drm_pagemap providers, for a CPU fault
 * on a device page: once the page's allocation has been in device memory
 * for its timeslice, migrates the allocation-sized, aligned window around
 * the fault (within the VMA) back to system memory. Only the faulting page
 * decides the result: another page of the window that cannot move stays in
 * device memory and faults again when it is touched.
 *
 * Return: 0 when the faulting page moved (or another thread is moving it:
 * the access is retried), VM_FAULT_RETRY while the timeslice runs,
 * VM_FAULT_OOM when no system page could be allocated for it,
 * VM_FAULT_SIGBUS when it could not be DMA-mapped or copied.
 */
static vm_fault_t drm_pagemap_cpu_fault(struct vm_fault *vmf)
{
	struct drm_pagemap_devmem *devmem = drm_pagemap_page_devmem(vmf->page);
	unsigned long size = devmem->size;
	struct vm_area_struct *vma = vmf->vma;
	struct drm_pagemap_migration m;
	struct migrate_vma migrate = {
		.vma = vma,
		.pgmap_owner = vmf->page->pgmap->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	unsigned long npages, index;
	vm_fault_t ret;
	int err = 0;

	ret = drm_pagemap_timeslice_wait(vmf, devmem);
	if (ret)
		return ret;
	if (!is_power_of_2(size))
		size = PAGE_SIZE;
	migrate.start = max(ALIGN_DOWN(vmf->address, size), vma->vm_start);
	migrate.end = min(ALIGN_DOWN(vmf->address, size) + size, vma->vm_end);
	npages = (migrate.end - migrate.start) >> PAGE_SHIFT;
	index = (vmf->address - migrate.start) >> PAGE_SHIFT;

	if (drm_pagemap_migration_alloc(&m, npages))
		return VM_FAULT_OOM;
	migrate.src = m.src;
	migrate.dst = m.dst;
	if (migrate_vma_setup(&migrate)) {
		drm_pagemap_migration_free(&m);
		return VM_FAULT_SIGBUS;
	}
	if (migrate.cpages) {
		drm_pagemap_copy_back(&m, npages, vma, migrate.start, index,
				      &err);
		migrate_vma_pages(&migrate);
	}
	migrate_vma_finalize(&migrate);
	drm_pagemap_migration_free(&m);
	if (err == -ENOMEM)
		return VM_FAULT_OOM;
	return err ? VM_FAULT_SIGBUS : 0;
}

static const struct dev_pagemap_ops drm_pagemap_pagemap_ops = {
	.page_free = drm_pagemap_page_free,
	.migrate_to_ram = drm_pagemap_cpu_fault,
};

/**
 * drm_pagemap_pagemap_ops_get() - the &dev_pagemap_ops of drm_pagemap memory
 *
 * A provider sets them as its &dev_pagemap.ops before memremap_pages():
 * page_free drops a device page's reference on its allocation, and
 * migrate_to_ram moves data back on a CPU fault (see DOC: Device memory).
 *
 * Return: the ops; NULL without CONFIG_DEVICE_PRIVATE, where there is no
 * device-private memory to register.
 */
const struct dev_pagemap_ops *drm_pagemap_pagemap_ops_get(void)
{
	return &drm_pagemap_pagemap_ops;
}
EXPORT_SYMBOL_GPL(drm_pagemap_pagemap_ops_get);

/**
 * drm_pagemap_evict_to_ram() - move an allocation back to system memory
 * @devmem: the allocation; the caller holds a reference
 *
 * Migrates every device page of the allocation, wherever it is mapped, with
 * migrate_device_range(), timeslice or not. Pages locked elsewhere (a CPU
 * fault migrating them already) are retried.
 *
 * Return: 0 once no device page of the allocation holds data, -EBUSY if
 * some still did after the retries, -ENOMEM. Always 0 without
 * CONFIG_DEVICE_PRIVATE, where no allocation can hold data.
 */
int drm_pagemap_evict_to_ram(struct drm_pagemap_devmem *devmem)
{
	unsigned long npages = devmem->size >> PAGE_SHIFT, i;
	struct drm_pagemap_migration m;
	unsigned int tries;
	int err;

	err = drm_pagemap_migration_alloc(&m, npages);
	if (err)
		return err;
	/* m.pages holds the pfn list (same size as a pointer). */
	for (tries = 0; atomic_read(&devmem->refs) > 1 && tries < 100; tries++) {
		unsigned long *pfn = (unsigned long *)m.pages;

		if (tries)
			usleep_range(500, 1000);
		err = devmem->ops->populate_devmem_pfn(devmem, npages, pfn);
		if (err)
			break;
		for (i = 0; i < npages; i++)
			migrate_device_range(&m.src[i], pfn[i], 1);
		/* Only pages still holding this allocation's data. */
		for (i = 0; i < npages; i++) {
			struct page *page = migrate_pfn_to_page(m.src[i]);

			if (page && drm_pagemap_page_devmem(page) != devmem)
				m.src[i] &= ~MIGRATE_PFN_MIGRATE;
		}
		err = drm_pagemap_copy_back(&m, npages, NULL, 0, 0, NULL);
		migrate_device_pages(m.src, m.dst, npages);
		migrate_device_finalize(m.src, m.dst, npages);
		if (err == -ENOMEM)
			break;
		err = 0;
	}
	if (!err && atomic_read(&devmem->refs) > 1)
		err = -EBUSY;
	drm_pagemap_migration_free(&m);
	return err;
}
EXPORT_SYMBOL_GPL(drm_pagemap_evict_to_ram);

#else /* !CONFIG_DEVICE_PRIVATE */

/*
 * Stubs for kernels without device-private memory: the kernel-doc of the
 * functions above says what they return here.
 */

int drm_pagemap_migrate_to_devmem(struct drm_pagemap_devmem *devmem,
				  struct mm_struct *mm, unsigned long start,
				  unsigned long end,
				  const struct drm_pagemap_migrate_details *mdetails)
{
	return -EOPNOTSUPP;
}
EXPORT_SYMBOL_GPL(drm_pagemap_migrate_to_devmem);

int drm_pagemap_evict_to_ram(struct drm_pagemap_devmem *devmem)
{
	return 0;
}
EXPORT_SYMBOL_GPL(drm_pagemap_evict_to_ram);

const struct dev_pagemap_ops *drm_pagemap_pagemap_ops_get(void)
{
	return NULL;
}
EXPORT_SYMBOL_GPL(drm_pagemap_pagemap_ops_get);

#endif /* CONFIG_DEVICE_PRIVATE */

MODULE_DESCRIPTION("Device-memory providers and migration helpers (drm_pagemap)");
MODULE_LICENSE("Dual MIT/GPL");
