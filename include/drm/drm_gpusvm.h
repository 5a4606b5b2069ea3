/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * drm_gpusvm: GPU shared virtual memory helpers.
 *
 * See gpusvm/drm_gpusvm.c for the DOC: overview, the driver layouts and the
 * usage examples.
 */
#ifndef _DRM_GPUSVM_H_
#define _DRM_GPUSVM_H_

#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/mmu_notifier.h>
#include <linux/rwsem.h>
#include <linux/types.h>

#include <drm/drm_pagemap.h>

struct dev_pagemap;
struct drm_device;
struct drm_gpusvm;
struct drm_gpusvm_notifier;
struct drm_gpusvm_range;

/**
 * struct drm_gpusvm_ops - driver callbacks of a GPU SVM
 * @notifier_alloc: allocate a notifier (optional; default kzalloc). A driver
 *                  embedding &struct drm_gpusvm_notifier in a larger struct
 *                  allocates that struct here.
 * @notifier_free: free a notifier from @notifier_alloc (optional; default
 *                 kfree)
 * @range_alloc: allocate a range (optional; default kzalloc). Drivers embed
 *               &struct drm_gpusvm_range and their &struct drm_gpusvm_pages
 *               in their own range struct and allocate it here.
 * @range_free: free a range from @range_alloc (optional; default kfree). It
 *              runs when the last reference goes and must release the
 *              driver's pages objects with drm_gpusvm_free_pages().
 * @invalidate: invalidate the GPU mappings of @mmu_range in @notifier
 *              (required). Called with the notifier lock held for write and
 *              the notifier's sequence already advanced. The driver zaps its
 *              GPU PTEs, waits until the GPU can no longer use them, calls
 *              drm_gpusvm_unmap_pages() on every affected pages object and,
 *              on MMU_NOTIFY_UNMAP, drm_gpusvm_range_set_unmapped() and
 *              queues the range to its garbage collector. It must not remove
 *              ranges, and it must not take the driver lock.
 */
struct drm_gpusvm_ops {
	struct drm_gpusvm_notifier *(*notifier_alloc)(void);
	void (*notifier_free)(struct drm_gpusvm_notifier *notifier);
	struct drm_gpusvm_range *(*range_alloc)(struct drm_gpusvm *gpusvm);
	void (*range_free)(struct drm_gpusvm_range *range);
	void (*invalidate)(struct drm_gpusvm *gpusvm,
			   struct drm_gpusvm_notifier *notifier,
			   const struct mmu_notifier_range *mmu_range);
};

/**
 * struct drm_gpusvm_notifier - one MMU interval notifier of a GPU SVM
 * @gpusvm: the GPU SVM
 * @notifier: the MMU interval notifier, over an aligned window of
 *            &drm_gpusvm.notifier_size bytes
 * @itree: node in &drm_gpusvm.root
 * @entry: entry in &drm_gpusvm.notifier_list (ordered by address)
 * @root: interval tree of the ranges inside this notifier
 * @range_list: the ranges inside this notifier, ordered by address
 * @flags: notifier flags
 * @flags.removed: the MMU interval notifier has already been removed
 *
 * Inserted when its first range is created, removed with its last range.
 */
struct drm_gpusvm_notifier {
	struct drm_gpusvm *gpusvm;
	struct mmu_interval_notifier notifier;
	struct interval_tree_node itree;
	struct list_head entry;
	struct rb_root_cached root;
	struct list_head range_list;
	struct {
		u32 removed : 1;
	} flags;
};

/**
 * struct drm_gpusvm_range_flags - MM state of a range
 * @migrate_devmem: the range's memory can migrate to device memory
 *                  (anonymous, not hugetlb)
 * @unmapped: the CPU unmapped (part of) the range: it only waits for the
 *            garbage collector now
 * @partial_unmap: only part of the range was unmapped
 * @__flags: all flags as one word, for WRITE_ONCE / READ_ONCE
 *
 * Written under the notifier lock with one WRITE_ONCE of @__flags; may be
 * read locklessly with READ_ONCE as a hint.
 */
struct drm_gpusvm_range_flags {
	union {
		struct {
			u16 migrate_devmem : 1;
			u16 unmapped : 1;
			u16 partial_unmap : 1;
		};
		u16 __flags;
	};
};

/**
 * struct drm_gpusvm_range - a VA range of a GPU SVM (MM state only)
 * @gpusvm: the GPU SVM
 * @notifier: the notifier the range sits in
 * @refcount: reference count
 * @itree: the interval [itree.start, itree.last] in &drm_gpusvm_notifier.root
 * @entry: entry in &drm_gpusvm_notifier.range_list
 * @flags: MM flags of the range
 *
 * A range knows nothing about devices or DMA: the device state lives in the
 * &struct drm_gpusvm_pages objects that the driver embeds next to the range
 * in its own range struct (one per device).
 */
struct drm_gpusvm_range {
	struct drm_gpusvm *gpusvm;
	struct drm_gpusvm_notifier *notifier;
	struct kref refcount;
	struct interval_tree_node itree;
	struct list_head entry;
	struct drm_gpusvm_range_flags flags;
};

/**
 * struct drm_gpusvm_pages_flags - state of a pages object
 * @migrate_devmem: the pages may be placed in device memory
 * @unmapped: the range these pages belong to was unmapped by the CPU: the
 *            pages must not be populated again
 * @has_devmem_pages: the mapping holds device-memory pages
 * @has_dma_mapping: the mapping holds DMA-mapped system pages
 * @read_only: the mapping was made read-only (a write needs a new
 *             drm_gpusvm_get_pages() without &drm_gpusvm_ctx.read_only)
 * @__flags: all flags as one word, for WRITE_ONCE / READ_ONCE
 *
 * Written under the notifier lock with one WRITE_ONCE of @__flags; may be
 * read locklessly with READ_ONCE as a hint.
 */
struct drm_gpusvm_pages_flags {
	union {
		struct {
			u16 migrate_devmem : 1;
			u16 unmapped : 1;
			u16 has_devmem_pages : 1;
			u16 has_dma_mapping : 1;
			u16 read_only : 1;
		};
		u16 __flags;
	};
};

/**
 * struct drm_gpusvm_pages - the pages of a VA interval, mapped for one device
 * @drm: the device the pages are mapped for; all DMA mapping goes through
 *       @drm->dev. NULL for a consumer that does no DMA (the addresses are
 *       then CPU physical addresses, %DRM_INTERCONNECT_CPU).
 * @dma_addr: one entry per mapped chunk, in address order; allocated by the
 *            first drm_gpusvm_get_pages() and freed by
 *            drm_gpusvm_free_pages()
 * @dpagemap: the device-memory provider when the pages are device pages
 * @notifier_seq: the notifier sequence number the mapping was made at;
 *                ULONG_MAX (never a real sequence) until the first mapping
 * @flags: state flags
 *
 * Independent of &struct drm_gpusvm_range: a driver embeds one per device in
 * its range (1:1 or N:1 layouts), or uses one without any range (userptr).
 */
struct drm_gpusvm_pages {
	struct drm_device *drm;
	struct drm_pagemap_addr *dma_addr;
	struct drm_pagemap *dpagemap;
	unsigned long notifier_seq;
	struct drm_gpusvm_pages_flags flags;
};

/**
 * struct drm_gpusvm - a GPU shared virtual memory context (MM level only)
 * @name: name, for debugging
 * @mm: the mm mirrored (a reference is held until drm_gpusvm_fini()); NULL
 *      for a driver that only uses pages objects without ranges
 * @mm_start: start of the mirrored VA window
 * @mm_range: size of the mirrored VA window
 * @notifier_size: size of each notifier window (power of two)
 * @ops: driver callbacks
 * @chunk_sizes: range sizes to try, descending powers of two, the last one
 *               PAGE_SIZE
 * @num_chunks: number of entries in @chunk_sizes
 * @notifier_lock: protects the notifier and range trees and every mapping's
 *                 validity; write in the invalidation callback, read around
 *                 the valid-check and the GPU bind
 * @root: interval tree of the notifiers
 * @notifier_list: the notifiers, ordered by address
 * @lock_dep_map: lockdep map of the driver lock serialising range insertion
 *                and removal (see drm_gpusvm_driver_set_lock())
 *
 * There is no device here: devices live in the pages objects.
 */
struct drm_gpusvm {
	const char *name;
	struct mm_struct *mm;
	unsigned long mm_start;
	unsigned long mm_range;
	unsigned long notifier_size;
	const struct drm_gpusvm_ops *ops;
	const unsigned long *chunk_sizes;
	int num_chunks;
	struct rw_semaphore notifier_lock;
	struct rb_root_cached root;
	struct list_head notifier_list;
#ifdef CONFIG_LOCKDEP
	struct lockdep_map *lock_dep_map;
#endif
};

/**
 * struct drm_gpusvm_ctx - arguments of one framework call
 * @device_private_page_owner: owner of the device-private pages the caller
 *                             can map directly (others migrate to RAM)
 * @check_pages_threshold: ranges up to this size are only created over pages
 *                         the CPU has already faulted in (0: never check)
 * @timeslice_ms: how long device memory should stay before it may be
 *                evicted (a hint for the provider)
 * @in_notifier: the call is made from the invalidate callback (the notifier
 *               lock is held for write)
 * @read_only: map read-only (no write fault, DMA_TO_DEVICE)
 * @devmem_possible: the range may use device memory
 * @devmem_only: fail unless all pages are device pages
 * @allow_mixed: allow a mapping mixing system and device pages
 */
struct drm_gpusvm_ctx {
	void *device_private_page_owner;
	unsigned long check_pages_threshold;
	unsigned long timeslice_ms;
	unsigned int in_notifier : 1;
	unsigned int read_only : 1;
	unsigned int devmem_possible : 1;
	unsigned int devmem_only : 1;
	unsigned int allow_mixed : 1;
};

/**
 * enum drm_gpusvm_scan_result - where the CPU pages of a range are now
 * @DRM_GPUSVM_SCAN_UNPOPULATED: at least one page is not present to the
 *                               caller: never faulted in, swapped out, in a
 *                               VMA a device cannot mirror, or a
 *                               device-private page of another owner; also
 *                               the answer when the scan could not be made
 * @DRM_GPUSVM_SCAN_EQUAL: every page is a device page of the pagemap asked
 *                         about
 * @DRM_GPUSVM_SCAN_OTHER: every page is a device page of one single pagemap,
 *                         not the one asked about
 * @DRM_GPUSVM_SCAN_SYSTEM: every page is a system page
 * @DRM_GPUSVM_SCAN_MIXED_DEVICE: every page is a device page, of two or more
 *                                pagemaps
 * @DRM_GPUSVM_SCAN_MIXED: system pages and device pages
 *
 * The result of drm_gpusvm_scan_mm(), a hint for the driver's placement
 * decisions (migrate or not, and from where).
 */
enum drm_gpusvm_scan_result {
	DRM_GPUSVM_SCAN_UNPOPULATED,
	DRM_GPUSVM_SCAN_EQUAL,
	DRM_GPUSVM_SCAN_OTHER,
	DRM_GPUSVM_SCAN_SYSTEM,
	DRM_GPUSVM_SCAN_MIXED_DEVICE,
	DRM_GPUSVM_SCAN_MIXED,
};

int drm_gpusvm_init(struct drm_gpusvm *gpusvm, const char *name,
		    struct mm_struct *mm, unsigned long mm_start,
		    unsigned long mm_range, unsigned long notifier_size,
		    const struct drm_gpusvm_ops *ops,
		    const unsigned long *chunk_sizes, int num_chunks);
void drm_gpusvm_fini(struct drm_gpusvm *gpusvm);
void drm_gpusvm_free(struct drm_gpusvm *gpusvm);
unsigned long drm_gpusvm_find_vma_start(struct drm_gpusvm *gpusvm,
					unsigned long start,
					unsigned long end);

struct drm_gpusvm_range *
drm_gpusvm_range_find_or_insert(struct drm_gpusvm *gpusvm,
				unsigned long fault_addr,
				unsigned long gpuva_start,
				unsigned long gpuva_end,
				const struct drm_gpusvm_ctx *ctx);
struct drm_gpusvm_range *
drm_gpusvm_range_find(struct drm_gpusvm_notifier *notifier,
		      unsigned long start, unsigned long end);
struct drm_gpusvm_notifier *
drm_gpusvm_notifier_find(struct drm_gpusvm *gpusvm, unsigned long start,
			 unsigned long end);
void drm_gpusvm_range_remove(struct drm_gpusvm *gpusvm,
			     struct drm_gpusvm_range *range);
struct drm_gpusvm_range *drm_gpusvm_range_get(struct drm_gpusvm_range *range);
void drm_gpusvm_range_put(struct drm_gpusvm_range *range);
bool drm_gpusvm_has_mapping(struct drm_gpusvm *gpusvm, unsigned long start,
			    unsigned long end);
void drm_gpusvm_range_set_unmapped(struct drm_gpusvm_range *range,
				   struct drm_gpusvm_pages *pages,
				   unsigned int pages_count,
				   const struct mmu_notifier_range *mmu_range);

int drm_gpusvm_range_evict(struct drm_gpusvm *gpusvm,
			   struct drm_gpusvm_range *range);
enum drm_gpusvm_scan_result
drm_gpusvm_scan_mm(struct drm_gpusvm_range *range, void *dev_private_owner,
		   const struct dev_pagemap *pagemap);

void drm_gpusvm_init_pages(struct drm_gpusvm_pages *pages,
			   struct drm_device *drm);
int drm_gpusvm_get_pages(struct drm_gpusvm *gpusvm,
			 struct drm_gpusvm_pages *pages, struct mm_struct *mm,
			 struct mmu_interval_notifier *notifier,
			 unsigned long start, unsigned long end,
			 const struct drm_gpusvm_ctx *ctx);
int drm_gpusvm_get_pages_multi(struct drm_gpusvm *gpusvm,
			       struct drm_gpusvm_pages *const *pages,
			       unsigned int pages_count, struct mm_struct *mm,
			       struct mmu_interval_notifier *notifier,
			       unsigned long start, unsigned long end,
			       const struct drm_gpusvm_ctx *ctx);
bool drm_gpusvm_pages_valid(struct drm_gpusvm *gpusvm,
			    struct drm_gpusvm_pages *pages);
bool drm_gpusvm_pages_valid_unlocked(struct drm_gpusvm *gpusvm,
				     struct drm_gpusvm_pages *pages);
void drm_gpusvm_unmap_pages(struct drm_gpusvm *gpusvm,
			    struct drm_gpusvm_pages *pages,
			    unsigned long npages,
			    const struct drm_gpusvm_ctx *ctx);
void drm_gpusvm_free_pages(struct drm_gpusvm *gpusvm,
			   struct drm_gpusvm_pages *pages,
			   unsigned long npages);

#ifdef CONFIG_LOCKDEP
/**
 * drm_gpusvm_driver_set_lock() - register the driver lock for lockdep
 * @gpusvm: the GPU SVM
 * @lock: the driver lock (any lock with a dep_map) serialising range
 *        insertion and removal
 *
 * Afterwards drm_gpusvm_range_find_or_insert() and drm_gpusvm_range_remove()
 * assert that the lock is held.
 */
#define drm_gpusvm_driver_set_lock(gpusvm, lock) \
	do { \
		if (!WARN((gpusvm)->lock_dep_map, \
			  "GPUSVM driver lock registered twice\n")) \
			(gpusvm)->lock_dep_map = &(lock)->dep_map; \
	} while (0)
#else
#define drm_gpusvm_driver_set_lock(gpusvm, lock) do {} while (0)
#endif

/**
 * drm_gpusvm_notifier_lock() - take the notifier lock for read
 * @gpusvm__: the GPU SVM
 *
 * Hold it from drm_gpusvm_pages_valid() until the GPU bind is done.
 */
#define drm_gpusvm_notifier_lock(gpusvm__) \
	down_read(&(gpusvm__)->notifier_lock)

/**
 * drm_gpusvm_notifier_unlock() - drop the notifier lock taken for read
 * @gpusvm__: the GPU SVM
 */
#define drm_gpusvm_notifier_unlock(gpusvm__) \
	up_read(&(gpusvm__)->notifier_lock)

/**
 * drm_gpusvm_range_start() - start of a range
 * @range: the range
 *
 * Return: the first address of @range.
 */
static inline unsigned long
drm_gpusvm_range_start(struct drm_gpusvm_range *range)
{
	return range->itree.start;
}

/**
 * drm_gpusvm_range_end() - end of a range
 * @range: the range
 *
 * Return: the address just past @range.
 */
static inline unsigned long drm_gpusvm_range_end(struct drm_gpusvm_range *range)
{
	return range->itree.last + 1;
}

/**
 * drm_gpusvm_range_size() - size of a range
 * @range: the range
 *
 * Return: the size of @range in bytes.
 */
static inline unsigned long
drm_gpusvm_range_size(struct drm_gpusvm_range *range)
{
	return drm_gpusvm_range_end(range) - drm_gpusvm_range_start(range);
}

/**
 * drm_gpusvm_range_npages() - number of pages of a range
 * @range: the range
 *
 * Return: the number of PAGE_SIZE pages in @range (the size of the pages
 * objects mirroring it).
 */
static inline unsigned long
drm_gpusvm_range_npages(struct drm_gpusvm_range *range)
{
	return drm_gpusvm_range_size(range) >> PAGE_SHIFT;
}

/**
 * drm_gpusvm_notifier_start() - start of a notifier window
 * @notifier: the notifier
 *
 * Return: the first address of the window.
 */
static inline unsigned long
drm_gpusvm_notifier_start(struct drm_gpusvm_notifier *notifier)
{
	return notifier->itree.start;
}

/**
 * drm_gpusvm_notifier_end() - end of a notifier window
 * @notifier: the notifier
 *
 * Return: the address just past the window.
 */
static inline unsigned long
drm_gpusvm_notifier_end(struct drm_gpusvm_notifier *notifier)
{
	return notifier->itree.last + 1;
}

struct drm_gpusvm_notifier *
__drm_gpusvm_notifier_next(struct drm_gpusvm_notifier *notifier);

/**
 * drm_gpusvm_for_each_notifier() - iterate over the notifiers of a GPU SVM
 * @notifier__: iterator (&struct drm_gpusvm_notifier pointer)
 * @gpusvm__: the GPU SVM
 * @start__: start of the interval
 * @end__: end of the interval (exclusive)
 *
 * Visits, in address order, every notifier of @gpusvm__ whose window overlaps
 * [@start__, @end__); none for an empty interval. Hold the driver lock: it is
 * the lock under which notifiers come and go.
 */
#define drm_gpusvm_for_each_notifier(notifier__, gpusvm__, start__, end__) \
	for ((notifier__) = drm_gpusvm_notifier_find((gpusvm__), (start__), (end__)); \
	     (notifier__) && drm_gpusvm_notifier_start(notifier__) < (end__); \
	     (notifier__) = __drm_gpusvm_notifier_next(notifier__))

/**
 * drm_gpusvm_for_each_notifier_safe() - iterate over notifiers, safe for removal
 * @notifier__: iterator
 * @next__: next notifier (temporary)
 * @gpusvm__: the GPU SVM
 * @start__: start of the interval
 * @end__: end of the interval (exclusive)
 *
 * Like drm_gpusvm_for_each_notifier(), but @notifier__ may go away in the
 * body, as it does with its last range (drm_gpusvm_range_remove()). Only
 * @notifier__ may go: the body must not remove ranges of other notifiers.
 */
#define drm_gpusvm_for_each_notifier_safe(notifier__, next__, gpusvm__, start__, end__) \
	for ((notifier__) = drm_gpusvm_notifier_find((gpusvm__), (start__), (end__)), \
	     (next__) = (notifier__) ? __drm_gpusvm_notifier_next(notifier__) : NULL; \
	     (notifier__) && drm_gpusvm_notifier_start(notifier__) < (end__); \
	     (notifier__) = (next__), \
	     (next__) = (notifier__) ? __drm_gpusvm_notifier_next(notifier__) : NULL)

struct drm_gpusvm_range *__drm_gpusvm_range_next(struct drm_gpusvm_range *range);

/**
 * drm_gpusvm_for_each_range() - iterate over the ranges of a notifier
 * @range__: iterator (&struct drm_gpusvm_range pointer)
 * @notifier__: the notifier
 * @start__: start of the interval
 * @end__: end of the interval (exclusive)
 *
 * Visits, in address order, every range of @notifier__ overlapping
 * [@start__, @end__). Hold the notifier lock or the driver lock.
 */
#define drm_gpusvm_for_each_range(range__, notifier__, start__, end__) \
	for ((range__) = drm_gpusvm_range_find((notifier__), (start__), (end__)); \
	     (range__) && drm_gpusvm_range_start(range__) < (end__); \
	     (range__) = __drm_gpusvm_range_next(range__))

/**
 * drm_gpusvm_for_each_range_safe() - iterate over ranges, safe for removal
 * @range__: iterator
 * @next__: next range (temporary)
 * @notifier__: the notifier
 * @start__: start of the interval
 * @end__: end of the interval (exclusive)
 *
 * Like drm_gpusvm_for_each_range(), but @range__ may be removed in the body.
 */
#define drm_gpusvm_for_each_range_safe(range__, next__, notifier__, start__, end__) \
	for ((range__) = drm_gpusvm_range_find((notifier__), (start__), (end__)), \
	     (next__) = (range__) ? __drm_gpusvm_range_next(range__) : NULL; \
	     (range__) && drm_gpusvm_range_start(range__) < (end__); \
	     (range__) = (next__), \
	     (next__) = (range__) ? __drm_gpusvm_range_next(range__) : NULL)

#endif /* _DRM_GPUSVM_H_ */
