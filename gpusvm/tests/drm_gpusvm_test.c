// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * KUnit tests of drm_gpusvm against real user memory.
 *
 * The suite borrows the mm of the process that loads the module (mmget in
 * suite_init, which runs in that process) and every case attaches it to its
 * KUnit thread with kthread_use_mm(), so vm_mmap(), copy_to_user() and the
 * framework's hmm_range_fault() all work on real VMAs of a real process. The
 * DMA devices are platform devices bound to a test driver, each wrapped in a
 * DRM device, so DMA-API debugging checks every mapping.
 */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/dma-direct.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/dma-direct.h>
#include <linux/highmem.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <drm/drm_drv.h>
#include <drm/drm_gpusvm.h>
#include <drm/drm_pagemap.h>

#define TEST_NDEV 2
#define TEST_NOTIFIER_SIZE SZ_8M

static const unsigned long test_chunks[] = { SZ_2M, SZ_64K, SZ_4K };

static struct mm_struct *test_mm;
static struct drm_device *test_drm[TEST_NDEV];
static struct platform_device *test_pdev[TEST_NDEV];

/**
 * struct svm_test - a minimal driver of drm_gpusvm, one per test case
 * @svm: the GPU SVM
 * @lock: the driver lock (range insertion and removal)
 * @gc: ranges queued by the invalidate callback for removal
 * @ndev: number of pages objects per range (1: 1:1 layout, 2: N:1)
 * @invalidations: invalidate callbacks seen
 * @unmap_events: MMU_NOTIFY_UNMAP callbacks seen
 * @last_event: event of the last callback
 * @ranges_freed: ranges freed through range_free
 */
struct svm_test {
	struct drm_gpusvm svm;
	struct mutex lock; /* the driver lock, see above */
	struct list_head gc;
	unsigned int ndev;
	int invalidations;
	int unmap_events;
	enum mmu_notifier_event last_event;
	int ranges_freed;
};

/**
 * struct svm_test_range - the test driver's range, N:1 capable
 * @base: the framework range
 * @gc_link: link in &svm_test.gc
 * @pages: one pages object per device
 */
struct svm_test_range {
	struct drm_gpusvm_range base;
	struct list_head gc_link;
	struct drm_gpusvm_pages pages[TEST_NDEV];
};

static struct svm_test_range *to_test_range(struct drm_gpusvm_range *r)
{
	return container_of(r, struct svm_test_range, base);
}

static struct svm_test *to_svm_test(struct drm_gpusvm *svm)
{
	return container_of(svm, struct svm_test, svm);
}

static struct drm_gpusvm_range *test_range_alloc(struct drm_gpusvm *svm)
{
	struct svm_test *t = to_svm_test(svm);
	struct svm_test_range *r = kzalloc(sizeof(*r), GFP_KERNEL);
	unsigned int i;

	if (!r)
		return NULL;
	INIT_LIST_HEAD(&r->gc_link);
	for (i = 0; i < t->ndev; i++)
		drm_gpusvm_init_pages(&r->pages[i], test_drm[i]);
	return &r->base;
}

static void test_range_free(struct drm_gpusvm_range *range)
{
	struct svm_test *t = to_svm_test(range->gpusvm);
	struct svm_test_range *r = to_test_range(range);
	unsigned int i;

	for (i = 0; i < t->ndev; i++)
		drm_gpusvm_free_pages(range->gpusvm, &r->pages[i],
				      drm_gpusvm_range_npages(range));
	t->ranges_freed++;
	kfree(r);
}

static void test_invalidate(struct drm_gpusvm *svm,
			    struct drm_gpusvm_notifier *notifier,
			    const struct mmu_notifier_range *mmu_range)
{
	struct drm_gpusvm_ctx ctx = { .in_notifier = true };
	struct svm_test *t = to_svm_test(svm);
	struct drm_gpusvm_range *range;
	unsigned int i;

	t->invalidations++;
	t->last_event = mmu_range->event;
	if (mmu_range->event == MMU_NOTIFY_UNMAP)
		t->unmap_events++;

	drm_gpusvm_for_each_range(range, notifier, mmu_range->start,
				  mmu_range->end) {
		struct svm_test_range *r = to_test_range(range);

		for (i = 0; i < t->ndev; i++)
			drm_gpusvm_unmap_pages(svm, &r->pages[i],
					       drm_gpusvm_range_npages(range),
					       &ctx);
		if (mmu_range->event != MMU_NOTIFY_UNMAP)
			continue;
		drm_gpusvm_range_set_unmapped(range, r->pages, t->ndev,
					      mmu_range);
		if (list_empty(&r->gc_link)) {
			drm_gpusvm_range_get(range);
			list_add_tail(&r->gc_link, &t->gc);
		}
	}
}

static const struct drm_gpusvm_ops test_ops = {
	.range_alloc = test_range_alloc,
	.range_free = test_range_free,
	.invalidate = test_invalidate,
};

/* The garbage collector: unmap, then remove. Returns the ranges removed. */
static int test_gc(struct svm_test *t)
{
	struct drm_gpusvm_ctx ctx = {};
	struct svm_test_range *r;
	unsigned int i;
	int n = 0;

	mutex_lock(&t->lock);
	while ((r = list_first_entry_or_null(&t->gc, struct svm_test_range,
					     gc_link))) {
		list_del_init(&r->gc_link);
		for (i = 0; i < t->ndev; i++)
			drm_gpusvm_unmap_pages(&t->svm, &r->pages[i],
					       drm_gpusvm_range_npages(&r->base),
					       &ctx);
		drm_gpusvm_range_remove(&t->svm, &r->base);
		drm_gpusvm_range_put(&r->base);
		n++;
	}
	mutex_unlock(&t->lock);
	return n;
}

static int test_init(struct kunit *test)
{
	struct svm_test *t;
	int err;

	if (!test_mm)
		return -ENODEV;
	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;

	/* The extra mm_users reference keeps exit_mm() balanced on abort. */
	mmget(test_mm);
	kthread_use_mm(test_mm);

	mutex_init(&t->lock);
	INIT_LIST_HEAD(&t->gc);
	t->ndev = 1;
	err = drm_gpusvm_init(&t->svm, "kunit", test_mm, 0, TASK_SIZE,
			      TEST_NOTIFIER_SIZE, &test_ops, test_chunks,
			      ARRAY_SIZE(test_chunks));
	if (err) {
		kthread_unuse_mm(test_mm);
		mmput(test_mm);
		return err;
	}
	drm_gpusvm_driver_set_lock(&t->svm, &t->lock);
	test->priv = t;
	return 0;
}

static void test_exit(struct kunit *test)
{
	struct svm_test *t = test->priv;

	test_gc(t);
	mutex_lock(&t->lock);
	drm_gpusvm_fini(&t->svm);
	mutex_unlock(&t->lock);
	/* After an aborted case, cleanup runs in the loader's own thread. */
	if ((current->flags & PF_KTHREAD) && current->mm == test_mm) {
		kthread_unuse_mm(test_mm);
		mmput(test_mm);
	}
}

/*
 * Map @size bytes at an address aligned to @align, with PROT_NONE guard
 * areas around so the VMA is exactly [addr, addr + size).
 */
static unsigned long test_mmap(struct kunit *test, unsigned long size,
			       unsigned long align, unsigned long prot,
			       struct file *file)
{
	unsigned long resv, addr;

	resv = vm_mmap(NULL, 0, size + 2 * align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(resv));
	addr = ALIGN(resv + 1, align);
	addr = vm_mmap(file, addr, size, prot,
		       MAP_FIXED | (file ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS),
		       0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	return addr;
}

static struct drm_gpusvm_range *
test_fault(struct svm_test *t, unsigned long addr, unsigned long start,
	   unsigned long end, bool read_only)
{
	struct drm_gpusvm_ctx ctx = { .read_only = read_only };
	struct drm_gpusvm_range *range;

	mutex_lock(&t->lock);
	range = drm_gpusvm_range_find_or_insert(&t->svm, addr, start, end, &ctx);
	mutex_unlock(&t->lock);
	return range;
}

/* Fault at @addr (write) and check the new range is [@addr, @addr + @size). */
static struct drm_gpusvm_range *test_range(struct kunit *test,
					   struct svm_test *t,
					   unsigned long addr,
					   unsigned long size)
{
	struct drm_gpusvm_range *r = test_fault(t, addr, 0, TASK_SIZE, false);

	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), addr);
	KUNIT_ASSERT_EQ(test, drm_gpusvm_range_size(r), size);
	return r;
}

static int test_get_pages(struct svm_test *t, struct drm_gpusvm_range *range,
			  unsigned int dev, bool read_only)
{
	struct drm_gpusvm_ctx ctx = { .read_only = read_only };

	return drm_gpusvm_get_pages(&t->svm, &to_test_range(range)->pages[dev],
				    t->svm.mm, &range->notifier->notifier,
				    drm_gpusvm_range_start(range),
				    drm_gpusvm_range_end(range), &ctx);
}

static bool test_pages_valid(struct svm_test *t, struct drm_gpusvm_pages *pages)
{
	bool valid;

	drm_gpusvm_notifier_lock(&t->svm);
	valid = drm_gpusvm_pages_valid(&t->svm, pages);
	drm_gpusvm_notifier_unlock(&t->svm);
	return valid;
}

static int test_count_notifiers(struct svm_test *t)
{
	struct drm_gpusvm_notifier *n;
	int count = 0;

	list_for_each_entry(n, &t->svm.notifier_list, entry)
		count++;
	return count;
}

/* Number of chunks of a mapping of @npages pages, checking their orders sum. */
static unsigned long test_count_chunks(struct kunit *test,
				       struct drm_gpusvm_pages *pages,
				       unsigned long npages)
{
	unsigned long i, j;

	for (i = 0, j = 0; i < npages; j++)
		i += 1UL << pages->dma_addr[j].order;
	KUNIT_EXPECT_EQ(test, i, npages);
	return j;
}

/*
 * The page the device sees at page @index of @pages: the DMA address is
 * translated back through the direct mapping (no IOMMU in the test VM).
 */
static struct page *test_device_page(struct drm_gpusvm_pages *pages,
				     unsigned long index)
{
	struct device *dev = pages->drm ? pages->drm->dev : NULL;
	unsigned long i, j;

	for (i = 0, j = 0;; j++) {
		unsigned long n = 1UL << pages->dma_addr[j].order;
		phys_addr_t phys = pages->dma_addr[j].addr;

		if (index < i + n) {
			if (pages->dma_addr[j].proto == DRM_INTERCONNECT_SYSTEM)
				phys = dma_to_phys(dev, phys);
			return pfn_to_page(PHYS_PFN(phys) + index - i);
		}
		i += n;
	}
}

/* Write a distinct word to each page from the CPU, read it through the device. */
static void test_check_contents(struct kunit *test,
				struct drm_gpusvm_pages *pages,
				unsigned long addr, unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		u64 v = 0xc0ffee0000000000ull | i, *p;

		KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(addr + i * PAGE_SIZE),
						   &v, sizeof(v)), 0);
		p = kmap_local_page(test_device_page(pages, i));
		KUNIT_EXPECT_EQ(test, *p, v);
		kunmap_local(p);
	}
}

static void test_fill_user(struct kunit *test, unsigned long addr,
			   unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++)
		KUNIT_ASSERT_EQ(test, put_user(i + 1, (u64 __user *)(addr + i * PAGE_SIZE)), 0);
}

static void test_check_user(struct kunit *test, unsigned long addr,
			    unsigned long npages)
{
	unsigned long i;
	u64 v;

	for (i = 0; i < npages; i++) {
		KUNIT_ASSERT_EQ(test, get_user(v, (u64 __user *)(addr + i * PAGE_SIZE)), 0);
		KUNIT_EXPECT_EQ(test, v, (u64)(i + 1));
	}
}

/* Chunk selection at the edges of the CPU VMA. */
static void gpusvm_chunk_vma_edges(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r;
	unsigned long base, a;

	/* VMA [A + 64K, A + 2M - 4K) with A 2M aligned: no 2M chunk fits. */
	base = test_mmap(test, 2 * SZ_2M, SZ_2M, PROT_READ | PROT_WRITE, NULL);
	a = base + SZ_2M;
	vm_munmap(a - SZ_2M, SZ_2M);
	vm_munmap(a, SZ_64K);
	vm_munmap(a + SZ_2M - SZ_4K, SZ_4K);

	r = test_fault(t, a + SZ_1M, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), a + SZ_1M);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_64K);

	/* First page of the VMA: the 64K chunk starting there fits. */
	r = test_fault(t, a + SZ_64K, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), a + SZ_64K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_64K);

	/* Last 64K block is cut by the VMA end: a single page. */
	r = test_fault(t, a + SZ_2M - 2 * SZ_4K, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), a + SZ_2M - 2 * SZ_4K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_4K);

	/* The same address again returns the same range. */
	KUNIT_EXPECT_PTR_EQ(test, test_fault(t, a + SZ_2M - 2 * SZ_4K + 8, 0,
					     TASK_SIZE, false), r);

	/* A whole aligned 2M VMA gets one 2M range. */
	base = test_mmap(test, SZ_2M, SZ_2M, PROT_READ | PROT_WRITE, NULL);
	r = test_fault(t, base + 12345, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), base);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_2M);
}

/* Chunk selection inside the GPU VA bounds given by the driver. */
static void gpusvm_chunk_gpuva_bounds(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r;
	unsigned long a;

	a = test_mmap(test, 2 * SZ_2M, SZ_2M, PROT_READ | PROT_WRITE, NULL);

	/* GPU VA starts inside the 2M block: 64K. */
	r = test_fault(t, a + SZ_1M, a + SZ_512K, a + 2 * SZ_2M, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_64K);

	/* GPU VA of exactly one page. */
	r = test_fault(t, a + SZ_2M + SZ_8K, a + SZ_2M + SZ_8K,
		       a + SZ_2M + SZ_8K + SZ_4K, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), a + SZ_2M + SZ_8K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_4K);

	/* The fault address must lie inside the bounds. */
	r = test_fault(t, a + SZ_2M + SZ_1M, a, a + SZ_2M, false);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(r), -EINVAL);
}

/* Chunk selection next to an existing range: never overlap it. */
static void gpusvm_chunk_neighbour(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *first, *r;
	unsigned long a;

	a = test_mmap(test, SZ_2M, SZ_2M, PROT_READ | PROT_WRITE, NULL);
	first = test_fault(t, a + SZ_4K, a, a + SZ_64K, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(first));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(first), (unsigned long)SZ_64K);

	/* The 2M block holds a range now: the next fault gets 64K. */
	r = test_fault(t, a + SZ_1M, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_start(r), a + SZ_1M);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_64K);
	KUNIT_EXPECT_TRUE(test, drm_gpusvm_has_mapping(&t->svm, a, a + SZ_4K));
	KUNIT_EXPECT_FALSE(test, drm_gpusvm_has_mapping(&t->svm, a + SZ_64K,
							a + SZ_1M));
}

/* Notifiers are created per aligned window on demand and go with their last range. */
static void gpusvm_notifier_insert_remove(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r1, *r2, *r3;
	unsigned long a;

	a = test_mmap(test, 2 * TEST_NOTIFIER_SIZE, TEST_NOTIFIER_SIZE,
		      PROT_READ | PROT_WRITE, NULL);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 0);

	r1 = test_fault(t, a, 0, TASK_SIZE, false);
	r2 = test_fault(t, a + SZ_4M, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r1) || IS_ERR(r2));
	KUNIT_EXPECT_PTR_EQ(test, r1->notifier, r2->notifier);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 1);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_notifier_start(r1->notifier), a);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_notifier_end(r1->notifier),
			a + TEST_NOTIFIER_SIZE);

	r3 = test_fault(t, a + TEST_NOTIFIER_SIZE + SZ_2M, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r3));
	KUNIT_EXPECT_PTR_NE(test, r3->notifier, r1->notifier);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 2);

	mutex_lock(&t->lock);
	drm_gpusvm_range_remove(&t->svm, r1);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 2);
	drm_gpusvm_range_remove(&t->svm, r2);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 1);
	drm_gpusvm_range_remove(&t->svm, r3);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 0);
	mutex_unlock(&t->lock);
	KUNIT_EXPECT_EQ(test, t->ranges_freed, 3);
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&t->svm.root.rb_root));
}

/* How many notifiers drm_gpusvm_for_each_notifier() visits over [start, end). */
static int test_walk_notifiers(struct kunit *test, struct svm_test *t,
			       unsigned long start, unsigned long end)
{
	struct drm_gpusvm_notifier *n;
	unsigned long last = 0;
	int count = 0;

	drm_gpusvm_for_each_notifier(n, &t->svm, start, end) {
		/* In address order, each overlapping the interval. */
		KUNIT_EXPECT_GE(test, drm_gpusvm_notifier_start(n), last);
		KUNIT_EXPECT_LT(test, drm_gpusvm_notifier_start(n), end);
		KUNIT_EXPECT_GT(test, drm_gpusvm_notifier_end(n), start);
		last = drm_gpusvm_notifier_end(n);
		count++;
	}
	return count;
}

/*
 * The notifier iterators visit, in address order, exactly the notifiers
 * overlapping the interval; the _safe one survives notifiers going away
 * with their last range.
 */
static void gpusvm_notifier_walk(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_notifier *n, *next;
	struct drm_gpusvm_range *r, *rnext;
	unsigned long a, starts[3] = {};
	int i, visited, removed;

	/* Four notifier windows; ranges in windows 0, 1 (two) and 3. */
	a = test_mmap(test, 4 * TEST_NOTIFIER_SIZE, TEST_NOTIFIER_SIZE,
		      PROT_READ | PROT_WRITE, NULL);
	test_range(test, t, a, SZ_2M);
	test_range(test, t, a + TEST_NOTIFIER_SIZE, SZ_2M);
	test_range(test, t, a + TEST_NOTIFIER_SIZE + SZ_4M, SZ_2M);
	test_range(test, t, a + 3 * TEST_NOTIFIER_SIZE, SZ_2M);

	mutex_lock(&t->lock);
	i = 0;
	drm_gpusvm_for_each_notifier(n, &t->svm, 0, ULONG_MAX) {
		if (i < ARRAY_SIZE(starts))
			starts[i] = drm_gpusvm_notifier_start(n);
		i++;
	}
	KUNIT_EXPECT_EQ(test, i, 3);
	KUNIT_EXPECT_EQ(test, starts[0], a);
	KUNIT_EXPECT_EQ(test, starts[1], a + TEST_NOTIFIER_SIZE);
	KUNIT_EXPECT_EQ(test, starts[2], a + 3 * TEST_NOTIFIER_SIZE);

	/* Subsets: the end is exclusive, window 2 has no notifier. */
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a + TEST_NOTIFIER_SIZE + SZ_4K,
						  a + 3 * TEST_NOTIFIER_SIZE), 1);
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a + TEST_NOTIFIER_SIZE + SZ_4K,
						  a + 3 * TEST_NOTIFIER_SIZE + 1), 2);
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a + 2 * TEST_NOTIFIER_SIZE,
						  a + 3 * TEST_NOTIFIER_SIZE), 0);
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a - SZ_4K, a + 1), 1);
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a - SZ_4K,
						  a + 4 * TEST_NOTIFIER_SIZE), 3);
	/* An empty interval overlaps nothing, inside a window or not. */
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a + SZ_4K, a + SZ_4K), 0);
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, a + SZ_4K, a), 0);
	KUNIT_EXPECT_NULL(test, drm_gpusvm_notifier_find(&t->svm, a + SZ_4K, a));

	/*
	 * Remove every range from window 1 on: windows 1 and 3 go with their
	 * last range while the _safe iterator stands on them.
	 */
	visited = 0;
	removed = 0;
	drm_gpusvm_for_each_notifier_safe(n, next, &t->svm, a + TEST_NOTIFIER_SIZE,
					  a + 4 * TEST_NOTIFIER_SIZE) {
		visited++;
		drm_gpusvm_for_each_range_safe(r, rnext, n, 0, ULONG_MAX) {
			drm_gpusvm_range_remove(&t->svm, r);
			removed++;
		}
	}
	mutex_unlock(&t->lock);
	KUNIT_EXPECT_EQ(test, visited, 2);
	KUNIT_EXPECT_EQ(test, removed, 3);
	KUNIT_EXPECT_EQ(test, t->ranges_freed, 3);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 1);
	KUNIT_EXPECT_EQ(test, test_walk_notifiers(test, t, 0, ULONG_MAX), 1);
	KUNIT_EXPECT_TRUE(test, drm_gpusvm_has_mapping(&t->svm, a, a + SZ_4K));
	KUNIT_EXPECT_FALSE(test, drm_gpusvm_has_mapping(&t->svm, a + SZ_2M,
							a + 4 * TEST_NOTIFIER_SIZE));
}

/* Anonymous memory: one DMA entry per 4K page, addresses hit the CPU pages. */
static void gpusvm_get_pages_anon(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	unsigned long a;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	r = test_range(test, t, a, SZ_64K);
	pages = &to_test_range(r)->pages[0];
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, pages));
	KUNIT_EXPECT_EQ(test, pages->notifier_seq, ULONG_MAX);

	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, pages));
	KUNIT_EXPECT_TRUE(test, pages->flags.has_dma_mapping);
	KUNIT_EXPECT_NE(test, pages->notifier_seq, ULONG_MAX);
	KUNIT_EXPECT_EQ(test, test_count_chunks(test, pages, 16), 16UL);
	KUNIT_EXPECT_EQ(test, (int)pages->dma_addr[0].dir, DMA_BIDIRECTIONAL);
	test_check_contents(test, pages, a, 16);

	/* Valid pages: get_pages again is a no-op keeping the mapping. */
	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, pages));
	test_check_contents(test, pages, a, 16);
}

/* A 2M THP is one DMA mapping of order 9, not 512. */
static void gpusvm_get_pages_thp(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	unsigned long a;

	a = test_mmap(test, SZ_2M, SZ_2M, PROT_READ | PROT_WRITE, NULL);
	r = test_range(test, t, a, SZ_2M);
	pages = &to_test_range(r)->pages[0];

	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_EQ(test, test_count_chunks(test, pages, 512), 1UL);
	KUNIT_EXPECT_EQ(test, (unsigned int)pages->dma_addr[0].order, 9U);
	test_check_contents(test, pages, a, 512);
}

/* Shared file (shmem) memory maps its page-cache pages. */
static void gpusvm_get_pages_file(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	struct file *file;
	unsigned long a;

	file = shmem_file_setup("gpusvm-kunit", SZ_64K, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, file);
	fput(file);

	r = test_range(test, t, a, SZ_64K);
	pages = &to_test_range(r)->pages[0];
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_EQ(test, test_count_chunks(test, pages, 16), 16UL);
	test_check_contents(test, pages, a, 16);
}

/*
 * An invalidation during get_pages forces the retry: a read-only mapping of
 * untouched anonymous memory maps the zero page; a write then makes the
 * fault copy-on-write, which invalidates the interval while hmm_range_fault()
 * runs. get_pages must retry and end with the new, private pages.
 */
static void gpusvm_get_pages_retry(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {};
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	unsigned long a, i;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	r = test_fault(t, a, a, a + SZ_64K, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	pages = &to_test_range(r)->pages[0];

	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, true), 0);
	KUNIT_EXPECT_TRUE(test, pages->flags.read_only);
	KUNIT_EXPECT_EQ(test, (int)pages->dma_addr[0].dir, DMA_TO_DEVICE);
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_PTR_EQ(test, test_device_page(pages, i), ZERO_PAGE(0));
	KUNIT_EXPECT_EQ(test, t->invalidations, 0);

	/*
	 * Read-only valid pages do not serve a write, and are not replaced
	 * behind the driver's back: it unmaps them, then they are faulted
	 * again for write.
	 */
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), -EBUSY);
	KUNIT_EXPECT_EQ(test, t->invalidations, 0);
	drm_gpusvm_unmap_pages(&t->svm, pages, 16, &ctx);
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_GE(test, t->invalidations, 1);
	KUNIT_EXPECT_EQ(test, (int)t->last_event, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, pages));
	KUNIT_EXPECT_FALSE(test, pages->flags.read_only);
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_PTR_NE(test, test_device_page(pages, i), ZERO_PAGE(0));
	test_check_contents(test, pages, a, 16);
}

/* munmap -> invalidate -> set_unmapped -> GC removal. */
static void gpusvm_munmap_gc(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	unsigned long a;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	r = test_range(test, t, a, SZ_64K);
	pages = &to_test_range(r)->pages[0];
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);

	drm_gpusvm_range_get(r);
	vm_munmap(a, SZ_64K);
	KUNIT_EXPECT_EQ(test, t->unmap_events, 1);
	KUNIT_EXPECT_TRUE(test, r->flags.unmapped);
	KUNIT_EXPECT_FALSE(test, r->flags.partial_unmap);
	KUNIT_EXPECT_TRUE(test, pages->flags.unmapped);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, pages));

	/* Pages of an unmapped range are never populated again. */
	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, false), -EFAULT);

	KUNIT_EXPECT_EQ(test, test_gc(t), 1);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 0);
	KUNIT_EXPECT_FALSE(test, drm_gpusvm_has_mapping(&t->svm, a, a + SZ_64K));
	KUNIT_EXPECT_EQ(test, t->ranges_freed, 0);
	drm_gpusvm_range_put(r);
	KUNIT_EXPECT_EQ(test, t->ranges_freed, 1);
}

/* Partial munmap: the range goes whole, the rest is faulted as new ranges. */
static void gpusvm_partial_munmap(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r;
	unsigned long a;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	r = test_range(test, t, a, SZ_64K);
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);

	vm_munmap(a + SZ_32K, SZ_32K);
	KUNIT_EXPECT_TRUE(test, r->flags.unmapped);
	KUNIT_EXPECT_TRUE(test, r->flags.partial_unmap);
	KUNIT_EXPECT_EQ(test, test_gc(t), 1);

	r = test_fault(t, a + SZ_4K, 0, TASK_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r), (unsigned long)SZ_4K);
	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, false), 0);
	r = test_fault(t, a + SZ_32K, 0, TASK_SIZE, false);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(r), -EFAULT);
}

/* N:1: two devices' pages objects in one range, mapped and unmapped apart. */
static void gpusvm_n_to_1(struct kunit *test)
{
	struct drm_gpusvm_pages *both[2], *one[1];
	struct drm_gpusvm_ctx ctx = {};
	struct svm_test *t = test->priv;
	struct svm_test_range *tr;
	struct drm_gpusvm_range *r;
	unsigned long a;

	t->ndev = 2;
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	r = test_range(test, t, a, SZ_64K);
	tr = to_test_range(r);
	both[0] = &tr->pages[0];
	both[1] = &tr->pages[1];
	KUNIT_EXPECT_PTR_EQ(test, tr->pages[0].drm, test_drm[0]);
	KUNIT_EXPECT_PTR_EQ(test, tr->pages[1].drm, test_drm[1]);

	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &tr->pages[1]));
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 1, false), 0);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[0]));
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[1]));
	test_check_contents(test, &tr->pages[0], a, 16);
	test_check_contents(test, &tr->pages[1], a, 16);

	/* Unmap device 0 only. */
	drm_gpusvm_unmap_pages(&t->svm, &tr->pages[0], 16, &ctx);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &tr->pages[0]));
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[1]));
	/* Twice is fine. */
	drm_gpusvm_unmap_pages(&t->svm, &tr->pages[0], 16, &ctx);

	/* One fault, mapped for both devices (device 1 stays as it is). */
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages_multi(&t->svm, both, 2,
							 t->svm.mm,
							 &r->notifier->notifier,
							 a, a + SZ_64K, &ctx), 0);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[0]));
	test_check_contents(test, &tr->pages[0], a, 16);

	/* A subset, in any order: device 1 alone, then device 1 and 0. */
	drm_gpusvm_unmap_pages(&t->svm, &tr->pages[0], 16, &ctx);
	drm_gpusvm_unmap_pages(&t->svm, &tr->pages[1], 16, &ctx);
	one[0] = &tr->pages[1];
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages_multi(&t->svm, one, 1,
							 t->svm.mm,
							 &r->notifier->notifier,
							 a, a + SZ_64K, &ctx), 0);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &tr->pages[0]));
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[1]));
	both[0] = &tr->pages[1];
	both[1] = &tr->pages[0];
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages_multi(&t->svm, both, 2,
							 t->svm.mm,
							 &r->notifier->notifier,
							 a, a + SZ_64K, &ctx), 0);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[0]));
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[1]));
	test_check_contents(test, &tr->pages[0], a, 16);
	test_check_contents(test, &tr->pages[1], a, 16);

	/* An unmap event marks both unmapped. */
	vm_munmap(a, SZ_64K);
	KUNIT_EXPECT_TRUE(test, tr->pages[0].flags.unmapped);
	KUNIT_EXPECT_TRUE(test, tr->pages[1].flags.unmapped);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &tr->pages[1]));
	KUNIT_EXPECT_EQ(test, test_gc(t), 1);
}

/*
 * A valid read-only mapping is never replaced by get_pages: a write request
 * gets -EBUSY and the mapping stays as it is (a device may still use it);
 * after the driver unmaps it, the writable mapping comes.
 */
static void gpusvm_read_only_upgrade(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {};
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	struct drm_pagemap_addr first;
	unsigned long a;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);	/* real pages, not the zero page */
	r = test_range(test, t, a, SZ_64K);
	pages = &to_test_range(r)->pages[0];
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, true), 0);
	KUNIT_ASSERT_TRUE(test, pages->flags.read_only);
	first = pages->dma_addr[0];

	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, false), -EBUSY);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, pages));
	KUNIT_EXPECT_TRUE(test, pages->flags.read_only);
	KUNIT_EXPECT_EQ(test, pages->dma_addr[0].addr, first.addr);
	KUNIT_EXPECT_EQ(test, (int)pages->dma_addr[0].dir, DMA_TO_DEVICE);
	test_check_contents(test, pages, a, 16);

	/* A read is served by the read-only mapping as it is. */
	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, true), 0);
	KUNIT_EXPECT_EQ(test, pages->dma_addr[0].addr, first.addr);

	drm_gpusvm_unmap_pages(&t->svm, pages, 16, &ctx);
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	KUNIT_EXPECT_FALSE(test, pages->flags.read_only);
	KUNIT_EXPECT_EQ(test, (int)pages->dma_addr[0].dir, DMA_BIDIRECTIONAL);
	test_check_contents(test, pages, a, 16);
}

/*
 * Nine pages objects of one device mirroring the same pages share one DMA
 * mapping per chunk (DMA-API debugging reports more than eight writable
 * mappings of a cacheline); it lives until the last of them unmaps.
 */
static void gpusvm_dma_mapping_shared(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {};
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *extra;
	struct drm_gpusvm_range *r;
	unsigned long a;
	int k, i;

	extra = kunit_kcalloc(test, 9, sizeof(*extra), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, extra);
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);
	for (k = 0; k < 9; k++) {
		drm_gpusvm_init_pages(&extra[k], test_drm[0]);
		KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&t->svm, &extra[k],
							   t->svm.mm,
							   &r->notifier->notifier,
							   a, a + SZ_64K, &ctx), 0);
		for (i = 0; i < 16; i++)
			KUNIT_EXPECT_EQ(test, extra[k].dma_addr[i].addr,
					extra[0].dma_addr[i].addr);
	}
	drm_gpusvm_unmap_pages(&t->svm, &extra[0], 16, &ctx);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &extra[8]));
	test_check_contents(test, &extra[8], a, 16);
	for (k = 0; k < 9; k++)
		drm_gpusvm_free_pages(&t->svm, &extra[k], 16);
}

/* Make every DMA mapping of system memory of this case's thread fail. */
static void test_fail_gpusvm_dma_map(struct kunit *test)
{
	struct kunit_resource *res = kunit_kzalloc(test, sizeof(*res), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, res);
	KUNIT_ASSERT_EQ(test, kunit_add_named_resource(test, NULL, NULL, res,
						       "drm_gpusvm_fail_dma_map",
						       NULL), 0);
}

/*
 * A writable mapping of pages that another pages object of the device maps
 * already is shared without mapping anything: it succeeds while every new
 * DMA mapping fails, where pages nobody maps get -ENOMEM.
 */
static void gpusvm_dma_mapping_shared_maps_nothing(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {};
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r, *other;
	struct drm_gpusvm_pages *extra;
	unsigned long a, b;
	int k, i;

	extra = kunit_kcalloc(test, 3, sizeof(*extra), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, extra);
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	b = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	test_fill_user(test, b, 16);
	r = test_range(test, t, a, SZ_64K);
	other = test_range(test, t, b, SZ_64K);
	for (k = 0; k < 3; k++)
		drm_gpusvm_init_pages(&extra[k], test_drm[0]);
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&t->svm, &extra[0],
						   t->svm.mm,
						   &r->notifier->notifier,
						   a, a + SZ_64K, &ctx), 0);

	test_fail_gpusvm_dma_map(test);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, &extra[1],
						   t->svm.mm,
						   &r->notifier->notifier,
						   a, a + SZ_64K, &ctx), 0);
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_EQ(test, extra[1].dma_addr[i].addr,
				extra[0].dma_addr[i].addr);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, &extra[2],
						   t->svm.mm,
						   &other->notifier->notifier,
						   b, b + SZ_64K, &ctx), -ENOMEM);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &extra[2]));
	KUNIT_EXPECT_EQ(test, kunit_destroy_named_resource(test,
							   "drm_gpusvm_fail_dma_map"),
			0);

	drm_gpusvm_unmap_pages(&t->svm, &extra[0], 16, &ctx);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &extra[1]));
	test_check_contents(test, &extra[1], a, 16);
	for (k = 0; k < 3; k++)
		drm_gpusvm_free_pages(&t->svm, &extra[k], 16);
}

/*
 * Nine read-only pages objects of one device over the same pages: each maps
 * them itself, DMA_TO_DEVICE (not shared, and not counted as overlapping by
 * DMA-API debugging); one unmapping leaves the others valid.
 */
static void gpusvm_dma_read_only_own(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = { .read_only = true };
	struct svm_test *t = test->priv;
	struct drm_gpusvm_pages *extra;
	struct drm_gpusvm_range *r;
	unsigned long a;
	int k, i;

	extra = kunit_kcalloc(test, 9, sizeof(*extra), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, extra);
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);
	for (k = 0; k < 9; k++) {
		drm_gpusvm_init_pages(&extra[k], test_drm[0]);
		KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&t->svm, &extra[k],
							   t->svm.mm,
							   &r->notifier->notifier,
							   a, a + SZ_64K, &ctx), 0);
		for (i = 0; i < 16; i++)
			KUNIT_EXPECT_EQ(test, (int)extra[k].dma_addr[i].dir,
					DMA_TO_DEVICE);
	}
	drm_gpusvm_unmap_pages(&t->svm, &extra[0], 16, &ctx);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &extra[0]));
	for (k = 1; k < 9; k++) {
		KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &extra[k]));
		test_check_contents(test, &extra[k], a, 16);
	}
	for (k = 0; k < 9; k++)
		drm_gpusvm_free_pages(&t->svm, &extra[k], 16);
}

/**
 * struct test_userptr - pages without a range, the driver's own notifier
 * @notifier: the driver's MMU interval notifier
 * @svm: the GPU SVM whose notifier lock guards @pages
 * @pages: the pages object
 * @npages: pages in the interval
 * @invalidations: callbacks seen
 */
struct test_userptr {
	struct mmu_interval_notifier notifier;
	struct drm_gpusvm *svm;
	struct drm_gpusvm_pages pages;
	unsigned long npages;
	int invalidations;
};

static bool test_userptr_invalidate(struct mmu_interval_notifier *mni,
				    const struct mmu_notifier_range *range,
				    unsigned long cur_seq)
{
	struct test_userptr *u = container_of(mni, struct test_userptr, notifier);
	struct drm_gpusvm_ctx ctx = { .in_notifier = true };

	if (!mmu_notifier_range_blockable(range))
		return false;
	down_write(&u->svm->notifier_lock);
	mmu_interval_set_seq(mni, cur_seq);
	drm_gpusvm_unmap_pages(u->svm, &u->pages, u->npages, &ctx);
	u->invalidations++;
	up_write(&u->svm->notifier_lock);
	return true;
}

static const struct mmu_interval_notifier_ops test_userptr_ops = {
	.invalidate = test_userptr_invalidate,
};

/* Pages without a range (userptr), on a GPU SVM without an mm, without DMA. */
static void gpusvm_pages_without_range(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {};
	struct drm_gpusvm svm;
	struct test_userptr u = { .svm = &svm, .npages = 16 };
	struct drm_gpusvm_range *r;
	unsigned long a, i;

	KUNIT_ASSERT_EQ(test, drm_gpusvm_init(&svm, "userptr", NULL, 0, 0, 0,
					      NULL, NULL, 0), 0);
	r = drm_gpusvm_range_find_or_insert(&svm, SZ_1M, 0, TASK_SIZE, &ctx);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(r), -EINVAL);

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	drm_gpusvm_init_pages(&u.pages, test_drm[0]);
	KUNIT_ASSERT_EQ(test, mmu_interval_notifier_insert(&u.notifier, test_mm,
							   a, SZ_64K,
							   &test_userptr_ops), 0);
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&svm, &u.pages, test_mm,
						   &u.notifier, a, a + SZ_64K,
						   &ctx), 0);
	drm_gpusvm_notifier_lock(&svm);
	KUNIT_EXPECT_TRUE(test, drm_gpusvm_pages_valid(&svm, &u.pages));
	drm_gpusvm_notifier_unlock(&svm);
	test_check_contents(test, &u.pages, a, 16);

	/* Outside the notifier's interval. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&svm, &u.pages, test_mm,
						   &u.notifier, a, a + SZ_128K,
						   &ctx), -EINVAL);

	vm_munmap(a, SZ_64K);
	KUNIT_EXPECT_EQ(test, u.invalidations, 1);
	KUNIT_EXPECT_FALSE(test, drm_gpusvm_pages_valid_unlocked(&svm, &u.pages));
	/* No VMA behind it any more. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&svm, &u.pages, test_mm,
						   &u.notifier, a, a + SZ_64K,
						   &ctx), -EFAULT);
	mmu_interval_notifier_remove(&u.notifier);
	drm_gpusvm_free_pages(&svm, &u.pages, u.npages);
	KUNIT_EXPECT_NULL(test, u.pages.dma_addr);

	/* A consumer without DMA gets CPU physical addresses. */
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	drm_gpusvm_init_pages(&u.pages, NULL);
	u.invalidations = 0;
	KUNIT_ASSERT_EQ(test, mmu_interval_notifier_insert(&u.notifier, test_mm,
							   a, SZ_64K,
							   &test_userptr_ops), 0);
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&svm, &u.pages, test_mm,
						   &u.notifier, a, a + SZ_64K,
						   &ctx), 0);
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_EQ(test, (int)u.pages.dma_addr[i].proto,
				DRM_INTERCONNECT_CPU);
	test_check_contents(test, &u.pages, a, 16);
	mmu_interval_notifier_remove(&u.notifier);
	drm_gpusvm_free_pages(&svm, &u.pages, u.npages);
	drm_gpusvm_fini(&svm);
}

/* fini with live, mapped ranges in several notifiers frees everything. */
static void gpusvm_fini_live(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r;
	unsigned long a;
	int i;

	a = test_mmap(test, 2 * TEST_NOTIFIER_SIZE, TEST_NOTIFIER_SIZE,
		      PROT_READ | PROT_WRITE, NULL);
	for (i = 0; i < 4; i++) {
		r = test_fault(t, a + i * SZ_4M, 0, TASK_SIZE, false);
		KUNIT_ASSERT_FALSE(test, IS_ERR(r));
		KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 0, false), 0);
	}
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 2);

	mutex_lock(&t->lock);
	drm_gpusvm_fini(&t->svm);
	mutex_unlock(&t->lock);
	KUNIT_EXPECT_EQ(test, t->ranges_freed, 4);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 0);

	/* Unmapping afterwards reaches no notifier. */
	vm_munmap(a, 2 * TEST_NOTIFIER_SIZE);
	KUNIT_EXPECT_EQ(test, t->invalidations, 0);

	/* test_exit finalises again: give it a fresh, empty GPU SVM. */
	KUNIT_ASSERT_EQ(test, drm_gpusvm_init(&t->svm, "kunit", NULL, 0, 0, 0,
					      NULL, NULL, 0), 0);
}

/*
 * A GPU SVM allocated on its own, for drm_gpusvm_free(): its callbacks
 * cannot reach a struct svm_test, so they count here.
 */
static struct {
	int invalidations;
	int notifiers_freed;
	int ranges_freed;
} test_free_stats;

static struct drm_gpusvm_notifier *test_free_notifier_alloc(void)
{
	struct drm_gpusvm_notifier *notifier;

	notifier = kzalloc(sizeof(*notifier), GFP_KERNEL);
	return notifier;
}

static void test_free_notifier_free(struct drm_gpusvm_notifier *notifier)
{
	test_free_stats.notifiers_freed++;
	kfree(notifier);
}

static struct drm_gpusvm_range *test_free_range_alloc(struct drm_gpusvm *svm)
{
	struct svm_test_range *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	INIT_LIST_HEAD(&r->gc_link);
	drm_gpusvm_init_pages(&r->pages[0], test_drm[0]);
	return &r->base;
}

static void test_free_range_free(struct drm_gpusvm_range *range)
{
	struct svm_test_range *r = to_test_range(range);

	drm_gpusvm_free_pages(range->gpusvm, &r->pages[0],
			      drm_gpusvm_range_npages(range));
	test_free_stats.ranges_freed++;
	kfree(r);
}

static void test_free_invalidate(struct drm_gpusvm *svm,
				 struct drm_gpusvm_notifier *notifier,
				 const struct mmu_notifier_range *mmu_range)
{
	struct drm_gpusvm_ctx ctx = { .in_notifier = true };
	struct drm_gpusvm_range *range;

	test_free_stats.invalidations++;
	drm_gpusvm_for_each_range(range, notifier, mmu_range->start,
				  mmu_range->end) {
		struct svm_test_range *r = to_test_range(range);

		drm_gpusvm_unmap_pages(svm, &r->pages[0],
				       drm_gpusvm_range_npages(range), &ctx);
		if (mmu_range->event == MMU_NOTIFY_UNMAP)
			drm_gpusvm_range_set_unmapped(range, r->pages, 1,
						      mmu_range);
	}
}

static const struct drm_gpusvm_ops test_free_ops = {
	.notifier_alloc = test_free_notifier_alloc,
	.notifier_free = test_free_notifier_free,
	.range_alloc = test_free_range_alloc,
	.range_free = test_free_range_free,
	.invalidate = test_free_invalidate,
};

/*
 * drm_gpusvm_free() of a kzalloc()ed GPU SVM with a live, DMA-mapped range
 * frees the range (and its pages), the notifier and the GPU SVM itself
 * (kmemleak would report it at the end of the run otherwise); the memory's
 * munmap afterwards reaches no notifier.
 */
static void gpusvm_free(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {};
	struct drm_gpusvm_range *r;
	struct drm_gpusvm *svm;
	int err, invalidations;
	unsigned long a;

	memset(&test_free_stats, 0, sizeof(test_free_stats));
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	svm = kzalloc(sizeof(*svm), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, svm);
	err = drm_gpusvm_init(svm, "kunit-free", test_mm, 0, TASK_SIZE,
			      TEST_NOTIFIER_SIZE, &test_free_ops, test_chunks,
			      ARRAY_SIZE(test_chunks));
	if (err)
		kfree(svm);
	KUNIT_ASSERT_EQ(test, err, 0);

	r = drm_gpusvm_range_find_or_insert(svm, a, 0, TASK_SIZE, &ctx);
	KUNIT_EXPECT_FALSE(test, IS_ERR(r));
	if (!IS_ERR(r)) {
		struct drm_gpusvm_pages *pages = &to_test_range(r)->pages[0];

		KUNIT_EXPECT_EQ(test, drm_gpusvm_range_size(r),
				(unsigned long)SZ_64K);
		KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(svm, pages, test_mm,
							   &r->notifier->notifier,
							   a, a + SZ_64K, &ctx), 0);
		KUNIT_EXPECT_TRUE(test, drm_gpusvm_pages_valid_unlocked(svm, pages));
	}

	drm_gpusvm_free(svm);
	KUNIT_EXPECT_EQ(test, test_free_stats.ranges_freed, 1);
	KUNIT_EXPECT_EQ(test, test_free_stats.notifiers_freed, 1);

	invalidations = test_free_stats.invalidations;
	vm_munmap(a, SZ_64K);
	KUNIT_EXPECT_EQ(test, test_free_stats.invalidations, invalidations);

	/* Like kfree(), NULL is nothing to free. */
	drm_gpusvm_free(NULL);
}

/*
 * drm_gpusvm_find_vma_start(): the first address of the interval inside a
 * VMA, around holes before, between and after two VMAs.
 */
static void gpusvm_find_vma_start(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm svm;
	unsigned long b;

	/*
	 * [b, b + 512K) with holes carved in it: VMAs [b + 64K, b + 192K) and
	 * [b + 256K, b + 384K); test_mmap()'s PROT_NONE guard VMAs lie below
	 * b and from b + 512K.
	 */
	b = test_mmap(test, 8 * SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	KUNIT_ASSERT_EQ(test, vm_munmap(b, SZ_64K), 0);
	KUNIT_ASSERT_EQ(test, vm_munmap(b + 3 * SZ_64K, SZ_64K), 0);
	KUNIT_ASSERT_EQ(test, vm_munmap(b + 6 * SZ_64K, 2 * SZ_64K), 0);

	/* Hole before the first VMA: nothing, then the VMA's start. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b, b + SZ_64K),
			ULONG_MAX);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b,
							b + SZ_64K + 1),
			b + SZ_64K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + SZ_4K,
							b + 8 * SZ_64K),
			b + SZ_64K);
	/* Starting inside a VMA: the start itself. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + SZ_64K,
							b + 2 * SZ_64K),
			b + SZ_64K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm,
							b + SZ_64K + SZ_4K,
							b + 2 * SZ_64K),
			b + SZ_64K + SZ_4K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm,
							b + 3 * SZ_64K - SZ_4K,
							b + 8 * SZ_64K),
			b + 3 * SZ_64K - SZ_4K);
	/* The hole between the VMAs; the end is exclusive. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + 3 * SZ_64K,
							b + 4 * SZ_64K),
			ULONG_MAX);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + 3 * SZ_64K,
							b + 8 * SZ_64K),
			b + 4 * SZ_64K);
	/* The hole after the second VMA, then test_mmap()'s guard VMA. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + 6 * SZ_64K,
							b + 8 * SZ_64K),
			ULONG_MAX);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + 6 * SZ_64K,
							b + 8 * SZ_64K + SZ_4K),
			b + 8 * SZ_64K);
	/* Empty and inverted intervals hold no address. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + SZ_64K,
							b + SZ_64K),
			ULONG_MAX);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&t->svm, b + 2 * SZ_64K,
							b + SZ_64K),
			ULONG_MAX);

	/* A GPU SVM without an mm has no VMA. */
	KUNIT_ASSERT_EQ(test, drm_gpusvm_init(&svm, "no-mm", NULL, 0, 0, 0, NULL,
					      NULL, 0), 0);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_find_vma_start(&svm, b + SZ_64K,
							b + 2 * SZ_64K),
			ULONG_MAX);
	drm_gpusvm_fini(&svm);
}

/* Bad arguments get clear errnos and no warning. */
static void gpusvm_bad_input(struct kunit *test)
{
	static const unsigned long ascending[] = { SZ_4K, SZ_64K };
	static const unsigned long no_4k[] = { SZ_2M, SZ_64K };
	static const unsigned long not_pow2[] = { SZ_2M, 3 * SZ_4K, SZ_4K };
	struct drm_gpusvm_ctx ctx = {}, ro = { .read_only = true };
	struct svm_test *t = test->priv;
	struct drm_gpusvm svm;
	struct drm_gpusvm_range *r;
	struct vm_area_struct *vma;
	unsigned long a, rd;

	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", test_mm, 0, TASK_SIZE,
					      SZ_8M + SZ_4K, &test_ops,
					      test_chunks, 3), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", test_mm, 0, TASK_SIZE,
					      SZ_8M, &test_ops, ascending, 2),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", test_mm, 0, TASK_SIZE,
					      SZ_8M, &test_ops, no_4k, 2), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", test_mm, 0, TASK_SIZE,
					      SZ_8M, &test_ops, not_pow2, 3),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", test_mm, 0, TASK_SIZE,
					      SZ_1M, &test_ops, test_chunks, 3),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", test_mm, ULONG_MAX - SZ_4K,
					      SZ_8K, SZ_8M, &test_ops, test_chunks,
					      3),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_init(&svm, "x", NULL, 0, 0, 0,
					      &test_ops, NULL, 0), -EINVAL);

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	/* Outside the mirrored window. */
	t->svm.mm_start = a + SZ_64K;
	t->svm.mm_range = SZ_1M;
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a, 0, TASK_SIZE, false)),
			-EFAULT);
	t->svm.mm_start = 0;
	t->svm.mm_range = TASK_SIZE;
	/* Empty and inverted GPU VA intervals. */
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a, a, a, false)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a, a + SZ_4K, a, false)),
			-EINVAL);
	/* A PROT_NONE VMA (test_mmap's guard area) cannot be mirrored ... */
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a - SZ_4K, 0, TASK_SIZE,
							 true)), -EPERM);
	/* ... and where there is no VMA at all the address is invalid. */
	vm_munmap(a - SZ_4K, SZ_4K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a - SZ_4K, 0, TASK_SIZE,
							 true)), -EFAULT);
	KUNIT_EXPECT_EQ(test, test_count_notifiers(t), 0);

	/* VM_IO and VM_PFNMAP VMAs cannot be mirrored. */
	mmap_write_lock(test_mm);
	vma = vma_lookup(test_mm, a);
	vma->vm_flags |= VM_IO;
	mmap_write_unlock(test_mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a, 0, TASK_SIZE, true)),
			-EPERM);
	mmap_write_lock(test_mm);
	vma->vm_flags &= ~VM_IO;
	vma->vm_flags |= VM_PFNMAP;
	mmap_write_unlock(test_mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, a, 0, TASK_SIZE, true)),
			-EPERM);
	mmap_write_lock(test_mm);
	vma->vm_flags &= ~VM_PFNMAP;
	mmap_write_unlock(test_mm);

	/* Write to a read-only mapping: refused by find_or_insert and get_pages. */
	rd = test_mmap(test, SZ_64K, SZ_64K, PROT_READ, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(test_fault(t, rd, 0, TASK_SIZE, false)),
			-EPERM);
	r = test_fault(t, rd, 0, TASK_SIZE, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, false), -EPERM);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &to_test_range(r)->pages[0]));
	KUNIT_EXPECT_EQ(test, test_get_pages(t, r, 0, true), 0);

	/* get_pages: zero, unaligned, overflowing, outside the notifier. */
	r = test_range(test, t, a, SZ_64K);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, &to_test_range(r)->pages[0],
						   test_mm, &r->notifier->notifier,
						   a, a, &ctx), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, &to_test_range(r)->pages[0],
						   test_mm, &r->notifier->notifier,
						   a + 1, a + SZ_4K, &ctx), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, &to_test_range(r)->pages[0],
						   test_mm, &r->notifier->notifier,
						   a + SZ_4K, a, &ctx), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, &to_test_range(r)->pages[0],
						   test_mm, &r->notifier->notifier,
						   a, ULONG_MAX & PAGE_MASK, &ro), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages_multi(&t->svm, NULL, 0, test_mm,
							 &r->notifier->notifier,
							 a, a + SZ_4K, &ctx), -EINVAL);
}

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
/*
 * A small device-memory provider: two pagemaps of 16 device-private pages
 * each, content in RAM, with one page owner (two devices on one
 * interconnect, or one device whose memory is split in two pagemaps).
 */
#define TEST_DEVMEM_PAGES 16

/*
 * An interconnect address of test_device_map(): the pagemap's id above this
 * bit, the page's offset in it below.
 */
#define TEST_DEVMEM_ID_SHIFT 32

/**
 * struct test_alloc - an allocation of a test pagemap
 * @devmem: the drm_pagemap allocation
 * @first: index of its first page in the pagemap
 * @released: devmem_release ran
 */
struct test_alloc {
	struct drm_pagemap_devmem devmem;
	unsigned long first;
	bool released;
};

/**
 * struct test_pagemap - one pagemap of the test provider
 * @alloc: its allocation over all its pages
 * @alloc2: a second allocation, over its upper half
 * @pagemap: the MEMORY_DEVICE_PRIVATE pagemap
 * @dpagemap: the provider of the pagemap
 * @res: the physical address region
 * @base_pfn: first pfn of the region
 * @backing: the content of its pages
 * @id: its id in interconnect addresses (%TEST_DEVMEM_ID_SHIFT)
 * @ready: the pages are set up (memremap_pages() done)
 *
 * The allocations live here, not on a test's stack: after a failed case,
 * suite exit still evicts them before the pagemap goes.
 */
struct test_pagemap {
	struct test_alloc alloc;
	struct test_alloc alloc2;
	struct dev_pagemap pagemap;
	struct drm_pagemap dpagemap;
	struct resource *res;
	unsigned long base_pfn;
	void *backing;
	unsigned int id;
	bool ready;
};

/* The pagemaps: id 0 and id 1, the owner of both is &test_devmem. */
static struct test_pagemap test_devmem, test_devmem2;

/**
 * struct test_provider - what the test provider's ops saw and do
 * @fail_map_dev: device_map fails for this device
 * @copy_fence: the fence of the last copy
 * @destroyed: destroy calls
 * @destroyed_atomic: the last destroy call was atomic
 * @device_maps: device_map calls that gave an address
 * @device_unmaps: device_unmap calls
 * @from_peer: pages copy_to_devmem copied from an interconnect address
 * @to_peer: pages copy_to_ram copied to an interconnect address
 * @to_ram: pages copy_to_ram copied to system memory
 * @fail_copy_to_ram: copy_to_ram fails with -EIO
 * @maps: the (device, address) pairs device_map gave and device_unmap has
 *        not released yet (a free slot has a NULL device)
 * @bad_unmaps: device_unmap calls for a pair device_map never gave, or
 *              gave back already
 */
static struct test_provider {
	struct device *fail_map_dev;
	struct dma_fence *copy_fence;
	unsigned int destroyed;
	bool destroyed_atomic;
	unsigned long device_maps;
	unsigned long device_unmaps;
	unsigned long from_peer;
	unsigned long to_peer;
	unsigned long to_ram;
	bool fail_copy_to_ram;
	struct {
		struct device *dev;
		dma_addr_t addr;
	} maps[2 * TEST_DEVMEM_PAGES];
	unsigned long bad_unmaps;
} test_provider;

/* Device mappings of the provider not released. */
static unsigned int test_maps_live(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(test_provider.maps); i++)
		n += !!test_provider.maps[i].dev;
	return n;
}

/* The device a pagemap's allocations copy with: device i for pagemap i. */
static struct device *test_pagemap_dev(struct drm_pagemap *dpagemap)
{
	return test_drm[dpagemap == &test_devmem2.dpagemap]->dev;
}

static void test_alloc_release(struct drm_pagemap_devmem *devmem)
{
	container_of(devmem, struct test_alloc, devmem)->released = true;
}

static int test_alloc_populate(struct drm_pagemap_devmem *devmem,
			       unsigned long npages, unsigned long *pfn)
{
	struct test_alloc *alloc = container_of(devmem, struct test_alloc,
						devmem);
	unsigned long i;

	for (i = 0; i < npages; i++)
		pfn[i] = PHYS_PFN(devmem->dpagemap->pagemap->range.start) +
			 alloc->first + i;
	return 0;
}

static void *test_devmem_va(struct page *page)
{
	struct test_pagemap *tp = container_of(page->pgmap,
					       struct test_pagemap, pagemap);

	return tp->backing + ((page_to_pfn(page) - tp->base_pfn) << PAGE_SHIFT);
}

/* The content of the device page at an interconnect address. */
static void *test_devmem_addr_va(dma_addr_t addr)
{
	struct test_pagemap *tp = addr >> TEST_DEVMEM_ID_SHIFT ?
				  &test_devmem2 : &test_devmem;

	return tp->backing + (addr & (BIT_ULL(TEST_DEVMEM_ID_SHIFT) - 1));
}

/* The system page at a DMA address (both test devices map directly). */
static void *test_sys_kmap(struct drm_pagemap_addr addr)
{
	return kmap_local_page(pfn_to_page(PHYS_PFN(dma_to_phys(test_drm[0]->dev,
								addr.addr))));
}

static int test_alloc_copy_to_devmem(struct page **pages,
				     struct drm_pagemap_addr *addr,
				     unsigned long npages,
				     struct dma_fence *pre_migrate_fence)
{
	unsigned long i;

	test_provider.copy_fence = pre_migrate_fence;
	for (i = 0; i < npages; i++) {
		void *src;

		if (!pages[i])
			continue;
		if (addr[i].proto == DRM_INTERCONNECT_DRIVER) {
			memcpy(test_devmem_va(pages[i]),
			       test_devmem_addr_va(addr[i].addr), PAGE_SIZE);
			test_provider.from_peer++;
			continue;
		}
		if (!addr[i].addr) {
			memset(test_devmem_va(pages[i]), 0, PAGE_SIZE);
			continue;
		}
		src = test_sys_kmap(addr[i]);
		memcpy(test_devmem_va(pages[i]), src, PAGE_SIZE);
		kunmap_local(src);
	}
	return 0;
}

static int test_alloc_copy_to_ram(struct page **pages,
				  struct drm_pagemap_addr *addr,
				  unsigned long npages,
				  struct dma_fence *pre_migrate_fence)
{
	unsigned long i;

	test_provider.copy_fence = pre_migrate_fence;
	if (test_provider.fail_copy_to_ram)
		return -EIO;
	for (i = 0; i < npages; i++) {
		void *dst;

		if (!pages[i])
			continue;
		if (addr[i].proto == DRM_INTERCONNECT_DRIVER) {
			memcpy(test_devmem_addr_va(addr[i].addr),
			       test_devmem_va(pages[i]), PAGE_SIZE);
			test_provider.to_peer++;
			continue;
		}
		dst = test_sys_kmap(addr[i]);
		memcpy(dst, test_devmem_va(pages[i]), PAGE_SIZE);
		kunmap_local(dst);
		test_provider.to_ram++;
	}
	return 0;
}

static const struct drm_pagemap_devmem_ops test_alloc_ops = {
	.devmem_release = test_alloc_release,
	.populate_devmem_pfn = test_alloc_populate,
	.copy_to_devmem = test_alloc_copy_to_devmem,
	.copy_to_ram = test_alloc_copy_to_ram,
};

static struct drm_pagemap_addr
test_device_map(struct drm_pagemap *dpagemap, struct device *dev,
		struct page *page, unsigned int order,
		enum dma_data_direction dir)
{
	struct test_pagemap *tp = container_of(dpagemap, struct test_pagemap,
					       dpagemap);
	dma_addr_t addr = (dma_addr_t)tp->id << TEST_DEVMEM_ID_SHIFT |
			  (page_to_pfn(page) - tp->base_pfn) << PAGE_SHIFT;

	unsigned int i;

	if (dev == test_provider.fail_map_dev)
		return drm_pagemap_addr_encode(DMA_MAPPING_ERROR,
					       DRM_INTERCONNECT_DRIVER, order,
					       dir);
	test_provider.device_maps++;
	for (i = 0; i < ARRAY_SIZE(test_provider.maps); i++) {
		if (!test_provider.maps[i].dev) {
			test_provider.maps[i].dev = dev;
			test_provider.maps[i].addr = addr;
			break;
		}
	}
	return drm_pagemap_addr_encode(addr, DRM_INTERCONNECT_DRIVER, order,
				       dir);
}

/* Releases exactly a pair device_map gave: the same device and address. */
static void test_device_unmap(struct drm_pagemap *dpagemap,
			      struct device *dev, struct drm_pagemap_addr addr)
{
	unsigned int i;

	test_provider.device_unmaps++;
	for (i = 0; i < ARRAY_SIZE(test_provider.maps); i++) {
		if (test_provider.maps[i].dev == dev &&
		    test_provider.maps[i].addr == addr.addr) {
			test_provider.maps[i].dev = NULL;
			return;
		}
	}
	test_provider.bad_unmaps++;
}

/* The provider is static: its last reference only counts. */
static void test_dpagemap_destroy(struct drm_pagemap *dpagemap,
				  bool is_atomic_or_reclaim)
{
	test_provider.destroyed++;
	test_provider.destroyed_atomic = is_atomic_or_reclaim;
}

static const struct drm_pagemap_ops test_dpagemap_ops = {
	.device_map = test_device_map,
	.device_unmap = test_device_unmap,
	.destroy = test_dpagemap_destroy,
};

/* Set up the test allocation for a case, over all the test's VRAM. */
static void test_alloc_init(struct svm_test *t, struct dma_fence *fence)
{
	test_devmem.alloc.released = false;
	drm_pagemap_devmem_init(&test_devmem.alloc.devmem, test_drm[0]->dev,
				t->svm.mm, &test_alloc_ops, &test_devmem.dpagemap,
				TEST_DEVMEM_PAGES << PAGE_SHIFT, fence);
}

/*
 * Migrate [@start, @end) into the test allocation, to stay there
 * @timeslice_ms. Return: the number of pages migrated, or the error.
 */
static long test_migrate(struct svm_test *t, unsigned long start,
			 unsigned long end, unsigned long timeslice_ms)
{
	unsigned long migrated = ULONG_MAX;
	struct drm_pagemap_migrate_details details = {
		.timeslice_ms = timeslice_ms,
		.migrated = &migrated,
	};
	int err;

	err = drm_pagemap_migrate_to_devmem(&test_devmem.alloc.devmem,
					    t->svm.mm, start, end, &details);
	return err ? err : migrated;
}

/* Evict what a failed case left in @tp, tear it down. */
static void test_pagemap_fini(struct test_pagemap *tp)
{
	if (tp->ready) {
		if (atomic_read(&tp->alloc.devmem.refs) > 1)
			drm_pagemap_evict_to_ram(&tp->alloc.devmem);
		if (atomic_read(&tp->alloc2.devmem.refs) > 1)
			drm_pagemap_evict_to_ram(&tp->alloc2.devmem);
		memunmap_pages(&tp->pagemap);
	}
	if (!IS_ERR_OR_NULL(tp->res))
		release_mem_region(tp->res->start, resource_size(tp->res));
	vfree(tp->backing);
	memset(tp, 0, sizeof(*tp));
}

/* Set up @tp as pagemap @id of the provider, owned by &test_devmem. */
static int test_pagemap_init(struct test_pagemap *tp, unsigned int id)
{
	unsigned long size = TEST_DEVMEM_PAGES << PAGE_SHIFT;
	void *addr;

	tp->id = id;
	tp->backing = vzalloc(size);
	if (!tp->backing)
		return -ENOMEM;
	tp->res = request_free_mem_region(&iomem_resource, size,
					  "drm_gpusvm_kunit");
	if (IS_ERR(tp->res))
		return PTR_ERR(tp->res);
	tp->pagemap.type = MEMORY_DEVICE_PRIVATE;
	tp->pagemap.range.start = tp->res->start;
	tp->pagemap.range.end = tp->res->end;
	tp->pagemap.nr_range = 1;
	tp->pagemap.ops = drm_pagemap_pagemap_ops_get();
	tp->pagemap.owner = &test_devmem;
	addr = memremap_pages(&tp->pagemap, NUMA_NO_NODE);
	if (IS_ERR(addr))
		return PTR_ERR(addr);
	tp->ready = true;
	tp->base_pfn = PHYS_PFN(tp->res->start);
	return drm_pagemap_init(&tp->dpagemap, &tp->pagemap, test_drm[0],
				&test_dpagemap_ops);
}

/*
 * Device pages: get_pages maps those of the caller's owner through the
 * provider, refuses mixing unless allowed, and with another owner makes
 * hmm_range_fault() migrate them back; eviction brings an allocation back.
 */
static void gpusvm_device_memory(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct drm_gpusvm_ctx ctx = {
		.device_private_page_owner = &test_devmem,
	};
	struct test_alloc *alloc = &test_devmem.alloc;
	struct drm_gpusvm_pages *pages;
	struct drm_gpusvm_range *r;
	unsigned long a, i;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	t->ndev = 2;
	r = test_range(test, t, a, SZ_64K);
	pages = &to_test_range(r)->pages[0];

	/* Half of the range moves to device memory. */
	test_alloc_init(t, NULL);
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_32K, 0), 8L);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 9);

	/* Mixed system and device pages need allow_mixed. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, pages, t->svm.mm,
						   &r->notifier->notifier, a,
						   a + SZ_64K, &ctx), -EOPNOTSUPP);
	ctx.allow_mixed = true;
	ctx.devmem_only = true;
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, pages, t->svm.mm,
						   &r->notifier->notifier, a,
						   a + SZ_64K, &ctx), -EFAULT);
	ctx.devmem_only = false;
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&t->svm, pages, t->svm.mm,
						   &r->notifier->notifier, a,
						   a + SZ_64K, &ctx), 0);
	KUNIT_EXPECT_TRUE(test, pages->flags.has_devmem_pages);
	KUNIT_EXPECT_TRUE(test, pages->flags.has_dma_mapping);
	KUNIT_EXPECT_PTR_EQ(test, pages->dpagemap, &test_devmem.dpagemap);
	for (i = 0; i < 8; i++) {
		KUNIT_EXPECT_EQ(test, (int)pages->dma_addr[i].proto,
				DRM_INTERCONNECT_DRIVER);
		KUNIT_EXPECT_EQ(test, pages->dma_addr[i].addr, i << PAGE_SHIFT);
	}
	KUNIT_EXPECT_EQ(test, (int)pages->dma_addr[8].proto,
			DRM_INTERCONNECT_SYSTEM);

	/*
	 * Another owner (device 1, no device memory of its own): the fault
	 * migrates the device pages back, which invalidates device 0's
	 * mapping; the data survives the round trip.
	 */
	ctx.device_private_page_owner = NULL;
	KUNIT_ASSERT_EQ(test, test_get_pages(t, r, 1, false), 0);
	KUNIT_EXPECT_FALSE(test, to_test_range(r)->pages[1].flags.has_devmem_pages);
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, pages));
	KUNIT_EXPECT_EQ(test, t->last_event, MMU_NOTIFY_MIGRATE);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	test_check_user(test, a, 16);

	/* Eviction by pfn brings a second migration back. */
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);
	KUNIT_EXPECT_EQ(test, drm_pagemap_evict_to_ram(&alloc->devmem), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	test_check_user(test, a, 16);
	KUNIT_EXPECT_FALSE(test, alloc->released);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
}

/* Make the DMA mapping of page @index of this case's migrations fail. */
static void test_fail_dma_map(struct kunit *test, unsigned long index)
{
	struct kunit_resource *res = kunit_kzalloc(test, sizeof(*res), GFP_KERNEL);
	unsigned long *data = kunit_kzalloc(test, sizeof(*data), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, res);
	KUNIT_ASSERT_NOT_NULL(test, data);
	*data = index;
	KUNIT_ASSERT_EQ(test, kunit_add_named_resource(test, NULL, NULL, res,
						       "drm_pagemap_fail_dma_map",
						       data), 0);
}

static void test_fail_dma_map_stop(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, kunit_destroy_named_resource(test,
							   "drm_pagemap_fail_dma_map"),
			0);
}

/* How many pages of [addr, addr + 16 pages) are device pages now. */
static int test_count_device_pages(struct kunit *test, struct svm_test *t,
				   struct drm_gpusvm_range *r, unsigned long addr)
{
	struct drm_gpusvm_ctx ctx = {
		.device_private_page_owner = &test_devmem,
		.allow_mixed = true,
	};
	struct drm_gpusvm_pages *pages = &to_test_range(r)->pages[0];
	int i, n = 0;

	drm_gpusvm_unmap_pages(&t->svm, pages, 16, &ctx);
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages(&t->svm, pages, t->svm.mm,
						   &r->notifier->notifier, addr,
						   addr + SZ_64K, &ctx), 0);
	for (i = 0; i < 16; i++)
		n += pages->dma_addr[i].proto == DRM_INTERCONNECT_DRIVER;
	drm_gpusvm_unmap_pages(&t->svm, pages, 16, &ctx);
	return n;
}

/*
 * A migration to device memory whose DMA mapping fails at page 5 migrates
 * nothing: every page stays in system memory with its data, no device page
 * is left in use, and the allocation holds no reference of a page.
 */
static void gpusvm_migrate_map_failure(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct test_alloc *alloc = &test_devmem.alloc;
	struct drm_gpusvm_range *r;
	unsigned long a, i;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);
	test_alloc_init(t, NULL);

	test_fail_dma_map(test, 5);
	KUNIT_EXPECT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), -ENOMEM);
	test_fail_dma_map_stop(test);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	for (i = 0; i < TEST_DEVMEM_PAGES; i++)
		KUNIT_EXPECT_EQ(test, page_count(pfn_to_page(test_devmem.base_pfn + i)), 0);
	KUNIT_EXPECT_EQ(test, test_count_device_pages(test, t, r, a), 0);
	test_check_user(test, a, 16);

	/* The same allocation migrates fine afterwards. */
	KUNIT_EXPECT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);
	KUNIT_EXPECT_EQ(test, test_count_device_pages(test, t, r, a), 16);
	test_check_user(test, a, 16);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
}

/*
 * A CPU fault whose window has another page that cannot come back (its DMA
 * mapping fails) still succeeds for the faulting page; the other page stays
 * in device memory, with its data, until it is touched itself.
 */
static void gpusvm_cpu_fault_other_page_fails(struct kunit *test)
{
	struct svm_test *t = test->priv;
	struct test_alloc *alloc = &test_devmem.alloc;
	struct drm_gpusvm_range *r;
	unsigned long a;
	u64 v;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);
	test_alloc_init(t, NULL);
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);

	test_fail_dma_map(test, 3);
	KUNIT_EXPECT_EQ(test, get_user(v, (u64 __user *)a), 0);
	KUNIT_EXPECT_EQ(test, v, 1ULL);
	test_fail_dma_map_stop(test);
	KUNIT_EXPECT_EQ(test, test_count_device_pages(test, t, r, a), 1);
	/* Page 3 comes back when touched. */
	test_check_user(test, a, 16);
	KUNIT_EXPECT_EQ(test, test_count_device_pages(test, t, r, a), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
}

/*
 * get_pages_multi failing for device 1 leaves device 0's valid mapping
 * alone: same addresses, still valid.
 */
static void gpusvm_multi_error_keeps_valid(struct kunit *test)
{
	struct drm_gpusvm_ctx ctx = {
		.device_private_page_owner = &test_devmem,
	};
	struct svm_test *t = test->priv;
	struct test_alloc *alloc = &test_devmem.alloc;
	struct drm_pagemap_addr before[16];
	struct drm_gpusvm_pages *both[2];
	struct svm_test_range *tr;
	struct drm_gpusvm_range *r;
	unsigned long a;
	int i;

	t->ndev = 2;
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);
	tr = to_test_range(r);
	both[0] = &tr->pages[0];
	both[1] = &tr->pages[1];
	test_alloc_init(t, NULL);
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);
	KUNIT_ASSERT_EQ(test, drm_gpusvm_get_pages(&t->svm, &tr->pages[0],
						   t->svm.mm,
						   &r->notifier->notifier, a,
						   a + SZ_64K, &ctx), 0);
	memcpy(before, tr->pages[0].dma_addr, sizeof(before));

	test_provider.fail_map_dev = test_drm[1]->dev;
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages_multi(&t->svm, both, 2,
							 t->svm.mm,
							 &r->notifier->notifier,
							 a, a + SZ_64K, &ctx),
			-EFAULT);
	test_provider.fail_map_dev = NULL;
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[0]));
	KUNIT_EXPECT_FALSE(test, test_pages_valid(t, &tr->pages[1]));
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_EQ(test, tr->pages[0].dma_addr[i].addr, before[i].addr);

	/* Both map once device 1 can. */
	KUNIT_EXPECT_EQ(test, drm_gpusvm_get_pages_multi(&t->svm, both, 2,
							 t->svm.mm,
							 &r->notifier->notifier,
							 a, a + SZ_64K, &ctx), 0);
	KUNIT_EXPECT_TRUE(test, test_pages_valid(t, &tr->pages[1]));

	KUNIT_EXPECT_EQ(test, drm_pagemap_evict_to_ram(&alloc->devmem), 0);
	test_check_user(test, a, 16);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
}

static enum drm_gpusvm_scan_result test_scan(struct svm_test *t,
					     struct drm_gpusvm_range *r,
					     void *owner,
					     const struct dev_pagemap *pagemap)
{
	enum drm_gpusvm_scan_result result;

	mutex_lock(&t->lock);
	result = drm_gpusvm_scan_mm(r, owner, pagemap);
	mutex_unlock(&t->lock);
	return result;
}

/* Move [start, end) of the mm into @alloc of provider pagemap @dpagemap. */
static void test_migrate_into(struct kunit *test, struct svm_test *t,
			      struct test_alloc *alloc,
			      struct drm_pagemap *dpagemap,
			      unsigned long start, unsigned long end)
{
	unsigned long migrated = 0;
	struct drm_pagemap_migrate_details details = { .migrated = &migrated };

	drm_pagemap_devmem_init(&alloc->devmem, test_pagemap_dev(dpagemap),
				t->svm.mm, &test_alloc_ops, dpagemap,
				TEST_DEVMEM_PAGES << PAGE_SHIFT, NULL);
	alloc->released = false;
	KUNIT_ASSERT_EQ(test, drm_pagemap_migrate_to_devmem(&alloc->devmem,
							    t->svm.mm, start,
							    end, &details), 0);
	KUNIT_ASSERT_EQ(test, migrated, (end - start) >> PAGE_SHIFT);
}

/* Bring @alloc back to system memory and release it. */
static void test_evict(struct kunit *test, struct test_alloc *alloc)
{
	KUNIT_EXPECT_EQ(test, drm_pagemap_evict_to_ram(&alloc->devmem), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
}

/* Read the first word of @addr from the case's thread. Return: jiffies taken. */
static unsigned long test_timed_read(struct kunit *test, unsigned long addr,
				     u64 expect)
{
	unsigned long t0 = jiffies;
	u64 v;

	KUNIT_EXPECT_EQ(test, get_user(v, (u64 __user *)addr), 0);
	KUNIT_EXPECT_EQ(test, v, expect);
	return jiffies - t0;
}

/*
 * Timeslice: a CPU fault on device memory migrated with a timeslice waits
 * until the timeslice is over, then migrates it back; without one it
 * migrates at once; eviction does not wait; a timeslice is at most
 * DRM_PAGEMAP_TIMESLICE_MAX_MS. A migration over pages that
 * are all device pages already moves nothing: -EBUSY.
 */
static void gpusvm_pagemap_timeslice(struct kunit *test)
{
	const unsigned long slice = msecs_to_jiffies(200);
	struct svm_test *t = test->priv;
	struct test_alloc *alloc = &test_devmem.alloc;
	unsigned long a, waited, migrated_at;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	test_alloc_init(t, NULL);

	/* From before the migration: the timeslice starts inside it. */
	migrated_at = jiffies;
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 200), 16L);
	waited = test_timed_read(test, a, 1);
	KUNIT_EXPECT_GE_MSG(test, jiffies - migrated_at, slice,
			    "back after %lu jiffies", jiffies - migrated_at);
	KUNIT_EXPECT_LT_MSG(test, waited, slice + HZ, "waited %lu jiffies", waited);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	test_check_user(test, a, 16);

	/* Nothing left to select: -EBUSY, nothing moves, no wait. */
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);
	KUNIT_EXPECT_EQ(test, test_migrate(t, a, a + SZ_64K, 200), (long)-EBUSY);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 17);
	test_check_user(test, a, 16);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);

	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);
	waited = test_timed_read(test, a, 1);
	KUNIT_EXPECT_LT_MSG(test, waited, slice / 2, "waited %lu jiffies", waited);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);

	/* Clamped to DRM_PAGEMAP_TIMESLICE_MAX_MS. */
	migrated_at = jiffies;
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 10000), 16L);
	waited = test_timed_read(test, a, 1);
	KUNIT_EXPECT_GE_MSG(test, jiffies - migrated_at,
			    msecs_to_jiffies(DRM_PAGEMAP_TIMESLICE_MAX_MS),
			    "back after %lu jiffies", jiffies - migrated_at);
	KUNIT_EXPECT_LT_MSG(test, waited,
			    msecs_to_jiffies(DRM_PAGEMAP_TIMESLICE_MAX_MS) + HZ,
			    "waited %lu jiffies", waited);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);

	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 200), 16L);
	waited = jiffies;
	KUNIT_EXPECT_EQ(test, drm_pagemap_evict_to_ram(&alloc->devmem), 0);
	waited = jiffies - waited;
	KUNIT_EXPECT_LT_MSG(test, waited, slice / 2, "waited %lu jiffies", waited);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	test_check_user(test, a, 16);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
}

/*
 * drm_gpusvm_scan_mm() gives each documented result for its placement of
 * the range's pages, and faults and migrates nothing doing it.
 */
static void gpusvm_scan_mm(struct kunit *test)
{
	const struct dev_pagemap *pm1 = &test_devmem.pagemap;
	const struct dev_pagemap *pm2 = &test_devmem2.pagemap;
	struct test_alloc *alloc1 = &test_devmem.alloc;
	struct test_alloc *alloc2 = &test_devmem2.alloc;
	void *owner = &test_devmem, *other_owner = test_drm[1];
	struct svm_test *t = test->priv;
	struct drm_gpusvm_range *r;
	unsigned long a, i;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	r = test_range(test, t, a, SZ_64K);

	/* Never touched: nothing present, and the scan faults nothing in. */
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1),
			DRM_GPUSVM_SCAN_UNPOPULATED);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1),
			DRM_GPUSVM_SCAN_UNPOPULATED);
	KUNIT_EXPECT_EQ(test, t->invalidations, 0);

	/* Half touched. */
	for (i = 0; i < 8; i++)
		KUNIT_ASSERT_EQ(test, put_user(i + 1, (u64 __user *)(a + i * PAGE_SIZE)), 0);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1),
			DRM_GPUSVM_SCAN_UNPOPULATED);

	/* All of it in system memory, whatever the owner or pagemap. */
	test_fill_user(test, a, 16);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_SYSTEM);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, other_owner, NULL),
			DRM_GPUSVM_SCAN_SYSTEM);

	/* All of it in pagemap 1. */
	test_migrate_into(test, t, alloc1, &test_devmem.dpagemap, a, a + SZ_64K);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_EQUAL);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm2), DRM_GPUSVM_SCAN_OTHER);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, NULL), DRM_GPUSVM_SCAN_OTHER);
	/*
	 * Another owner does not see the device pages, and its scan does not
	 * migrate them back: they are all still there afterwards.
	 */
	KUNIT_EXPECT_EQ(test, test_scan(t, r, other_owner, pm1),
			DRM_GPUSVM_SCAN_UNPOPULATED);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, NULL, pm1),
			DRM_GPUSVM_SCAN_UNPOPULATED);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc1->devmem.refs), 17);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_EQUAL);
	test_evict(test, alloc1);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_SYSTEM);
	test_check_user(test, a, 16);

	/* All of it in pagemap 2. */
	test_migrate_into(test, t, alloc2, &test_devmem2.dpagemap, a, a + SZ_64K);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_OTHER);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm2), DRM_GPUSVM_SCAN_EQUAL);
	test_evict(test, alloc2);
	test_check_user(test, a, 16);

	/* The first half in pagemap 1, the second in system memory. */
	test_migrate_into(test, t, alloc1, &test_devmem.dpagemap, a, a + SZ_32K);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_MIXED);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm2), DRM_GPUSVM_SCAN_MIXED);

	/* ... and the second half in pagemap 2: one owner, two pagemaps. */
	test_migrate_into(test, t, alloc2, &test_devmem2.dpagemap, a + SZ_32K,
			  a + SZ_64K);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1),
			DRM_GPUSVM_SCAN_MIXED_DEVICE);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm2),
			DRM_GPUSVM_SCAN_MIXED_DEVICE);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, NULL),
			DRM_GPUSVM_SCAN_MIXED_DEVICE);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, other_owner, pm1),
			DRM_GPUSVM_SCAN_UNPOPULATED);

	/* Back in system memory, with the data. */
	test_evict(test, alloc1);
	test_evict(test, alloc2);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, owner, pm1), DRM_GPUSVM_SCAN_SYSTEM);
	test_check_user(test, a, 16);
}

/*
 * Set up @alloc over @npages pages of @dpagemap's pagemap (from its
 * &test_alloc.first on) and migrate [@start, @end) into it, with
 * @same_pagemap and @source_copies. The caller drops the creator's
 * reference. Return: the number of pages migrated, or the error.
 */
static long test_migrate_peer(struct svm_test *t, struct test_alloc *alloc,
			      struct drm_pagemap *dpagemap, unsigned long npages,
			      unsigned long start, unsigned long end,
			      bool same_pagemap, bool source_copies)
{
	unsigned long migrated = ULONG_MAX;
	struct drm_pagemap_migrate_details details = {
		.can_migrate_same_pagemap = same_pagemap,
		.source_peer_migrates = source_copies,
		.migrated = &migrated,
	};
	int err;

	drm_pagemap_devmem_init(&alloc->devmem, test_pagemap_dev(dpagemap),
				t->svm.mm, &test_alloc_ops, dpagemap,
				npages << PAGE_SHIFT, NULL);
	alloc->released = false;
	err = drm_pagemap_migrate_to_devmem(&alloc->devmem, t->svm.mm, start,
					    end, &details);
	return err ? err : migrated;
}

/*
 * Device to device: every page in pagemap 1 migrates into pagemap 2, of the
 * same owner (an interconnect peer's memory), with its data and none
 * through system memory. The destination copies from the interconnect
 * addresses the source's provider gives it, or, with source_peer_migrates,
 * the source's copy_to_ram copies to those of the destination's provider.
 * Every address mapped is unmapped, and the source allocation, holding no
 * page any more, is released.
 */
static void gpusvm_pagemap_migrate_peer(struct kunit *test)
{
	const struct dev_pagemap *pm2 = &test_devmem2.pagemap;
	struct test_alloc *alloc1 = &test_devmem.alloc;
	struct test_alloc *alloc2 = &test_devmem2.alloc;
	struct svm_test *t = test->priv;
	struct test_provider before;
	struct drm_gpusvm_range *r;
	unsigned long a;
	int source;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);

	for (source = 0; source <= 1; source++) {
		test_migrate_into(test, t, alloc1, &test_devmem.dpagemap, a,
				  a + SZ_64K);
		/* Stale content would hide a missed copy. */
		memset(test_devmem2.backing, 0, TEST_DEVMEM_PAGES << PAGE_SHIFT);
		before = test_provider;
		KUNIT_ASSERT_EQ(test, test_migrate_peer(t, alloc2,
							&test_devmem2.dpagemap,
							TEST_DEVMEM_PAGES, a,
							a + SZ_64K, false,
							source),
				16L);
		KUNIT_EXPECT_EQ(test, test_provider.from_peer - before.from_peer,
				source ? 0UL : 16UL);
		KUNIT_EXPECT_EQ(test, test_provider.to_peer - before.to_peer,
				source ? 16UL : 0UL);
		KUNIT_EXPECT_EQ(test, test_provider.to_ram, before.to_ram);
		KUNIT_EXPECT_EQ(test,
				test_provider.device_maps - before.device_maps,
				16UL);
		KUNIT_EXPECT_EQ(test,
				test_provider.device_unmaps - before.device_unmaps,
				16UL);
		/* Each released by the device and address it was made for. */
		KUNIT_EXPECT_EQ(test, test_provider.bad_unmaps,
				before.bad_unmaps);
		KUNIT_EXPECT_EQ(test, test_maps_live(), 0U);
		KUNIT_EXPECT_EQ(test, test_scan(t, r, &test_devmem, pm2),
				DRM_GPUSVM_SCAN_EQUAL);
		KUNIT_EXPECT_EQ(test, atomic_read(&alloc2->devmem.refs), 17);
		KUNIT_EXPECT_EQ(test, atomic_read(&alloc1->devmem.refs), 1);
		drm_pagemap_devmem_put(&alloc1->devmem);
		KUNIT_EXPECT_TRUE(test, alloc1->released);
		test_evict(test, alloc2);
		test_check_user(test, a, 16);
	}
}

/*
 * A peer's page the destination cannot reach (device_map fails) stays where
 * it is while the system pages move. A copy failing part way (the peer's,
 * after the destination copied the system pages) moves nothing: every page
 * stays where it was, with its data, and no destination page is in use.
 */
static void gpusvm_pagemap_migrate_peer_failure(struct kunit *test)
{
	const struct dev_pagemap *pm1 = &test_devmem.pagemap;
	struct test_alloc *alloc1 = &test_devmem.alloc;
	struct test_alloc *alloc2 = &test_devmem2.alloc;
	struct svm_test *t = test->priv;
	struct test_provider before;
	struct drm_gpusvm_range *r;
	unsigned long a, i;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	r = test_range(test, t, a, SZ_64K);
	/* Pages 0-7 in system memory, 8-15 in pagemap 1. */
	test_migrate_into(test, t, alloc1, &test_devmem.dpagemap, a + SZ_32K,
			  a + SZ_64K);

	/* Pagemap 1's pages cannot be mapped for pagemap 2's device. */
	test_provider.fail_map_dev = test_pagemap_dev(&test_devmem2.dpagemap);
	KUNIT_EXPECT_EQ(test, test_migrate_peer(t, alloc2, &test_devmem2.dpagemap,
						TEST_DEVMEM_PAGES, a, a + SZ_64K,
						false, false),
			8L);
	test_provider.fail_map_dev = NULL;
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc1->devmem.refs), 9);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc2->devmem.refs), 9);
	test_evict(test, alloc2);

	test_provider.fail_copy_to_ram = true;
	before = test_provider;
	KUNIT_EXPECT_EQ(test, test_migrate_peer(t, alloc2, &test_devmem2.dpagemap,
						TEST_DEVMEM_PAGES, a, a + SZ_64K,
						false, true),
			(long)-EIO);
	test_provider.fail_copy_to_ram = false;
	KUNIT_EXPECT_EQ(test, test_provider.device_maps - before.device_maps, 8UL);
	KUNIT_EXPECT_EQ(test, test_provider.device_unmaps - before.device_unmaps,
			8UL);
	KUNIT_EXPECT_EQ(test, test_provider.bad_unmaps, before.bad_unmaps);
	KUNIT_EXPECT_EQ(test, test_maps_live(), 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc1->devmem.refs), 9);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc2->devmem.refs), 1);
	for (i = 0; i < TEST_DEVMEM_PAGES; i++)
		KUNIT_EXPECT_EQ(test, page_count(pfn_to_page(test_devmem2.base_pfn + i)), 0);
	KUNIT_EXPECT_EQ(test, test_scan(t, r, &test_devmem, pm1),
			DRM_GPUSVM_SCAN_MIXED);
	drm_pagemap_devmem_put(&alloc2->devmem);
	KUNIT_EXPECT_TRUE(test, alloc2->released);
	test_evict(test, alloc1);
	test_check_user(test, a, 16);
}

/*
 * Pages already in the destination's pagemap: without
 * can_migrate_same_pagemap they stay in their allocation and none counts
 * (-EBUSY); with it they move into the new allocation, copied by the
 * destination, and the old allocation is released.
 */
static void gpusvm_pagemap_migrate_same(struct kunit *test)
{
	struct test_alloc *old = &test_devmem.alloc, *new = &test_devmem.alloc2;
	struct svm_test *t = test->priv;
	struct test_provider before;
	unsigned long a, i;

	a = test_mmap(test, SZ_32K, SZ_32K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 8);
	test_migrate_into(test, t, old, &test_devmem.dpagemap, a, a + SZ_32K);
	new->first = TEST_DEVMEM_PAGES / 2;

	KUNIT_EXPECT_EQ(test, test_migrate_peer(t, new, &test_devmem.dpagemap,
						TEST_DEVMEM_PAGES / 2, a,
						a + SZ_32K, false, false),
			(long)-EBUSY);
	KUNIT_EXPECT_EQ(test, atomic_read(&old->devmem.refs), 9);
	KUNIT_EXPECT_EQ(test, atomic_read(&new->devmem.refs), 1);
	drm_pagemap_devmem_put(&new->devmem);
	KUNIT_EXPECT_TRUE(test, new->released);

	before = test_provider;
	KUNIT_EXPECT_EQ(test, test_migrate_peer(t, new, &test_devmem.dpagemap,
						TEST_DEVMEM_PAGES / 2, a,
						a + SZ_32K, true, false),
			8L);
	KUNIT_EXPECT_EQ(test, test_provider.from_peer - before.from_peer, 8UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&new->devmem.refs), 9);
	KUNIT_EXPECT_EQ(test, atomic_read(&old->devmem.refs), 1);
	drm_pagemap_devmem_put(&old->devmem);
	KUNIT_EXPECT_TRUE(test, old->released);
	for (i = 0; i < TEST_DEVMEM_PAGES / 2; i++)
		KUNIT_EXPECT_EQ(test, page_count(pfn_to_page(test_devmem.base_pfn + i)), 0);
	test_evict(test, new);
	test_check_user(test, a, 8);
}

/*
 * An allocation's pre-migrate fence: both copy directions get it, the
 * allocation holds a reference until its release, and the release completes
 * &drm_pagemap_devmem.detached and drops its provider reference (from the
 * page-free path: atomic).
 */
static void gpusvm_pagemap_devmem_lifetime(struct kunit *test)
{
	struct dma_fence *fence = dma_fence_allocate_private_stub(ktime_get());
	struct svm_test *t = test->priv;
	struct test_alloc *alloc = &test_devmem.alloc;
	unsigned int pagemap_refs = kref_read(&test_devmem.dpagemap.ref);
	unsigned int fence_refs;
	unsigned long a;

	KUNIT_ASSERT_NOT_NULL(test, fence);
	fence_refs = kref_read(&fence->refcount);
	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	test_alloc_init(t, fence);
	KUNIT_EXPECT_EQ(test, kref_read(&fence->refcount), fence_refs + 1);
	KUNIT_EXPECT_EQ(test, kref_read(&test_devmem.dpagemap.ref),
			pagemap_refs + 1);
	KUNIT_EXPECT_FALSE(test, completion_done(&alloc->devmem.detached));

	test_provider.copy_fence = NULL;
	KUNIT_ASSERT_EQ(test, test_migrate(t, a, a + SZ_64K, 0), 16L);
	KUNIT_EXPECT_PTR_EQ(test, test_provider.copy_fence, fence);
	drm_pagemap_devmem_put(&alloc->devmem);	/* the pages hold it now */
	KUNIT_EXPECT_FALSE(test, alloc->released);

	test_provider.copy_fence = NULL;
	test_provider.destroyed = 0;
	/* The release's provider put: a reference of our own shows its kind. */
	drm_pagemap_put(&test_devmem.dpagemap);
	test_check_user(test, a, 16);	/* brings all 16 pages back */
	KUNIT_EXPECT_EQ(test, test_provider.destroyed, 1U);
	KUNIT_EXPECT_TRUE(test, test_provider.destroyed_atomic);
	drm_pagemap_reinit(&test_devmem.dpagemap);
	KUNIT_EXPECT_PTR_EQ(test, test_provider.copy_fence, fence);
	KUNIT_EXPECT_TRUE(test, alloc->released);
	KUNIT_EXPECT_TRUE(test, completion_done(&alloc->devmem.detached));
	KUNIT_EXPECT_EQ(test, kref_read(&fence->refcount), fence_refs);
	KUNIT_EXPECT_EQ(test, kref_read(&test_devmem.dpagemap.ref), pagemap_refs);
	dma_fence_put(fence);
}

/* The mm's users before drm_pagemap_populate_mm() in the case. */
static int test_populate_users;

static int test_populate_mm(struct drm_pagemap *dpagemap, unsigned long start,
			    unsigned long end, struct mm_struct *mm,
			    unsigned long timeslice_ms)
{
	struct kunit *test = current->kunit_test;

	KUNIT_EXPECT_PTR_EQ(test, dpagemap, &test_devmem.dpagemap);
	KUNIT_EXPECT_EQ(test, atomic_read(&mm->mm_users),
			test_populate_users + 1);
	return test_migrate(test->priv, start, end, timeslice_ms) == 16 ? 0 :
									  -EIO;
}

/*
 * drm_pagemap_populate_mm() checks its interval and needs the op, which it
 * calls with the mm's users held.
 */
static void gpusvm_pagemap_populate_mm(struct kunit *test)
{
	static const struct drm_pagemap_ops no_populate_ops = {
		.device_map = test_device_map,
		.destroy = test_dpagemap_destroy,
	};
	static const struct drm_pagemap_ops populate_ops = {
		.device_map = test_device_map,
		.populate_mm = test_populate_mm,
		.destroy = test_dpagemap_destroy,
	};
	struct svm_test *t = test->priv;
	struct test_alloc *alloc = &test_devmem.alloc;
	unsigned long a;

	a = test_mmap(test, SZ_64K, SZ_64K, PROT_READ | PROT_WRITE, NULL);
	test_fill_user(test, a, 16);
	test_alloc_init(t, NULL);

	KUNIT_EXPECT_EQ(test, drm_pagemap_populate_mm(&test_devmem.dpagemap, a,
						      a + SZ_64K, t->svm.mm, 0),
			-EOPNOTSUPP);
	test_devmem.dpagemap.ops = &populate_ops;
	KUNIT_EXPECT_EQ(test, drm_pagemap_populate_mm(&test_devmem.dpagemap,
						      a + SZ_64K, a, t->svm.mm,
						      0), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_pagemap_populate_mm(&test_devmem.dpagemap,
						      a + 1, a + SZ_64K,
						      t->svm.mm, 0), -EINVAL);
	test_populate_users = atomic_read(&t->svm.mm->mm_users);
	KUNIT_EXPECT_EQ(test, drm_pagemap_populate_mm(&test_devmem.dpagemap, a,
						      a + SZ_64K, t->svm.mm, 0),
			0);
	test_devmem.dpagemap.ops = &no_populate_ops;
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 17);
	test_check_user(test, a, 16);
	KUNIT_EXPECT_EQ(test, atomic_read(&alloc->devmem.refs), 1);
	drm_pagemap_devmem_put(&alloc->devmem);
	KUNIT_EXPECT_TRUE(test, alloc->released);
	test_devmem.dpagemap.ops = &test_dpagemap_ops;
}
#endif

static unsigned int test_created_destroyed;

static struct drm_pagemap_addr
test_no_device_map(struct drm_pagemap *dpagemap, struct device *dev,
		   struct page *page, unsigned int order,
		   enum dma_data_direction dir)
{
	return drm_pagemap_addr_encode(DMA_MAPPING_ERROR,
				       DRM_INTERCONNECT_DRIVER, order, dir);
}

static void test_created_destroy(struct drm_pagemap *dpagemap,
				 bool is_atomic_or_reclaim)
{
	test_created_destroyed++;
	KUNIT_EXPECT_FALSE(current->kunit_test, is_atomic_or_reclaim);
}

/*
 * Provider lifetime: drm_pagemap_init() needs device_map and destroy; the
 * last put destroys; get_unless_zero fails afterwards until reinit; a
 * provider of drm_pagemap_create() without destroy is freed (kmemleak
 * checks), with destroy the op runs instead.
 */
static void gpusvm_pagemap_refcount(struct kunit *test)
{
	static const struct drm_pagemap_ops no_map_ops = {
		.destroy = test_created_destroy,
	};
	static const struct drm_pagemap_ops full_ops = {
		.device_map = test_no_device_map,
		.destroy = test_created_destroy,
	};
	static const struct drm_pagemap_ops create_ops = {
		.device_map = test_no_device_map,
	};
	struct drm_pagemap local = {}, *dp;

	KUNIT_EXPECT_EQ(test, drm_pagemap_init(&local, NULL, test_drm[0], NULL),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, drm_pagemap_init(&local, NULL, test_drm[0],
					       &no_map_ops), -EINVAL);
	KUNIT_EXPECT_EQ(test, drm_pagemap_init(&local, NULL, test_drm[0],
					       &create_ops), -EINVAL);
	KUNIT_EXPECT_TRUE(test, IS_ERR(drm_pagemap_create(test_drm[0], NULL,
							  &no_map_ops)));

	test_created_destroyed = 0;
	KUNIT_ASSERT_EQ(test, drm_pagemap_init(&local, NULL, test_drm[0],
					       &full_ops), 0);
	KUNIT_EXPECT_PTR_EQ(test, local.drm, test_drm[0]);
	KUNIT_EXPECT_PTR_EQ(test, drm_pagemap_get(&local), &local);
	KUNIT_EXPECT_PTR_EQ(test, drm_pagemap_get_unless_zero(&local), &local);
	drm_pagemap_put(&local);
	drm_pagemap_put(&local);
	KUNIT_EXPECT_EQ(test, test_created_destroyed, 0U);
	drm_pagemap_put(&local);
	KUNIT_EXPECT_EQ(test, test_created_destroyed, 1U);
	KUNIT_EXPECT_NULL(test, drm_pagemap_get_unless_zero(&local));
	KUNIT_EXPECT_EQ(test, drm_pagemap_reinit(&local), 0);
	KUNIT_EXPECT_PTR_EQ(test, drm_pagemap_get_unless_zero(&local), &local);
	drm_pagemap_put(&local);
	drm_pagemap_put(&local);
	KUNIT_EXPECT_EQ(test, test_created_destroyed, 2U);
	KUNIT_EXPECT_NULL(test, drm_pagemap_get(NULL));
	drm_pagemap_put(NULL);

	dp = drm_pagemap_create(test_drm[1], NULL, &create_ops);
	KUNIT_ASSERT_FALSE(test, IS_ERR(dp));
	KUNIT_EXPECT_PTR_EQ(test, dp->drm, test_drm[1]);
	KUNIT_EXPECT_EQ(test, kref_read(&dp->ref), 1U);
	drm_pagemap_put(dp);	/* kfree: kmemleak would see a leak */

	dp = drm_pagemap_create(test_drm[1], NULL, &full_ops);
	KUNIT_ASSERT_FALSE(test, IS_ERR(dp));
	drm_pagemap_put(dp);
	KUNIT_EXPECT_EQ(test, test_created_destroyed, 3U);
	kfree(dp);	/* the op kept it */
}

static const struct drm_driver test_drm_driver = {
	.name = "gpusvm_kunit",
	.desc = "drm_gpusvm KUnit device",
	.date = "20261124",
};

static const struct vm_operations_struct test_file_vm_ops = {};

/*
 * Which VMAs drm_gpusvm and drm_pagemap_migrate_to_devmem() treat as
 * migratable: one predicate for both (the drm_pagemap side used to let a
 * writable private hugetlbfs mapping through to a write fault).
 */
static void gpusvm_vma_migratable(struct kunit *test)
{
	static const struct {
		const char *what;
		unsigned long flags;
		bool file;
		bool migratable;
	} cases[] = {
		{ "anonymous", VM_READ | VM_WRITE | VM_MAYWRITE, false, true },
		{ "anonymous read-only", VM_READ, false, true },
		{ "private file, writable", VM_READ | VM_WRITE | VM_MAYWRITE,
		  true, true },
		{ "private file, read-only", VM_READ, true, false },
		{ "shared file", VM_READ | VM_WRITE | VM_SHARED | VM_MAYSHARE,
		  true, false },
		{ "shared file, read-only", VM_READ | VM_MAYSHARE, true, false },
		{ "private hugetlbfs, writable",
		  VM_READ | VM_WRITE | VM_MAYWRITE | VM_HUGETLB, true, false },
		{ "shared hugetlbfs", VM_READ | VM_WRITE | VM_SHARED |
		  VM_MAYSHARE | VM_HUGETLB, true, false },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vm_area_struct vma = { .vm_flags = cases[i].flags };

		if (cases[i].file)
			vma.vm_ops = &test_file_vm_ops;
		KUNIT_EXPECT_EQ_MSG(test, drm_pagemap_vma_migratable(&vma),
				    cases[i].migratable, "%s", cases[i].what);
	}
}

static void test_suite_exit(struct kunit_suite *suite)
{
	int i;

	for (i = 0; i < TEST_NDEV; i++) {
		if (!IS_ERR_OR_NULL(test_drm[i]))
			drm_dev_put(test_drm[i]);
		test_drm[i] = NULL;
		if (!IS_ERR_OR_NULL(test_pdev[i]))
			platform_device_unregister(test_pdev[i]);
		test_pdev[i] = NULL;
	}
#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
	test_pagemap_fini(&test_devmem2);
	test_pagemap_fini(&test_devmem);
#endif
	if (test_mm)
		mmput(test_mm);
	test_mm = NULL;
}

static int test_suite_init(struct kunit_suite *suite)
{
	int i, err;

	/* The module loader's process lends its address space. */
	if (!current->mm)
		return -ENODEV;
	mmget(current->mm);
	test_mm = current->mm;

	/*
	 * Suites of a module run while it is still COMING, before a driver of
	 * it could be registered: the devices stay unbound, DMA-capable
	 * platform devices each wrapped in a DRM device.
	 */
	for (i = 0; i < TEST_NDEV; i++) {
		struct platform_device_info info = {
			.name = "drm_gpusvm_kunit",
			.id = i,
			.dma_mask = DMA_BIT_MASK(64),
		};

		test_pdev[i] = platform_device_register_full(&info);
		if (IS_ERR(test_pdev[i])) {
			err = PTR_ERR(test_pdev[i]);
			goto err_devices;
		}
		test_drm[i] = drm_dev_alloc(&test_drm_driver, &test_pdev[i]->dev);
		if (IS_ERR(test_drm[i])) {
			err = PTR_ERR(test_drm[i]);
			goto err_devices;
		}
	}
#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
	err = test_pagemap_init(&test_devmem, 0);
	if (err)
		goto err_devices;
	err = test_pagemap_init(&test_devmem2, 1);
	if (err)
		goto err_devices;
#endif
	return 0;

err_devices:
	test_suite_exit(suite);
	return err;
}

static struct kunit_case drm_gpusvm_cases[] = {
	KUNIT_CASE(gpusvm_chunk_vma_edges),
	KUNIT_CASE(gpusvm_chunk_gpuva_bounds),
	KUNIT_CASE(gpusvm_chunk_neighbour),
	KUNIT_CASE(gpusvm_notifier_insert_remove),
	/* Named by hand: checkpatch takes a *for_each*() function for a loop. */
	{ .run_case = gpusvm_notifier_walk, .name = "gpusvm_for_each_notifier" },
	KUNIT_CASE(gpusvm_get_pages_anon),
	KUNIT_CASE(gpusvm_get_pages_thp),
	KUNIT_CASE(gpusvm_get_pages_file),
	KUNIT_CASE(gpusvm_get_pages_retry),
	KUNIT_CASE(gpusvm_munmap_gc),
	KUNIT_CASE(gpusvm_partial_munmap),
	KUNIT_CASE(gpusvm_n_to_1),
	KUNIT_CASE(gpusvm_read_only_upgrade),
	KUNIT_CASE(gpusvm_dma_mapping_shared),
	KUNIT_CASE(gpusvm_dma_mapping_shared_maps_nothing),
	KUNIT_CASE(gpusvm_dma_read_only_own),
	KUNIT_CASE(gpusvm_pages_without_range),
	KUNIT_CASE(gpusvm_fini_live),
	KUNIT_CASE(gpusvm_free),
	KUNIT_CASE(gpusvm_find_vma_start),
	KUNIT_CASE(gpusvm_bad_input),
	KUNIT_CASE(gpusvm_vma_migratable),
	KUNIT_CASE(gpusvm_pagemap_refcount),
#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
	KUNIT_CASE(gpusvm_device_memory),
	KUNIT_CASE(gpusvm_migrate_map_failure),
	KUNIT_CASE(gpusvm_cpu_fault_other_page_fails),
	KUNIT_CASE(gpusvm_multi_error_keeps_valid),
	KUNIT_CASE(gpusvm_scan_mm),
	KUNIT_CASE(gpusvm_pagemap_migrate_peer),
	KUNIT_CASE(gpusvm_pagemap_migrate_peer_failure),
	KUNIT_CASE(gpusvm_pagemap_migrate_same),
	KUNIT_CASE(gpusvm_pagemap_timeslice),
	KUNIT_CASE(gpusvm_pagemap_devmem_lifetime),
	KUNIT_CASE(gpusvm_pagemap_populate_mm),
#endif
	{}
};

static struct kunit_suite drm_gpusvm_suite = {
	.name = "drm_gpusvm",
	.suite_init = test_suite_init,
	.suite_exit = test_suite_exit,
	.init = test_init,
	.exit = test_exit,
	.test_cases = drm_gpusvm_cases,
};

kunit_test_suite(drm_gpusvm_suite);

MODULE_DESCRIPTION("KUnit tests of drm_gpusvm");
MODULE_LICENSE("Dual MIT/GPL");
