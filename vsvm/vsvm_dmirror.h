/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * vsvm: the ABI of the kernel's HMM test driver (lib/test_hmm.c), spoken by
 * the dmirror personality (vsvm_dmirror.c) and the raw floor of make bench
 * (vsvm_floor.c).
 */
#ifndef VSVM_DMIRROR_H
#define VSVM_DMIRROR_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct vsvm_dmirror_cmd - the argument of every dmirror ioctl
 * @addr: start of the mirrored range (page aligned)
 * @ptr: the user buffer the data, or the snapshot, goes to or comes from
 * @npages: pages in the range
 * @cpages: out: pages completed
 * @faults: out: fault passes needed
 *
 * The ABI of &struct hmm_dmirror_cmd in the kernel's lib/test_hmm_uapi.h,
 * which is not a UAPI header: it is defined again here, identically.
 */
struct vsvm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

#define VSVM_DMIRROR_READ		_IOWR('H', 0x00, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_WRITE		_IOWR('H', 0x01, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct vsvm_dmirror_cmd)
#define VSVM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct vsvm_dmirror_cmd)

#endif /* VSVM_DMIRROR_H */
