/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What happens to a validated packet after its handler: optionally move to
 * another CPU (CPUMAP), then, on whichever CPU does the work, the load
 * balancer for its traffic and the router for the rest. The same local stage
 * runs in the handlers and in the CPUMAP second stage, so steering moves the
 * load-balancing work too.
 */
#ifndef XDPGW_PIPELINE_H
#define XDPGW_PIPELINE_H

#include "lb.h"

/* The start of every handler: the packet's parse result, handed over by the
 * dispatcher or, when there is none for this packet, parsed again. Returns -1
 * with `meta` filled when the handler goes on, else the verdict (counted).
 * A packet that is not this handler's (a handler run on its own) is handed
 * to the right one. */
static __always_inline int begin_handler(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					 __u32 slot)
{
	int reason;

	if (take_over(ctx, meta) == 0 && meta->slot == slot)
		goto mine;
	reason = xdpgw_parse(ctx, meta);
	if (reason == XDPGW_R_PASS_NOT_IP)
		return pass(ctx, reason);
	if (reason)
		return drop(ctx, reason);
	if (meta->slot != slot) {
		hand_over(ctx, meta);
		bpf_tail_call(ctx, &handlers, meta->slot);
		return drop(ctx, XDPGW_R_MISSED_TAIL_CALL);
	}
mine:
	count_handler(ctx, slot);
	return -1;
}

static __always_inline int lb_or_forward(struct xdp_md *ctx,
					 struct xdpgw_pkt_meta *meta,
					 const struct flow_ports *fp,
					 struct xdpgw_fwd_request *fwd)
{
	if (meta->slot == XDPGW_SLOT_TCP || meta->slot == XDPGW_SLOT_UDP) {
		int verdict = lb_process(ctx, meta, fp, fwd);

		/* -1: not the load balancer's; a verdict or a forward request
		 * otherwise. */
		if (verdict != -1)
			return verdict;
	} else if (meta->slot == XDPGW_SLOT_ICMP || meta->slot == XDPGW_SLOT_ICMPV6) {
		int verdict = lb_icmp_error(ctx, meta, fwd);

		if (verdict != -1)
			return verdict;
	}
	return request_forward(fwd, fp, XDPGW_R_FWD_REDIRECT);
}

static __always_inline int local_stage(struct xdp_md *ctx,
				       struct xdpgw_pkt_meta *meta,
				       const struct flow_ports *fp)
{
	struct xdpgw_fwd_request fwd = {};
	int verdict;

	/* No VIP in this generation: straight to the router. */
	if (meta->skip & XDPGW_SKIP_LB)
		return xdpgw_forward(ctx, meta, fp->sport, fp->dport, XDPGW_R_FWD_REDIRECT);
	verdict = xdpgw_local_stage(ctx, meta, fp->sport, fp->dport, &fwd);
	if (verdict != XDPGW_STAGE_FORWARD)
		return verdict;
	return xdpgw_forward(ctx, meta, fwd.sport, fwd.dport, fwd.reason);
}

static __always_inline int steer_or_forward(struct xdp_md *ctx,
					    struct xdpgw_pkt_meta *meta,
					    const struct flow_ports *fp)
{
	int verdict = steer(ctx, meta, fp);

	if (verdict >= 0)
		return verdict;
	return local_stage(ctx, meta, fp);
}

#endif /* XDPGW_PIPELINE_H */
