/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Capture of dropped packets (see shared.h, "packet capture") through a
 * perf event buffer, as xdpdump does. xdpdump attaches fentry/fexit programs
 * around an XDP program and calls bpf_xdp_output() there; inside an XDP
 * program the same operation is bpf_perf_event_output() on the XDP context
 * (the kernel's bpf_xdp_event_output): the upper 32 bits of the flags ask
 * it to append that many bytes of the packet. From inside we also know
 * *why* the frame was dropped, which fexit cannot see.
 * PERF_EVENT_ARRAY rather than the events RINGBUF: the helper appends the
 * packet's bytes itself (no bounded copy loop in BPF, any length up to the
 * snaplen), and a busy capture cannot crowd the events out of their ring.
 */
#ifndef XDPGW_CAPTURE_H
#define XDPGW_CAPTURE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdpgw/shared.h"
#include "features.h"

/* One perf ring per CPU (libbpf sizes max_entries 0 to the CPU count). */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} capture_events __weak SEC(".maps");

/* Whether a capture runs, and its snaplen. ARRAY of one: written by the
 * daemon, read on every drop. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_capture_cfg);
} capture_cfg __weak SEC(".maps");

/* enum xdpgw_capture_stat. Per-CPU: written on every captured drop. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_CAPSTAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} capture_stats __weak SEC(".maps");

static __always_inline void capture_drop(struct xdp_md *ctx, __u32 reason)
{
	__u32 zero = 0, stat;
	const struct xdpgw_capture_cfg *cfg = bpf_map_lookup_elem(&capture_cfg, &zero);
	struct xdpgw_capture_hdr hdr;
	__u64 len, snap, *count;

	if (!have_feature(XDPGW_FEAT_CAPTURE) || !cfg || !(cfg->flags & XDPGW_CAPTURE_DROPS))
		return;
	len = (__u64)ctx->data_end - (__u64)ctx->data;
	snap = cfg->snaplen < len ? cfg->snaplen : len;
	hdr.ts_ns = bpf_ktime_get_ns();
	hdr.reason = reason;
	hdr.ifindex = ctx->ingress_ifindex;
	hdr.rx_queue = ctx->rx_queue_index;
	hdr.frame_len = (__u32)len;
	/* The upper 32 bits of the flags: how many packet bytes to append. */
	stat = bpf_perf_event_output(ctx, &capture_events, BPF_F_CURRENT_CPU | (snap << 32),
				     &hdr, sizeof(hdr)) == 0
		       ? XDPGW_CAPSTAT_SENT
		       : XDPGW_CAPSTAT_FAILED;
	count = bpf_map_lookup_elem(&capture_stats, &stat);
	if (count)
		(*count)++;
}

#endif /* XDPGW_CAPTURE_H */
