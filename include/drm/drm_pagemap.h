/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Device-memory provider interface used by drm_gpusvm.
 *
 * This header holds what the mapping side of the framework needs from a
 * provider of device memory: the encoded address of one mapped chunk and the
 * provider ops that map a device page for a device. The migration side
 * (allocation objects, copy ops) builds on it.
 */
#ifndef _DRM_PAGEMAP_H_
#define _DRM_PAGEMAP_H_

#include <linux/dma-direction.h>
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
 */
struct drm_pagemap {
	const struct drm_pagemap_ops *ops;
	struct device *dev;
};

#endif
