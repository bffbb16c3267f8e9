/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The stages after a handler, as global functions defined in stages.bpf.c.
 * The verifier checks a global (non-static) function once, on its own with
 * its arguments unknown, and a call to it costs the caller one instruction
 * and one return value. Inlined, the policy, punt, load-balancer and routing
 * code multiplied each other's branches: the TCP and UDP handlers took 700k
 * of the verifier's 1M-instruction budget and seconds each to load. As
 * functions their costs add.
 *
 * Ports are network order; `meta` is always the caller's stack copy.
 */
#ifndef XDPGW_STAGES_H
#define XDPGW_STAGES_H

#include <linux/bpf.h>
#include "xdpgw/shared.h"

/* Parses the packet in `ctx` (parse.h) for a stage that has no parse result
 * handed to it; meta->gen is the active generation, and the settings fields
 * are that generation's. Returns 0,
 * XDPGW_R_PASS_NOT_IP, or a drop reason (not yet counted). */
int xdpgw_parse(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta);

/* ACL, then rate limiter (policy.h). Returns -1 when the packet may go on,
 * else the XDP verdict, already counted. */
int xdpgw_policy_check(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		       __u32 sport, __u32 dport, __u32 has_ports);

/* Offloaded flow verdicts and punt rules (punt.h). Returns PUNT_CONTINUE
 * when the packet is not the pipeline's, else the XDP verdict. */
int xdpgw_punt_check(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		     __u32 sport, __u32 dport);
#define PUNT_CONTINUE (-1)

/* Load balancer, else router, on the CPU doing the work (pipeline.h).
 * Returns the verdict (counted), or XDPGW_STAGE_FORWARD with `fwd` filled:
 * the caller then calls xdpgw_forward(). Forwarding from inside would nest
 * the router's stack frame under the load balancer's, and with the capture
 * below that chain passes the verifier's 512-byte limit. */
#define XDPGW_STAGE_FORWARD (-2)
struct xdpgw_fwd_request {
	__u32 reason;	/* what the redirect is counted as */
	__u16 sport;	/* ports for the FIB's multipath hash (network order) */
	__u16 dport;
};
int xdpgw_local_stage(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
		      __u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd);

/* Route, rewrite and redirect, counted as `fwd_reason` (router.h). */
int xdpgw_forward(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		  __u32 sport, __u32 dport, __u32 fwd_reason);

/* Copies a dropped frame to a running `xdpgw capture --what drops`
 * (capture.h); returns 0. Called by record() for every XDP_DROP. */
int xdpgw_capture_drop(struct xdp_md *ctx, __u32 reason);

/* For handlers: continue unless policy decided (then return its verdict).
 * A generation without ACL or rate limit skips the call. */
#define POLICY_CHECK_OR_RETURN(ctx, meta, sport, dport, has_ports)            \
	do {                                                                   \
		int policy_verdict_;                                           \
		if ((meta)->skip & XDPGW_SKIP_POLICY)                          \
			break;                                                 \
		policy_verdict_ = xdpgw_policy_check(ctx, meta, sport, dport,  \
						     has_ports);               \
		if (policy_verdict_ >= 0)                                      \
			return policy_verdict_;                                \
	} while (0)

#endif /* XDPGW_STAGES_H */
