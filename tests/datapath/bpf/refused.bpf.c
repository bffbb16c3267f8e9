// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An XDP program that every kernel's verifier refuses: it reads the packet
 * without checking data_end first. The log-capture test loads it to get a
 * real refusal that no kernel upgrade will make go away (unlike a helper
 * refusal such as bpf_xdp_adjust_meta on 6.18.44).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xgt_unchecked_read(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;

	return data[0] == 0xff ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
