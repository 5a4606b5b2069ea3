/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * vsvm tracepoints: GPU faults, binds, invalidations and garbage collection.
 * Enable with: echo 1 > /sys/kernel/tracing/events/vsvm/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vsvm

#if !defined(_VSVM_TRACE_H_) || defined(TRACE_HEADER_MULTI_READ)
#define _VSVM_TRACE_H_

#include <linux/tracepoint.h>

/*
 * vsvm_fault: a GPU fault serviced, at the end of vsvm_handle_fault(); ns is
 * its service time, from @start_ns (ktime_get_ns() as the service began,
 * before the driver lock) to the event.
 */
TRACE_EVENT(vsvm_fault,
	TP_PROTO(unsigned int dev, u32 vm, u64 addr, bool write, int ret,
		 u64 start_ns),
	TP_ARGS(dev, vm, addr, write, ret, start_ns),
	TP_STRUCT__entry(
		__field(unsigned int, dev)
		__field(u32, vm)
		__field(u64, addr)
		__field(bool, write)
		__field(int, ret)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->vm = vm;
		__entry->addr = addr;
		__entry->write = write;
		__entry->ret = ret;
		__entry->ns = ktime_get_ns() - start_ns;
	),
	TP_printk("dev=%u vm=%u addr=0x%llx %s ret=%d ns=%llu", __entry->dev,
		  __entry->vm, __entry->addr,
		  __entry->write ? "write" : "read", __entry->ret, __entry->ns)
);

TRACE_EVENT(vsvm_bind,
	TP_PROTO(unsigned int dev, u32 vm, u64 start, u64 end, bool write,
		 bool userptr),
	TP_ARGS(dev, vm, start, end, write, userptr),
	TP_STRUCT__entry(
		__field(unsigned int, dev)
		__field(u32, vm)
		__field(u64, start)
		__field(u64, end)
		__field(bool, write)
		__field(bool, userptr)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->vm = vm;
		__entry->start = start;
		__entry->end = end;
		__entry->write = write;
		__entry->userptr = userptr;
	),
	TP_printk("dev=%u vm=%u [0x%llx, 0x%llx) %s%s", __entry->dev,
		  __entry->vm, __entry->start, __entry->end,
		  __entry->write ? "rw" : "ro",
		  __entry->userptr ? " userptr" : "")
);

TRACE_EVENT(vsvm_invalidate,
	TP_PROTO(u64 svm, u64 start, u64 end, int event, u64 range_start,
		 u64 range_end),
	TP_ARGS(svm, start, end, event, range_start, range_end),
	TP_STRUCT__entry(
		__field(u64, svm)
		__field(u64, start)
		__field(u64, end)
		__field(int, event)
		__field(u64, range_start)
		__field(u64, range_end)
	),
	TP_fast_assign(
		__entry->svm = svm;
		__entry->start = start;
		__entry->end = end;
		__entry->event = event;
		__entry->range_start = range_start;
		__entry->range_end = range_end;
	),
	TP_printk("svm=%llu event=%d [0x%llx, 0x%llx) range [0x%llx, 0x%llx)",
		  __entry->svm, __entry->event, __entry->start, __entry->end,
		  __entry->range_start, __entry->range_end)
);

TRACE_EVENT(vsvm_gc,
	TP_PROTO(u64 svm, u64 start, u64 end, bool partial),
	TP_ARGS(svm, start, end, partial),
	TP_STRUCT__entry(
		__field(u64, svm)
		__field(u64, start)
		__field(u64, end)
		__field(bool, partial)
	),
	TP_fast_assign(
		__entry->svm = svm;
		__entry->start = start;
		__entry->end = end;
		__entry->partial = partial;
	),
	TP_printk("svm=%llu removed [0x%llx, 0x%llx)%s", __entry->svm,
		  __entry->start, __entry->end,
		  __entry->partial ? " (partially unmapped)" : "")
);

#endif /* _VSVM_TRACE_H_ */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vsvm_trace
#include <trace/define_trace.h>
