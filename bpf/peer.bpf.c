// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Program for the far end of a veth that xdpgw redirects into. A veth only
 * delivers XDP-redirected frames when its peer runs an XDP program; this one
 * counts what arrives (per CPU, no atomics) and passes it to the stack, or
 * drops it when used as a benchmark sink.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdpgw/shared.h"

const volatile __u32 peer_action = XDP_PASS; /* XDP_PASS or XDP_DROP */

/* Frames seen, per CPU. Written here, read by tests and benchmarks. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_counter);
} peer_stats SEC(".maps");

SEC("xdp")
int xdpgw_peer(struct xdp_md *ctx)
{
	__u32 key = XDPGW_PEER_COUNTER_ALL;
	struct xdpgw_counter *c = bpf_map_lookup_elem(&peer_stats, &key);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return peer_action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
