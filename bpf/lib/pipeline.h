/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The path of every packet a handler accepted, in one place, in order:
 *
 *   policy (ACL, rate limit)   → drop, or go on
 *   punt (AF_XDP pipeline)     → punted / its offloaded verdict, or go on
 *   steer (CPUMAP)             → handed to another CPU, which resumes at the
 *                                local part below (cpu_stage.bpf.c), or go on
 *   load balancer              → rewritten for a backend, or go on; SYN
 *                                cookies in their own stage (synproxy.bpf.c)
 *   source NAT, replies        → translated back to the inside host, or go on
 *   router                     → redirected, or passed to the kernel; an
 *                                outbound flow a [[snat]] rule matches on its
 *                                egress is translated there (router.h)
 *
 * Each stage follows stages.h's convention (XDPGW_GO_ON, XDPGW_FORWARD with
 * a request, or a counted verdict) and none calls another: forwarding is
 * always this file's decision. Stages a generation configures nothing for
 * are skipped (meta->skip).
 */
#ifndef XDPGW_PIPELINE_H
#define XDPGW_PIPELINE_H

#include "router.h"
#include "stages.h"

/* The start of every handler: the packet's parse result, handed over by the
 * dispatcher or, when there is none for this packet, parsed again. Returns
 * XDPGW_GO_ON with `meta` filled when the handler goes on, else the verdict
 * (counted). A packet that is not this handler's (a handler run on its own)
 * is handed to the right one. */
static __always_inline int begin_handler(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					 __u32 slot)
{
	int reason;

	if (take_over(ctx, meta) == 0 && meta->slot == slot)
		goto mine;
	reason = xdpgw_parse(ctx, meta, XDPGW_PARSE_RECEIVED);
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
	return XDPGW_GO_ON;
}

/* A forward request for the packet as it arrived: redirected as routed, its
 * own ports for the FIB's multipath hash. */
static __always_inline struct xdpgw_fwd_request routed_as_is(const struct flow_ports *fp)
{
	struct xdpgw_fwd_request fwd = {
		.reason = XDPGW_R_FWD_REDIRECT, .sport = fp->sport, .dport = fp->dport
	};
	return fwd;
}

/* Load balancer, then router: on the CPU that does the work. `fwd` starts as
 * routed_as_is() or what an earlier stage asked for. The router is inlined,
 * not a stage function: nearly every packet ends in it, and here a call and
 * its return cost more than the code they would share (each return goes
 * through the kernel's SRSO return thunk). `from_cpumap`: the CPU stage's
 * second half, which cannot reach the synproxy stage. */
static __always_inline int local_pipeline(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					  struct xdpgw_fwd_request *fwd, const int from_cpumap)
{
	struct flow_ports fp;
	int verdict;

	if (!(meta->skip & XDPGW_SKIP_LB)) {
		verdict = xdpgw_lb(ctx, meta, fwd->sport, fwd->dport, fwd);
		if (verdict == XDPGW_SYNPROXY) {
			/* A CPUMAP program may not tail-call the handlers'
			 * table (another attach type): the config refuses
			 * [steering] beside synproxy VIPs. */
			if (from_cpumap)
				return drop(ctx, XDPGW_R_MISSED_TAIL_CALL);
			hand_over(ctx, meta);
			tail_call_static(ctx, &handlers, XDPGW_STAGE_SLOT_SYNPROXY);
			withdraw_hand_over();
			return drop(ctx, XDPGW_R_MISSED_TAIL_CALL);
		}
		if (verdict != XDPGW_GO_ON && verdict != XDPGW_FORWARD)
			return verdict;
		/* A load-balanced packet is the load balancer's alone. */
		if (verdict == XDPGW_FORWARD)
			meta->skip |= XDPGW_SKIP_SNAT;
	}
	/* Replies to translated flows arrive addressed to the gateway, which
	 * the router would hand to the kernel: translated back first. */
	if (!(meta->skip & XDPGW_SKIP_SNAT)) {
		verdict = xdpgw_snat_in(ctx, meta, fwd->sport, fwd->dport, fwd);
		if (verdict != XDPGW_GO_ON && verdict != XDPGW_FORWARD)
			return verdict;
	}
	fp.sport = fwd->sport;
	fp.dport = fwd->dport;
	return route_and_redirect(ctx, meta, &fp, fwd->reason, 1);
}

/* Everything after the handler's own checks. `has_ports`: TCP or UDP, whose
 * ports `fp` holds (0 for the other protocols). */
static __always_inline int run_pipeline(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					const struct flow_ports *fp, int has_ports)
{
	struct xdpgw_fwd_request fwd = routed_as_is(fp);
	int verdict = XDPGW_GO_ON;

	if (!(meta->skip & XDPGW_SKIP_POLICY)) {
		verdict = xdpgw_policy_check(ctx, meta, fp->sport, fp->dport, has_ports);
		if (verdict != XDPGW_GO_ON)
			return verdict;
	}
	if (has_ports && !(meta->skip & XDPGW_SKIP_PUNT))
		verdict = xdpgw_punt_check(ctx, meta, fp->sport, fp->dport, &fwd);
	if (verdict == XDPGW_FORWARD) {
		/* A verdict the AF_XDP pipeline offloaded: routed here as
		 * it is, neither steered nor load-balanced. */
		meta->skip |= XDPGW_SKIP_LB;
	} else if (verdict == XDPGW_GO_ON) {
		verdict = steer(ctx, meta, fp);
		if (verdict != XDPGW_GO_ON)
			return verdict;
	} else {
		return verdict;
	}
	return local_pipeline(ctx, meta, &fwd, 0);
}

#endif /* XDPGW_PIPELINE_H */
