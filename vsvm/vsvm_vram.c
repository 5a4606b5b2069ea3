// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vsvm: device memory ("VRAM") as MEMORY_DEVICE_PRIVATE pages.
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-direct.h>
#include <linux/dma-fence.h>
#include <linux/highmem.h>
#include <linux/memremap.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include <drm/drm_pagemap.h>

#include "vsvm_drv.h"

/**
 * DOC: Device memory
 *
 * Each device has ``vram_size`` MiB of device memory: a free physical address
 * region registered with memremap_pages() as MEMORY_DEVICE_PRIVATE, so the
 * kernel has a struct page per VRAM page but the CPU cannot access them. The
 * content of a VRAM page lives in a system page the driver allocates when the
 * VRAM page is allocated (the "backing store"): only the device's engine and
 * copy engine touch it.
 *
 * The allocator hands out naturally aligned blocks of a range's size (2 MiB,
 * 64 KiB or 4 KiB), one &struct vsvm_bo per migrated range, kept in LRU
 * order (a GPU fault binding a block moves it to the tail). When no block is
 * free, the least recently used one is evicted to system memory with
 * drm_pagemap_evict_to_ram().
 *
 * A block joins the LRU only once the migration into it has finished, and
 * only if it then holds data: an eviction never picks a block that is being
 * migrated into (it would wait for that migration, then throw the fresh data
 * away), nor one that never held data. A block being evicted leaves the LRU
 * until its eviction is over, so two evictions never wait for each other.
 * When nothing is evictable the allocation fails and the range stays in
 * system memory.
 *
 * The device's &struct drm_pagemap has a populate_mm op: the GPU SVM code
 * migrates with drm_pagemap_populate_mm(), as a driver would through any
 * provider. Policy, from the VA attributes: a GPU fault in an interval whose
 * preferred location is the device migrates the range first; prefetch to
 * the device migrates ahead; a CPU touch of a VRAM page migrates the range
 * back (the migrate_to_ram of drm_pagemap_pagemap_ops_get()), but not before
 * the block has been in VRAM for ``vram_timeslice_ms`` (a module parameter), so
 * that a CPU and a GPU alternating on one page do not migrate it back and
 * forth at the copy engine's speed.
 *
 * Each device is its own page owner: another vsvm device faulting on these
 * pages makes hmm_range_fault() migrate them back to system memory first, so
 * no device reads a stale copy (N:1 included). Devices on one interconnect
 * (the ``interconnect`` module parameter, a bitmask) share one page owner
 * instead: hmm_range_fault() hands a device its peers' VRAM pages as they
 * are, and &drm_pagemap_ops.device_map gives it an address on the
 * interconnect (the owner's index and the page's offset), which its engine
 * reaches directly: peer access, no migration. A migration into this VRAM
 * (a prefetch to the device) takes a peer's VRAM pages too, VRAM to VRAM:
 * the copy engine reads them at that address, with no trip through system
 * memory (drm_pagemap_migrate_to_devmem()).
 *
 * Copies between VRAM and system memory run on the device's copy engine
 * (&vsvm_device.copy_engine), separate from the job engine: the job engine
 * waits for GPU faults, and a GPU fault may wait for a migration's copy.
 *
 * At unload every block is evicted before the pagemap goes away: no device
 * page outlives the device. Blocks not on the LRU (being released, migrated
 * into or evicted) are waited for on a wait queue that a block's release
 * wakes, up to %VSVM_VRAM_FINI_TIMEOUT without progress.
 */

/*
 * A VRAM device address: the owning device's index above this bit, the
 * offset in its VRAM below. A peer on the interconnect maps it as it is.
 */
#define VSVM_VRAM_DEV_SHIFT	40

/* How long vsvm_vram_fini() waits for VRAM to drain without progress. */
#define VSVM_VRAM_FINI_TIMEOUT	(10 * HZ)

/**
 * struct vsvm_vram - the device memory of one device
 * @vdev: the device
 * @pagemap: the MEMORY_DEVICE_PRIVATE pagemap
 * @dpagemap: the drm_pagemap provider
 * @res: the physical address region
 * @base_pfn: first pfn of the region
 * @npages: size in pages
 * @lock: protects @slots, @backing, @lru and @nr_bos
 * @slots: the block owning each VRAM page (NULL: free)
 * @backing: the system page holding each allocated VRAM page's content
 * @lru: the evictable blocks (migration finished, holding data, not being
 *       evicted), least recently used first
 * @nr_bos: blocks allocated, on @lru or not
 * @release_wq: woken when a block is released
 * @dpagemap_done: completed when the last reference on @dpagemap went
 * @pages_in: pages migrated to VRAM
 * @pages_out: pages copied back to system memory (CPU faults, GPU faults
 *             of other devices, evictions)
 * @evictions: blocks evicted under VRAM pressure (all their data moved)
 * @evict_delay_ms: for tests (debugfs ``vram_evict_delay_ms``): an eviction
 *                  sleeps this long before it copies, its pages under
 *                  migration meanwhile, as a slow copy engine would
 */
struct vsvm_vram {
	struct vsvm_device *vdev;
	struct dev_pagemap pagemap;
	struct drm_pagemap dpagemap;
	struct resource *res;
	unsigned long base_pfn;
	unsigned long npages;
	spinlock_t lock;		/* protects slots, backing, lru, nr_bos */
	struct vsvm_bo **slots;
	struct page **backing;
	struct list_head lru;
	unsigned long nr_bos;
	wait_queue_head_t release_wq;
	struct completion dpagemap_done;
	atomic64_t pages_in;
	atomic64_t pages_out;
	atomic64_t evictions;
	u32 evict_delay_ms;
};

/**
 * struct vsvm_bo - one block of VRAM, holding one range's data
 * @devmem: the drm_pagemap allocation
 * @vram: the device memory
 * @first: index of its first page
 * @lru_link: entry in &vsvm_vram.lru while the block is evictable; empty
 *            while it is being migrated into or evicted
 * @evicting: vsvm_vram_evict_lru() is evicting it
 */
struct vsvm_bo {
	struct drm_pagemap_devmem devmem;
	struct vsvm_vram *vram;
	unsigned long first;
	struct list_head lru_link;
	bool evicting;
};

/* Each device's VRAM by index, for addresses on the interconnect. */
static struct vsvm_vram *vsvm_vrams[VSVM_MAX_DEVICES];

/* The VRAM and page index of a device address; NULL if none. */
static struct vsvm_vram *vsvm_vram_of(u64 addr, unsigned long *index)
{
	unsigned long dev = addr >> VSVM_VRAM_DEV_SHIFT;
	struct vsvm_vram *vram;

	if (dev >= VSVM_MAX_DEVICES)
		return NULL;
	/* Pairs with vsvm_vram_init()'s release: a set-up VRAM. */
	vram = smp_load_acquire(&vsvm_vrams[dev]);
	*index = (addr & (BIT_ULL(VSVM_VRAM_DEV_SHIFT) - 1)) >> PAGE_SHIFT;
	return vram && *index < vram->npages ? vram : NULL;
}

static struct vsvm_bo *to_vsvm_bo(struct drm_pagemap_devmem *devmem)
{
	return container_of(devmem, struct vsvm_bo, devmem);
}

static unsigned long vsvm_bo_npages(struct vsvm_bo *bo)
{
	return bo->devmem.size >> PAGE_SHIFT;
}

/* The device memory a VRAM page belongs to. */
static struct vsvm_vram *vsvm_page_vram(struct page *page)
{
	return container_of(page->pgmap, struct vsvm_vram, pagemap);
}

/**
 * vsvm_bo_release() - &drm_pagemap_devmem_ops.devmem_release of a block
 * @devmem: the block's allocation, holding no data any more
 *
 * Gives the block's VRAM back, takes it off the LRU if it is there (a block
 * never migrated into never was) and wakes vsvm_vram_fini().
 */
static void vsvm_bo_release(struct drm_pagemap_devmem *devmem)
{
	struct vsvm_bo *bo = to_vsvm_bo(devmem);
	struct vsvm_vram *vram = bo->vram;
	unsigned long npages = vsvm_bo_npages(bo), i, n;
	struct page *backing[64];

	/* May run wherever a device page is freed: no sleeping. */
	for (i = 0; i < npages; i += n) {
		unsigned long k;

		n = min_t(unsigned long, npages - i, ARRAY_SIZE(backing));
		spin_lock(&vram->lock);
		for (k = 0; k < n; k++) {
			backing[k] = vram->backing[bo->first + i + k];
			vram->backing[bo->first + i + k] = NULL;
			vram->slots[bo->first + i + k] = NULL;
		}
		if (i + n == npages) {
			list_del_init(&bo->lru_link);
			vram->nr_bos--;
			/*
			 * Under the lock: fini may go on once it sees 0 (it
			 * then waits for the provider reference this block
			 * still drops, see vsvm_vram_dpagemap_destroy()).
			 */
			wake_up_all(&vram->release_wq);
		}
		spin_unlock(&vram->lock);
		for (k = 0; k < n; k++)
			__free_page(backing[k]);
	}
	kfree(bo);
}

static int vsvm_bo_populate_pfn(struct drm_pagemap_devmem *devmem,
				unsigned long npages, unsigned long *pfn)
{
	struct vsvm_bo *bo = to_vsvm_bo(devmem);
	unsigned long i;

	for (i = 0; i < npages; i++)
		pfn[i] = bo->vram->base_pfn + bo->first + i;
	return 0;
}

static void *vsvm_vram_kmap_page(struct vsvm_vram *vram, struct page *page)
{
	return kmap_local_page(vram->backing[page_to_pfn(page) - vram->base_pfn]);
}

/*
 * Map the other side of a copy for the copy engine of @vram's device: a
 * system page DMA-mapped for the device, or a VRAM page (of this device or
 * a peer on the interconnect) at its device address. Return: the kernel
 * address, or NULL for an address of no device.
 */
static void *vsvm_kmap_addr(struct vsvm_vram *vram, struct drm_pagemap_addr addr)
{
	phys_addr_t phys;

	if (addr.proto == DRM_INTERCONNECT_DRIVER)
		return vsvm_vram_kmap(addr.addr);
	phys = dma_to_phys(vram->vdev->drm.dev, addr.addr);
	return kmap_local_page(pfn_to_page(PHYS_PFN(phys)));
}

/**
 * struct vsvm_vram_copy - one copy between VRAM and system memory or a
 * peer's VRAM
 * @vram: the device memory
 * @pages: the VRAM pages (NULL entries are skipped)
 * @addr: the other side of each page: a system page's DMA address
 *        (address 0 with @to_devmem: zero-fill) or a VRAM page's device
 *        address (%DRM_INTERCONNECT_DRIVER)
 * @npages: number of entries
 * @to_devmem: copy into VRAM (else out of it)
 * @err: set by the copy: 0, or -EIO if an address was of no device
 */
struct vsvm_vram_copy {
	struct vsvm_vram *vram;
	struct page **pages;
	struct drm_pagemap_addr *addr;
	unsigned long npages;
	bool to_devmem;
	int err;
};

/*
 * The copy engine's work. Only copies to system memory count as pages out:
 * a copy to a peer's VRAM is that peer's pages in.
 */
static void vsvm_vram_copy_work(void *arg)
{
	struct vsvm_vram_copy *c = arg;
	unsigned long i;

	for (i = 0; i < c->npages; i++) {
		struct drm_pagemap_addr addr = c->addr[i];
		void *vram_va, *other_va = NULL;

		if (!c->pages[i])
			continue;
		if (addr.addr || addr.proto == DRM_INTERCONNECT_DRIVER) {
			other_va = vsvm_kmap_addr(c->vram, addr);
			if (!other_va) {
				c->err = -EIO;
				return;
			}
		}
		vram_va = vsvm_vram_kmap_page(c->vram, c->pages[i]);
		if (!c->to_devmem)
			memcpy(other_va, vram_va, PAGE_SIZE);
		else if (other_va)
			memcpy(vram_va, other_va, PAGE_SIZE);
		else
			memset(vram_va, 0, PAGE_SIZE);
		kunmap_local(vram_va);
		if (other_va)
			kunmap_local(other_va);
		if (!c->to_devmem && addr.proto == DRM_INTERCONNECT_SYSTEM)
			atomic64_inc(&c->vram->pages_out);
		cond_resched();
	}
}

/*
 * Copy @npages pages of one block between VRAM and system memory (or a
 * peer's VRAM) on the copy engine, once @fence (if any) signalled.
 * Return: 0, -EIO (an address of no device), or the fence's error.
 */
static int vsvm_vram_copy(struct page **pages, struct drm_pagemap_addr *addr,
			  unsigned long npages, struct dma_fence *fence,
			  bool to_devmem)
{
	struct vsvm_vram_copy c = {
		.pages = pages,
		.addr = addr,
		.npages = npages,
		.to_devmem = to_devmem,
	};
	unsigned long i;
	long err;

	for (i = 0; i < npages && !pages[i]; i++)
		;
	if (i == npages)
		return 0;
	c.vram = vsvm_page_vram(pages[i]);
	if (fence) {
		err = dma_fence_wait(fence, false);
		if (err)
			return err;
	}
	vsvm_copy_engine_run(c.vram->vdev, vsvm_vram_copy_work, &c);
	return c.err;
}

static int vsvm_bo_copy_to_devmem(struct page **pages,
				  struct drm_pagemap_addr *addr,
				  unsigned long npages,
				  struct dma_fence *pre_migrate_fence)
{
	return vsvm_vram_copy(pages, addr, npages, pre_migrate_fence, true);
}

static int vsvm_bo_copy_to_ram(struct page **pages,
			       struct drm_pagemap_addr *addr,
			       unsigned long npages,
			       struct dma_fence *pre_migrate_fence)
{
	unsigned long i;

	/* One block per call: its first page tells whether it is evicted. */
	for (i = 0; i < npages; i++) {
		struct vsvm_bo *bo;
		u32 delay;

		if (!pages[i])
			continue;
		bo = to_vsvm_bo(drm_pagemap_page_devmem(pages[i]));
		delay = READ_ONCE(bo->vram->evict_delay_ms);
		if (delay && READ_ONCE(bo->evicting))
			msleep(delay);
		break;
	}
	return vsvm_vram_copy(pages, addr, npages, pre_migrate_fence, false);
}

static const struct drm_pagemap_devmem_ops vsvm_bo_ops = {
	.devmem_release = vsvm_bo_release,
	.populate_devmem_pfn = vsvm_bo_populate_pfn,
	.copy_to_devmem = vsvm_bo_copy_to_devmem,
	.copy_to_ram = vsvm_bo_copy_to_ram,
};

static struct drm_pagemap_addr
vsvm_vram_device_map(struct drm_pagemap *dpagemap, struct device *dev,
		     struct page *page, unsigned int order,
		     enum dma_data_direction dir)
{
	struct vsvm_vram *vram = container_of(dpagemap, struct vsvm_vram,
					      dpagemap);
	dma_addr_t addr = ((u64)vram->vdev->index << VSVM_VRAM_DEV_SHIFT) |
			  (page_to_pfn(page) - vram->base_pfn) << PAGE_SHIFT;
	unsigned int i;

	/* The owning device, and its peers on the interconnect. */
	if (dev == dpagemap->drm->dev)
		goto out;
	for (i = 0; i < VSVM_MAX_DEVICES; i++) {
		/* Pairs with vsvm_vram_init()'s release. */
		struct vsvm_vram *peer = smp_load_acquire(&vsvm_vrams[i]);

		if (peer && peer->vdev->drm.dev == dev &&
		    peer->vdev->page_owner == vram->vdev->page_owner)
			goto out;
	}
	addr = DMA_MAPPING_ERROR;
out:
	return drm_pagemap_addr_encode(addr, DRM_INTERCONNECT_DRIVER, order,
				       dir);
}

static int vsvm_vram_populate_mm(struct drm_pagemap *dpagemap,
				 unsigned long start, unsigned long end,
				 struct mm_struct *mm, unsigned long timeslice_ms);

/*
 * The provider lives in the device's devres memory: its last reference,
 * dropped by vsvm_vram_fini() or by the last block's release, only tells
 * vsvm_vram_fini() that nothing uses it any more.
 */
static void vsvm_vram_dpagemap_destroy(struct drm_pagemap *dpagemap,
				       bool is_atomic_or_reclaim)
{
	complete_all(&container_of(dpagemap, struct vsvm_vram,
				   dpagemap)->dpagemap_done);
}

static const struct drm_pagemap_ops vsvm_dpagemap_ops = {
	.device_map = vsvm_vram_device_map,
	.populate_mm = vsvm_vram_populate_mm,
	.destroy = vsvm_vram_dpagemap_destroy,
};

/**
 * vsvm_vram_take() - find VRAM for a block
 * @vram: the device memory
 * @bo: the block
 * @npages: its size in pages
 * @backing: the system pages that will hold its content
 *
 * Takes @npages free, naturally aligned VRAM pages. The block is not
 * evictable yet: vsvm_vram_populate() puts it on the LRU once it holds data.
 *
 * Return: false if there are no such free pages.
 */
static bool vsvm_vram_take(struct vsvm_vram *vram, struct vsvm_bo *bo,
			   unsigned long npages, struct page **backing)
{
	unsigned long first, i;

	lockdep_assert_held(&vram->lock);

	for (first = 0; first + npages <= vram->npages; first += npages) {
		for (i = 0; i < npages && !vram->slots[first + i]; i++)
			;
		if (i < npages)
			continue;
		for (i = 0; i < npages; i++) {
			vram->slots[first + i] = bo;
			vram->backing[first + i] = backing[i];
		}
		bo->first = first;
		vram->nr_bos++;
		return true;
	}
	return false;
}

/**
 * vsvm_vram_evict_lru() - evict the least recently used block
 * @vram: the device memory
 *
 * The block leaves the LRU while it drains, and goes back to its tail if
 * some of its data stayed.
 *
 * Return: false if no block was evictable.
 */
static bool vsvm_vram_evict_lru(struct vsvm_vram *vram)
{
	struct vsvm_bo *bo, *victim = NULL;
	int err;

	spin_lock(&vram->lock);
	list_for_each_entry(bo, &vram->lru, lru_link) {
		if (drm_pagemap_devmem_get_unless_zero(&bo->devmem)) {
			victim = bo;
			/* Not evictable while it drains. */
			list_del_init(&bo->lru_link);
			break;
		}
	}
	spin_unlock(&vram->lock);
	if (!victim)
		return false;
	WRITE_ONCE(victim->evicting, true);
	err = drm_pagemap_evict_to_ram(&victim->devmem);
	WRITE_ONCE(victim->evicting, false);
	if (err) {
		/* Some data stayed: evictable again. */
		spin_lock(&vram->lock);
		list_add_tail(&victim->lru_link, &vram->lru);
		spin_unlock(&vram->lock);
	} else {
		atomic64_inc(&vram->evictions);
	}
	drm_pagemap_devmem_put(&victim->devmem);
	return true;
}

/**
 * vsvm_vram_alloc() - allocate a block, evicting others if needed
 * @vram: the device memory
 * @mm: the process whose memory will migrate into it
 * @npages: its size in pages
 *
 * The caller holds the block's first reference and puts it on the LRU once
 * it migrated data into it.
 *
 * Return: the block, ERR_PTR(-ENOSPC) when nothing evictable was left,
 * ERR_PTR(-ENOMEM).
 */
static struct vsvm_bo *vsvm_vram_alloc(struct vsvm_vram *vram,
				       struct mm_struct *mm,
				       unsigned long npages)
{
	unsigned long i, tries;
	struct page **backing;
	struct vsvm_bo *bo;

	if (npages > vram->npages)
		return ERR_PTR(-ENOSPC);
	bo = kzalloc(sizeof(*bo), GFP_KERNEL);
	backing = kvcalloc(npages, sizeof(*backing), GFP_KERNEL);
	if (!bo || !backing)
		goto err_free;
	for (i = 0; i < npages; i++) {
		backing[i] = alloc_page(GFP_HIGHUSER);
		if (!backing[i])
			goto err_free;
	}
	bo->vram = vram;
	INIT_LIST_HEAD(&bo->lru_link);
	for (tries = 0; tries <= vram->npages / npages; tries++) {
		bool taken;

		spin_lock(&vram->lock);
		taken = vsvm_vram_take(vram, bo, npages, backing);
		spin_unlock(&vram->lock);
		if (taken) {
			kvfree(backing);
			drm_pagemap_devmem_init(&bo->devmem, vram->vdev->drm.dev,
						mm, &vsvm_bo_ops,
						&vram->dpagemap,
						npages << PAGE_SHIFT, NULL);
			return bo;
		}
		if (!vsvm_vram_evict_lru(vram))
			break;
	}
	for (i = 0; i < npages; i++)
		__free_page(backing[i]);
	kvfree(backing);
	kfree(bo);
	return ERR_PTR(-ENOSPC);

err_free:
	for (i = 0; backing && i < npages && backing[i]; i++)
		__free_page(backing[i]);
	kvfree(backing);
	kfree(bo);
	return ERR_PTR(-ENOMEM);
}

/*
 * Migrate [@start, @end) of @mm into a new block of @vram, to stay there at
 * least @timeslice_ms. *@migrated gets the number of pages that moved.
 * Return: 0, -EBUSY when no page could move, -ENOSPC when nothing could be
 * evicted, or another negative errno.
 */
static int vsvm_vram_populate(struct vsvm_vram *vram, struct mm_struct *mm,
			      unsigned long start, unsigned long end,
			      unsigned long timeslice_ms,
			      unsigned long *migrated)
{
	/*
	 * A block is allocated for a range: pages already in this VRAM stay
	 * in their block rather than move to the new one. A peer's pages are
	 * copied by this device's copy engine, reading the peer's VRAM over
	 * the interconnect: the peer's engine, serving its own jobs and
	 * migrations, is not made to wait, and its pages_out keeps counting
	 * copies to system memory only.
	 */
	struct drm_pagemap_migrate_details details = {
		.timeslice_ms = timeslice_ms,
		.can_migrate_same_pagemap = false,
		.source_peer_migrates = false,
		.migrated = migrated,
	};
	struct vsvm_bo *bo;
	int err;

	*migrated = 0;
	bo = vsvm_vram_alloc(vram, mm, (end - start) >> PAGE_SHIFT);
	if (IS_ERR(bo))
		return PTR_ERR(bo);
	err = drm_pagemap_migrate_to_devmem(&bo->devmem, mm, start, end,
					    &details);
	if (!err) {
		atomic64_add(*migrated, &vram->pages_in);
		/* Evictable from now on: the migration into it is done. */
		spin_lock(&vram->lock);
		list_add_tail(&bo->lru_link, &vram->lru);
		spin_unlock(&vram->lock);
	}
	/* The block now lives as long as its pages hold data. */
	drm_pagemap_devmem_put(&bo->devmem);
	return err;
}

/*
 * &drm_pagemap_ops.populate_mm of a device's VRAM: a block for the range,
 * the range migrated into it.
 */
static int vsvm_vram_populate_mm(struct drm_pagemap *dpagemap,
				 unsigned long start, unsigned long end,
				 struct mm_struct *mm, unsigned long timeslice_ms)
{
	struct vsvm_vram *vram = container_of(dpagemap, struct vsvm_vram,
					      dpagemap);
	unsigned long migrated;

	return vsvm_vram_populate(vram, mm, start, end, timeslice_ms,
				  &migrated);
}

/**
 * vsvm_vram_migrate() - migrate a range of a process to a device's VRAM
 * @vdev: the device
 * @mm: the process
 * @start: start of the range
 * @end: end of the range (exclusive)
 *
 * For the raw floor, which reports how many pages moved; the GPU SVM code
 * goes through drm_pagemap_populate_mm().
 *
 * Return: the number of pages migrated, or a negative errno (-ENOSPC when
 * nothing could be evicted).
 */
long vsvm_vram_migrate(struct vsvm_device *vdev, struct mm_struct *mm,
		       unsigned long start, unsigned long end)
{
	unsigned long migrated;
	int err;

	err = vsvm_vram_populate(vdev->vram, mm, start, end, 0, &migrated);
	if (err && err != -EBUSY)
		return err;
	return migrated;
}

/**
 * vsvm_vram_dpagemap() - the device-memory provider of a device
 * @vdev: the device
 *
 * Return: the provider (valid as long as the device), NULL without VRAM.
 */
struct drm_pagemap *vsvm_vram_dpagemap(struct vsvm_device *vdev)
{
	return vdev->vram ? &vdev->vram->dpagemap : NULL;
}

/**
 * vsvm_vram_touch() - mark the block of a VRAM address recently used
 * @addr: a device address from &drm_pagemap_ops.device_map (of this
 *        device's VRAM or a peer's)
 */
void vsvm_vram_touch(u64 addr)
{
	struct vsvm_vram *vram;
	unsigned long index;
	struct vsvm_bo *bo;

	vram = vsvm_vram_of(addr, &index);
	if (WARN_ON_ONCE(!vram))
		return;
	spin_lock(&vram->lock);
	bo = vram->slots[index];
	/* A block still being migrated into joins the LRU later. */
	if (bo && !list_empty(&bo->lru_link))
		list_move_tail(&bo->lru_link, &vram->lru);
	spin_unlock(&vram->lock);
}

/**
 * vsvm_vram_kmap() - map the content of a VRAM page for the engine
 * @addr: the page's device address (this device's VRAM or a peer's)
 *
 * The engine holds its TLB: the page cannot be freed meanwhile (the
 * owner's eviction invalidates every mapping of it first). A copy holds
 * the page locked in a migration.
 *
 * Return: the kernel address, kunmap_local() it; NULL if @addr is of no
 * device (no VRAM at that index, or past its end).
 */
void *vsvm_vram_kmap(u64 addr)
{
	unsigned long index;
	struct vsvm_vram *vram = vsvm_vram_of(addr, &index);

	return vram ? kmap_local_page(vram->backing[index]) : NULL;
}

/**
 * vsvm_vram_stats() - VRAM counters of a device
 * @vdev: the device
 * @stats: filled: vram_pages_in/out, vram_evictions, vram_used
 */
void vsvm_vram_stats(struct vsvm_device *vdev, struct drm_vsvm_stats *stats)
{
	struct vsvm_vram *vram = vdev->vram;
	unsigned long i, used = 0;

	if (!vram)
		return;
	stats->vram_pages_in = atomic64_read(&vram->pages_in);
	stats->vram_pages_out = atomic64_read(&vram->pages_out);
	stats->vram_evictions = atomic64_read(&vram->evictions);
	spin_lock(&vram->lock);
	for (i = 0; i < vram->npages; i++)
		used += !!vram->slots[i];
	spin_unlock(&vram->lock);
	stats->vram_used = used << PAGE_SHIFT;
}

/**
 * vsvm_vram_debugfs_init() - the device memory's debugfs files
 * @vdev: the device
 * @root: its DRM minor's debugfs directory
 *
 * ``vram_evict_delay_ms``, for tests: see &vsvm_vram.evict_delay_ms. The
 * VRAM outlives the files (set up before the device registers, torn down
 * after it unregisters).
 */
void vsvm_vram_debugfs_init(struct vsvm_device *vdev, struct dentry *root)
{
	if (vdev->vram)
		debugfs_create_u32("vram_evict_delay_ms", 0600, root,
				   &vdev->vram->evict_delay_ms);
}

/* Take a device's VRAM out of the interconnect's table. */
static void vsvm_vram_unpublish(void *data)
{
	struct vsvm_vram *vram = data;

	/* Pairs with the lookups' acquire (NULL needs no ordering). */
	smp_store_release(&vsvm_vrams[vram->vdev->index], NULL);
}

static void vsvm_kvfree_action(void *ptr)
{
	kvfree(ptr);
}

/* A zeroed array freed with the device (6.1 has no devm_kvcalloc()). */
static void *vsvm_devm_kvcalloc(struct device *dev, size_t n, size_t size)
{
	void *ptr = kvcalloc(n, size, GFP_KERNEL);

	if (ptr && devm_add_action_or_reset(dev, vsvm_kvfree_action, ptr))
		return NULL;
	return ptr;
}

/**
 * vsvm_vram_init() - give a device its VRAM
 * @vdev: the device
 * @size: bytes of VRAM, a multiple of 2 MiB; 0 for none
 *
 * Return: 0 or a negative errno.
 */
int vsvm_vram_init(struct vsvm_device *vdev, unsigned long size)
{
	struct device *dev = vdev->drm.dev;
	struct vsvm_vram *vram;
	void *addr;
	int err;

	if (!size)
		return 0;
	if (size > BIT_ULL(VSVM_VRAM_DEV_SHIFT))
		return -EINVAL;	/* offsets must stay below the device index */
	vram = devm_kzalloc(dev, sizeof(*vram), GFP_KERNEL);
	if (!vram)
		return -ENOMEM;
	vram->vdev = vdev;
	vram->npages = size >> PAGE_SHIFT;
	spin_lock_init(&vram->lock);
	INIT_LIST_HEAD(&vram->lru);
	init_waitqueue_head(&vram->release_wq);
	init_completion(&vram->dpagemap_done);
	vram->slots = vsvm_devm_kvcalloc(dev, vram->npages, sizeof(*vram->slots));
	vram->backing = vsvm_devm_kvcalloc(dev, vram->npages,
					   sizeof(*vram->backing));
	if (!vram->slots || !vram->backing)
		return -ENOMEM;

	vram->res = devm_request_free_mem_region(dev, &iomem_resource, size);
	if (IS_ERR(vram->res))
		return PTR_ERR(vram->res);
	vram->pagemap.type = MEMORY_DEVICE_PRIVATE;
	vram->pagemap.range.start = vram->res->start;
	vram->pagemap.range.end = vram->res->end;
	vram->pagemap.nr_range = 1;
	vram->pagemap.ops = drm_pagemap_pagemap_ops_get();
	vram->pagemap.owner = vdev->page_owner;
	addr = devm_memremap_pages(dev, &vram->pagemap);
	if (IS_ERR(addr))
		return PTR_ERR(addr);
	vram->base_pfn = PHYS_PFN(vram->res->start);
	err = drm_pagemap_init(&vram->dpagemap, &vram->pagemap, &vdev->drm,
			       &vsvm_dpagemap_ops);
	if (err)
		return err;
	vdev->vram = vram;
	/*
	 * Published once set up (the release pairs with the lookups'
	 * acquire); unpublished before devres frees it, probe failed or not.
	 */
	smp_store_release(&vsvm_vrams[vdev->index], vram);
	return devm_add_action_or_reset(dev, vsvm_vram_unpublish, vram);
}

/**
 * vsvm_vram_nr_bos() - the number of blocks allocated
 * @vram: the device memory
 *
 * Return: the blocks allocated now, on the LRU or not.
 */
static unsigned long vsvm_vram_nr_bos(struct vsvm_vram *vram)
{
	unsigned long n;

	spin_lock(&vram->lock);
	n = vram->nr_bos;
	spin_unlock(&vram->lock);
	return n;
}

/**
 * vsvm_vram_fini() - move everything out of a device's VRAM
 * @vdev: the device, going away
 *
 * Evicts every block, wherever it is mapped, and waits for those it cannot
 * evict now (being released, migrated into or evicted elsewhere). Afterwards
 * no device page holds data and the pagemap (devres) can go; the device drops
 * its reference on the provider. Gives up with a warning after
 * %VSVM_VRAM_FINI_TIMEOUT without a block released.
 */
void vsvm_vram_fini(struct vsvm_device *vdev)
{
	unsigned long deadline = jiffies + VSVM_VRAM_FINI_TIMEOUT;
	struct vsvm_vram *vram = vdev->vram;
	unsigned long left, n;

	if (!vram)
		return;
	left = vsvm_vram_nr_bos(vram);
	while ((n = vsvm_vram_nr_bos(vram))) {
		if (n < left) {
			left = n;
			deadline = jiffies + VSVM_VRAM_FINI_TIMEOUT;
		}
		if (time_after(jiffies, deadline)) {
			WARN(1, "vsvm%u: VRAM still in use at teardown\n",
			     vdev->index);
			break;
		}
		if (vsvm_vram_evict_lru(vram))
			continue;
		/*
		 * Nothing evictable: wait for a release. A block being
		 * migrated into joins the LRU without a wake-up, hence the
		 * timeout.
		 */
		wait_event_timeout(vram->release_wq,
				   vsvm_vram_nr_bos(vram) < n, HZ / 10);
	}
	vsvm_vram_unpublish(vram);
	/* The device's reference on its provider; then wait for the blocks'. */
	drm_pagemap_put(&vram->dpagemap);
	if (!wait_for_completion_timeout(&vram->dpagemap_done,
					 VSVM_VRAM_FINI_TIMEOUT))
		WARN(1, "vsvm%u: VRAM provider still referenced at teardown\n",
		     vdev->index);
}
