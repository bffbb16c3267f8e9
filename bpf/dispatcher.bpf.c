// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP entry point. Parses L2/L3 once, leaves what it learned in front of the
 * packet (bpf_xdp_adjust_meta), and tail-calls the handler for the L4
 * protocol. Metadata rather than a per-CPU scratch map: it travels with the
 * frame, so it survives not only the tail call but also the CPUMAP hop to the
 * second stage and reaches AF_XDP sockets, and it costs no map lookup.
 */
#include "parse.h"
#include "verdict.h"

SEC("xdp")
int xdpgw_dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct xdpgw_settings *cfg;
	struct xdpgw_pkt_meta meta = {};
	struct xdpgw_pkt_meta *out;
	__be16 proto;
	__u32 slot;
	int reason;

	reason = parse_l2(data, data_end, &meta, &proto);
	if (reason)
		return drop(ctx, reason);

	if (proto == bpf_htons(ETH_P_IP))
		reason = parse_ipv4(data, data_end, &meta);
	else if (proto == bpf_htons(ETH_P_IPV6))
		reason = parse_ipv6(data, data_end, &meta);
	else
		return pass(ctx, XDPGW_R_PASS_NOT_IP);
	if (reason)
		return drop(ctx, reason);

	meta.slot = choose_slot(&meta);
	meta.gen = current_gen();
	slot = meta.slot;

	/* Replace whatever metadata the frame already carries (a buffer the
	 * driver reuses, or an upstream program's) with ours: adding to it
	 * would overflow the 32-byte limit. */
	{
		long existing = (long)ctx->data - (long)ctx->data_meta;

		if (existing < 0 || existing > 32)
			existing = 0;
		if (bpf_xdp_adjust_meta(ctx, (int)existing - (int)sizeof(meta)))
			return pass(ctx, XDPGW_R_PASS_META_UNSUPPORTED);
	}
	data = (void *)(long)ctx->data;
	out = (void *)(long)ctx->data_meta;
	if ((void *)(out + 1) > data)
		return pass(ctx, XDPGW_R_PASS_META_UNSUPPORTED);
	*out = meta;

	bpf_tail_call(ctx, &handlers, slot);

	/* Only reached when the slot is empty: a load or upgrade bug we want
	 * counted, with the action the operator chose. */
	cfg = get_settings(meta.gen);
	if (cfg && cfg->missed_tail_call_action == XDP_PASS)
		return pass(ctx, XDPGW_R_MISSED_TAIL_CALL);
	return drop(ctx, XDPGW_R_MISSED_TAIL_CALL);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
