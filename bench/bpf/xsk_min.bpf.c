// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP half of the AF_XDP ceiling: every frame into the AF_XDP socket of
 * its rx queue, nothing else (no parsing, no rule). The benchmark's minimal
 * userspace loop (runner/xsk_forwarder.cpp) does the rest: MAC rewrite and
 * transmit out of the egress port.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bench_shared.h"

/* rx queue -> AF_XDP socket. Written by the benchmark (one socket on queue
 * 0: a veth has one queue), read here. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XBN_XSK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* Frames handed to bpf_redirect_map, per CPU: what XDP punted, against which
 * the userspace loop's own count shows frames the socket's rings dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xbn_counter);
} punt_stats SEC(".maps");

SEC("xdp")
int xbn_xsk_min(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct xbn_counter *c = bpf_map_lookup_elem(&punt_stats, &key);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	/* No socket on this queue: drop, as xdpgw's punt rules with
	 * fallback = "drop" do. */
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
