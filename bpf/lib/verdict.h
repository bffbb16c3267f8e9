/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The single exit of every program: count the reason, return the verdict. */
#ifndef XDPGW_VERDICT_H
#define XDPGW_VERDICT_H

#include "maps.h"
#include "events.h"
#include "stages.h"

static __always_inline __u64 frame_len(const struct xdp_md *ctx)
{
	return (__u64)ctx->data_end - (__u64)ctx->data;
}

/* The reasons XDPGW_REASONS marks as parse errors. A switch: the compiler
 * lowers it to a range check or a bit test, whichever the rows allow, and
 * folds it away where the reason is a constant. */
static __always_inline int is_parse_error(__u32 reason)
{
	switch (reason) {
#define XDPGW_PARSE_CASE_(name, value, str, outcome, parse_error) \
	case (value): return (parse_error);
	XDPGW_REASONS(XDPGW_PARSE_CASE_)
#undef XDPGW_PARSE_CASE_
	}
	return 0;
}

static __always_inline int record(struct xdp_md *ctx, int action, __u32 reason)
{
	struct xdpgw_counter *c = bpf_map_lookup_elem(&verdict_stats, &reason);

	if (c) {
		c->packets++;
		c->bytes += frame_len(ctx);
	}
	/* Malformed frames are events (capped); the forwarding path pays
	 * one compare. Rate-limit drops emit theirs, with the source, in
	 * policy.h. */
	if (is_parse_error(reason))
		emit_event(ctx, XDPGW_EV_PARSE_ERROR, reason, NULL);
	if (action == XDP_DROP)
		xdpgw_capture_drop(ctx, reason);
	return action;
}

static __always_inline int drop(struct xdp_md *ctx, __u32 reason)
{
	return record(ctx, XDP_DROP, reason);
}

static __always_inline int pass(struct xdp_md *ctx, __u32 reason)
{
	return record(ctx, XDP_PASS, reason);
}

static __always_inline void count_handler(struct xdp_md *ctx, __u32 slot)
{
	struct xdpgw_counter *c = bpf_map_lookup_elem(&handler_stats, &slot);

	if (c) {
		c->packets++;
		c->bytes += frame_len(ctx);
	}
}

/* The config generation new packets follow. */
static __always_inline __u32 current_gen(void)
{
	__u32 zero = 0;
	__u32 *gen = bpf_map_lookup_elem(&active_gen, &zero);

	return gen ? *gen : 0;
}

static __always_inline const struct xdpgw_settings *get_settings(__u32 gen)
{
	__u32 zero = 0;

	return cfg_lookup(&cfg_settings, gen, &zero);
}

#endif /* XDPGW_VERDICT_H */
