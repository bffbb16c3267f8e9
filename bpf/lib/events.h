/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Events from XDP to the daemon (see shared.h, "events"): a RINGBUF, capped
 * per CPU and per second so no flood can swamp it.
 */
#ifndef XDPGW_EVENTS_H
#define XDPGW_EVENTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdpgw/shared.h"
#include "features.h"

/* The event stream. RINGBUF: one ordered buffer shared by all CPUs, read by
 * the daemon with epoll; reserve/submit costs no copy. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XDPGW_EVENTS_RING_BYTES);
} events __weak SEC(".maps");

/* Emitted / suppressed / ring-full counts (enum xdpgw_event_stat). Per-CPU:
 * written on every event attempt. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_EVSTAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} event_stats __weak SEC(".maps");

struct xdpgw_event_window {
	__u64 start_ns;
	__u64 count;
};

/* The current one-second window of each CPU. Per-CPU: no atomics, and the
 * cap holds per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_event_window);
} event_window __weak SEC(".maps");

static __always_inline void event_stat(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&event_stats, &which);

	if (c)
		(*c)++;
}

/* Emits one event unless this CPU already emitted XDPGW_EVENTS_PER_SEC in
 * the current second. `key` may be NULL. */
static __always_inline void emit_event(struct xdp_md *ctx, __u32 type, __u32 reason,
				       const struct xdpgw_flow_key *key)
{
	__u32 zero = 0;
	struct xdpgw_event_window *w = bpf_map_lookup_elem(&event_window, &zero);
	struct xdpgw_event *ev;
	__u64 now = bpf_ktime_get_ns();

	if (!have_feature(XDPGW_FEAT_EVENTS) || !w)
		return;
	if (now - w->start_ns >= 1000000000ull) {
		w->start_ns = now;
		w->count = 0;
	}
	if (w->count >= XDPGW_EVENTS_PER_SEC) {
		event_stat(XDPGW_EVSTAT_SUPPRESSED);
		return;
	}
	w->count++;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		event_stat(XDPGW_EVSTAT_RING_FULL);
		return;
	}
	ev->ts_ns = now;
	ev->type = type;
	ev->reason = reason;
	ev->ifindex = ctx->ingress_ifindex;
	ev->len = (__u32)((__u64)ctx->data_end - (__u64)ctx->data);
	if (key)
		__builtin_memcpy(&ev->key, key, sizeof(ev->key));
	else
		__builtin_memset(&ev->key, 0, sizeof(ev->key));
	bpf_ringbuf_submit(ev, 0);
	event_stat(XDPGW_EVSTAT_EMITTED);
}

#endif /* XDPGW_EVENTS_H */
