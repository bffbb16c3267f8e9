// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP ceiling of dropping on a gateway: count the frame, XDP_DROP it.
 * No parsing, no lookup: whatever an ACL or a rate limiter costs on top of
 * this is its own work. The count is what the benchmark reports as frames
 * this path dropped (the sink behind it sees none).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bench_shared.h"

/* Frames and bytes dropped, per CPU (no atomics on the hot path). Written
 * here, summed over CPUs by the benchmark. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xbn_counter);
} drop_stats SEC(".maps");

SEC("xdp")
int xbn_drop_min(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct xbn_counter *c = bpf_map_lookup_elem(&drop_stats, &key);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
