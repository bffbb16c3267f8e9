// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Definitions of the global stage functions declared (and explained) in
 * stages.h. The caller always passes its stack copy of the parse result; the
 * NULL checks are for the verifier, which must assume any pointer argument
 * of a global function may be NULL.
 */
#include "lb.h"
#include "lb_icmp.h"
#include "punt.h"
#include "policy.h"
#include "capture.h"
#include "flow_export.h"
#include "features.h"
#include "snat.h"

const volatile __u32 xdpgw_features = XDPGW_FEAT_ALL;

__noinline int xdpgw_parse(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta, __u32 steered_gen)
{
	int fresh = steered_gen >= XDPGW_CONFIG_GENERATIONS;
	int reason;

	if (!meta)
		return XDPGW_R_DROP_META_MISSING;
	reason = parse_packet(ctx, meta, fresh);
	meta->gen = fresh ? current_gen() : steered_gen;
	settings_into(meta);
	return reason;
}

__noinline int xdpgw_policy_check(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				  __u32 sport, __u32 dport, __u32 has_ports)
{
	if (!meta)
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	return policy_decide(ctx, meta, (__u16)sport, (__u16)dport, has_ports != 0);
}

__noinline int xdpgw_punt_check(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				__u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd)
{
	struct flow_ports fp = { .sport = (__u16)sport, .dport = (__u16)dport };

	if (!meta || !fwd)
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	return punt_decide(ctx, meta, &fp, fwd);
}

__noinline int xdpgw_lb(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
			__u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd)
{
	struct flow_ports fp = { .sport = (__u16)sport, .dport = (__u16)dport };

	if (!meta || !fwd)
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	if (meta->slot == XDPGW_SLOT_TCP || meta->slot == XDPGW_SLOT_UDP)
		return lb_process(ctx, meta, &fp, fwd);
	if (meta->slot == XDPGW_SLOT_ICMP || meta->slot == XDPGW_SLOT_ICMPV6)
		return lb_icmp_error(ctx, meta, fwd);
	return XDPGW_GO_ON;
}

__noinline int xdpgw_capture_drop(struct xdp_md *ctx, __u32 reason)
{
	capture_drop(ctx, reason);
	return 0;
}

__noinline int xdpgw_flow_account(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				  __u32 egress_ifindex, __u32 fwd_reason)
{
	if (!meta)
		return 0;
	flow_account(ctx, meta, egress_ifindex, fwd_reason);
	return 0;
}

__noinline int xdpgw_snat_in(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
			     __u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd)
{
	if (!meta || !fwd)
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	return snat_in(ctx, meta, (__u16)sport, (__u16)dport, fwd);
}

__noinline int xdpgw_snat_out(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
			      __u32 egress, __u32 sport, __u32 dport)
{
	if (!meta)
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	return snat_out(ctx, meta, egress, (__u16)sport, (__u16)dport);
}
