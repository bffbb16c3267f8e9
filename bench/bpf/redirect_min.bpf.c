// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP ceiling of a forwarding path: rewrite the two MAC addresses and
 * redirect through a DEVMAP, nothing else (no parsing, no lookup, no TTL).
 * Whatever a real forwarder costs on top of this is its own work.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bench_shared.h"

/* The egress port, entry 0. Written by the benchmark, read here. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

/* Written by user space before load (.bss, not rodata: see gen.bpf.c). */
struct xbn_redirect_macs egress_macs __attribute__((aligned(8)));

SEC("xdp")
int xbn_redirect_min(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + sizeof(egress_macs) > data_end)
		return XDP_DROP;
	/* 12 bytes as 8 + 4: both ends are at least 4-byte aligned. */
	*(__u64 *)data = *(const __u64 *)&egress_macs;
	*(__u32 *)(data + 8) = *(const __u32 *)((const __u8 *)&egress_macs + 8);
	return bpf_redirect_map(&tx_port, 0, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
