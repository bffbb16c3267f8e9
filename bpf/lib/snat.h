/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Source NAT / masquerade ([[snat]], IPv4; shared.h explains the tables).
 *
 *   snat_in  (before routing): a packet addressed to a translated (address,
 *            port) from that flow's remote end, or an ICMP error quoting
 *            one, is translated back to the inside host, then routed.
 *   snat_out (after routing chose the egress): a flow with a translation is
 *            rewritten to it; a new flow a rule matches gets one first.
 *
 * The rewrites are the load balancer's (lb.h, lb_icmp.h): one NAT rewrite
 * and one ICMP-quote rewrite in the project. Hairpin (an inside host
 * addressing another's translation) is refused: it is not its flow's
 * remote end, so drop_snat_unsolicited counts it.
 *
 * A port with inbound = "established-only" forwards only what snat_in
 * translated back (replies, ICMP errors about translated flows); any other
 * IPv4 packet from it that the router would forward is dropped in snat_out.
 * Packets to the gateway itself are the kernel's to filter.
 */
#ifndef XDPGW_SNAT_H
#define XDPGW_SNAT_H

#include "lb_icmp.h"
#include "flow.h"

#define ICMP_ECHOREPLY_T 0
#define ICMP_ECHO_T 8
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#ifndef EEXIST
#define EEXIST 17
#endif

static __always_inline void snat_count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&snat_stats, &what);

	if (c)
		*c += 1;
}

/* Packets XDP translates: untagged IPv4 without options, not a fragment
 * (lb_nat_rewrite works at the untagged offset; a later fragment has no
 * ports). */
static __always_inline int snat_candidate(const struct xdpgw_pkt_meta *meta)
{
	return meta->l3_proto == ETH_P_IP && !meta->vlan_depth &&
	       !(meta->flags & (XDPGW_META_F_FRAGMENT | XDPGW_META_F_IPV4_OPTIONS));
}

static __always_inline struct icmp_fixed_hdr *snat_icmp(struct xdp_md *ctx,
							 const struct xdpgw_pkt_meta *meta)
{
	return l4_header(ctx, meta, sizeof(struct icmp_fixed_hdr));
}

/* The state bits a packet adds to its flow: its direction, and for TCP the
 * flags a timeout depends on. */
static __always_inline __u32 snat_state_bits(struct xdp_md *ctx,
					     const struct xdpgw_pkt_meta *meta, int inbound)
{
	__u32 bits = inbound ? XDPGW_SNAT_S_IN : XDPGW_SNAT_S_OUT;
	__u8 *hdr;

	if (meta->l4_proto != IPPROTO_TCP)
		return bits;
	hdr = l4_header(ctx, meta, 14);
	if (!hdr)
		return bits;
	if (hdr[13] & TCP_FLAG_SYN)
		bits |= inbound ? XDPGW_SNAT_S_SYN_IN : XDPGW_SNAT_S_SYN_OUT;
	if (hdr[13] & TCP_FLAG_FIN)
		bits |= inbound ? XDPGW_SNAT_S_FIN_IN : XDPGW_SNAT_S_FIN_OUT;
	if (hdr[13] & TCP_FLAG_RST)
		bits |= XDPGW_SNAT_S_RST;
	return bits;
}

/* Counts a packet into its translation. Shared by every CPU: state bits
 * and last_seen are written only when they change (a read is cheaper than
 * a cache line bounced per packet). The clock is the coarse one (tick
 * resolution, read from memory; flow_export.h does the same): timeouts are
 * seconds, and the daemon's clock is never behind it. */
static __always_inline void snat_touch(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				       struct xdpgw_snat_flow *flow, int inbound)
{
	__u32 bits = snat_state_bits(ctx, meta, inbound);
	__u64 now = bpf_ktime_get_coarse_ns();

	if ((flow->state & bits) != bits)
		__sync_fetch_and_or(&flow->state, bits);
	if (now - flow->last_seen_ns > XDPGW_SNAT_TOUCH_NS)
		flow->last_seen_ns = now;
	if (inbound)
		__sync_fetch_and_add(&flow->packets_in, 1);
	else
		__sync_fetch_and_add(&flow->packets_out, 1);
}

/* Rewrites an ICMP echo's source (outbound) or destination (reply) address
 * and its identifier: the IP checksum covers the address, the ICMP checksum
 * (no pseudo-header in ICMPv4) the identifier. 0 or a drop reason. */
static __always_inline __u32 snat_rewrite_echo(struct xdp_md *ctx,
					       const struct xdpgw_pkt_meta *meta,
					       int rewrite_src, __u32 addr, __u16 id)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + LB_L3_OFF;
	struct icmp_fixed_hdr *icmp = data + (meta->l4_off & XDPGW_MAX_L4_OFFSET);
	__u16 *id_field = (__u16 *)&icmp->rest;
	__u32 *field;

	if ((void *)(ip + 1) > data_end)
		return XDPGW_R_DROP_IPV4_TRUNCATED;
	if ((void *)(icmp + 1) > data_end)
		return XDPGW_R_DROP_ICMP_TRUNCATED;
	field = rewrite_src ? &ip->saddr : &ip->daddr;
	ip->check = csum_apply(ip->check, csum_delta32(0, *field, addr));
	*field = addr;
	icmp->checksum = csum_apply(icmp->checksum, csum_delta16(0, *id_field, id));
	*id_field = id;
	return 0;
}

/* The outer IPv4 destination (snat_candidate: untagged, so at LB_L3_OFF);
 * 0 when the header is cut short. */
static __always_inline __u32 snat_outer_daddr(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + LB_L3_OFF;

	if ((void *)(ip + 1) > data_end)
		return 0;
	return ip->daddr;
}

/* An ICMP error quoting an echo request we translated (ping or traceroute
 * -I with a small TTL): icmp_quoted_flow reads TCP and UDP quotes only.
 * The key is the quote reversed, shaped like the echo reply's. 0, or -1
 * when the quote is no IPv4 echo request. */
static __always_inline int snat_quoted_echo(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
					    struct xdpgw_flow_key *key, struct icmp_quote *q)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4 = meta->l4_off & XDPGW_MAX_L4_OFFSET;
	struct icmp_fixed_hdr *icmp = data + l4;
	struct icmp_fixed_hdr *echo;
	struct iphdr *in;

	if ((void *)(icmp + 1) > data_end || !icmp_is_error(ETH_P_IP, icmp->type))
		return -1;
	q->inner_off = l4 + sizeof(*icmp);
	in = data + q->inner_off;
	if ((void *)(in + 1) > data_end || in->version != 4 || in->ihl != 5 ||
	    in->protocol != IPPROTO_ICMP)
		return -1;
	q->inner_proto = IPPROTO_ICMP;
	q->inner_l4_off = q->inner_off + sizeof(*in);
	echo = data + (q->inner_l4_off & 0x7ff);
	if ((void *)(echo + 1) > data_end || echo->type != ICMP_ECHO_T)
		return -1;
	__builtin_memset(key, 0, sizeof(*key));
	key->family = AF_INET;
	key->proto = IPPROTO_ICMP;
	__builtin_memcpy(key->src, &in->daddr, 4);
	__builtin_memcpy(key->dst, &in->saddr, 4);
	key->dport = *(__u16 *)&echo->rest;
	return 0;
}

/* The error goes to the inside host as if its own echo request had been
 * quoted: outer destination, quoted source and identifier, and every
 * checksum covering them (the quoted ICMP checksum has no pseudo-header,
 * so only the identifier changes it). */
static __always_inline __u32 snat_rewrite_quoted_echo(struct xdp_md *ctx,
						      const struct xdpgw_pkt_meta *meta,
						      const struct icmp_quote *q, __u32 to,
						      __u16 id)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *outer = data + LB_L3_OFF;
	struct icmp_fixed_hdr *icmp = data + (meta->l4_off & XDPGW_MAX_L4_OFFSET);
	struct iphdr *in = data + (q->inner_off & 0x7ff);
	struct icmp_fixed_hdr *echo = data + (q->inner_l4_off & 0x7ff);
	__u16 *id_field = (__u16 *)&echo->rest;
	__u16 old_check;
	__u64 delta;

	if ((void *)(outer + 1) > data_end || (void *)(icmp + 1) > data_end ||
	    (void *)(in + 1) > data_end || (void *)(echo + 1) > data_end)
		return XDPGW_R_DROP_ICMP_TRUNCATED;
	outer->check = csum_apply(outer->check, csum_delta32(0, outer->daddr, to));
	outer->daddr = to;

	old_check = in->check;
	in->check = csum_apply(in->check, csum_delta32(0, in->saddr, to));
	delta = csum_delta32(0, in->saddr, to);
	delta = csum_delta16(delta, old_check, in->check);
	in->saddr = to;

	old_check = echo->checksum;
	echo->checksum = csum_apply(echo->checksum, csum_delta16(0, *id_field, id));
	delta = csum_delta16(delta, *id_field, id);
	delta = csum_delta16(delta, old_check, echo->checksum);
	*id_field = id;

	icmp->checksum = csum_apply(icmp->checksum, delta);
	return 0;
}

/* One source keeps one translation address (RFC 4787 REQ-2, "paired"):
 * the address is chosen by a hash of the inside source. */
static __always_inline __u32 snat_pick_addr(const struct xdpgw_snat_rule *rule,
					    const struct xdpgw_flow_key *key)
{
	__u32 src, idx;
	__u32 count = rule->addr_count;

	__builtin_memcpy(&src, key->src, 4);
	if (count <= 1 || count > XDPGW_SNAT_MAX_ADDRS)
		return rule->addrs[0];
	idx = ((src * 0x9E3779B1u) >> 8) % count;
	/* The compiler knows idx < count <= 8 and would drop the mask the
	 * verifier needs to see: hide idx from it first. */
	asm volatile("" : "+r"(idx));
	return rule->addrs[idx & (XDPGW_SNAT_MAX_ADDRS - 1)];
}

/* The port search's state (bpf_loop: the verifier checks one step, not
 * XDPGW_SNAT_PROBES of them, ~18,000 instructions in every handler). */
struct snat_probe {
	struct xdpgw_snat_port_key pk;	   /* pk.port: the port tried last */
	const struct xdpgw_flow_key *key;  /* the inside flow, the port's owner */
	__u32 lo, span, start;
	__u32 taken;			   /* ports found in use */
	long rc;			   /* of the last claim: 0, -EEXIST, other */
};

/* Tries to claim port lo + (start + i) % span. Stops the walk on a claim
 * and on anything but "taken". */
static long snat_probe_step(__u64 i, void *data)
{
	struct snat_probe *p = data;

	p->pk.port = bpf_htons((__u16)(p->lo + (p->start + (__u32)i) % p->span));
	p->rc = bpf_map_update_elem(&snat_ports, &p->pk, p->key, BPF_NOEXIST);
	if (p->rc != -EEXIST)
		return 1;
	p->taken++;
	return 0;
}

/* Gives the inside flow `key` an (address, port) of `rule` and installs the
 * translation: the port is claimed first (BPF_NOEXIST in snat_ports), so no
 * two flows ever hold one. 0 (the flow is in snat_flows, ours or another
 * CPU's), or the reason the flow cannot be translated. */
static __always_inline __u32 snat_allocate(const struct xdpgw_flow_key *key,
					   const struct xdpgw_snat_rule *rule)
{
	struct snat_probe p = { .pk = { .proto = key->proto }, .key = key, .rc = -EEXIST };
	struct xdpgw_snat_flow flow = {};
	struct xdpgw_snat_port_key pk;
	__u32 lo = rule->port_lo, hi = rule->port_hi, tries;
	__u64 *taken;
	long rc;

	/* No address (a masquerade port without IPv4 yet): nothing to give. */
	if (hi < lo || rule->addr_count == 0)
		return XDPGW_R_DROP_SNAT_PORTS_EXHAUSTED;
	p.lo = lo;
	p.span = hi - lo + 1;
	p.pk.addr = snat_pick_addr(rule, key);
	p.start = bpf_get_prandom_u32() % p.span;
	tries = p.span < XDPGW_SNAT_PROBES ? p.span : XDPGW_SNAT_PROBES;
	if (have_feature(XDPGW_FEAT_ACL)) {
		bpf_loop(tries, snat_probe_step, &p, 0);
	} else {
		/* No bpf_loop (before 5.17): a shorter search, a bounded loop. */
		for (__u32 i = 0; i < XDPGW_SNAT_PROBES_UNROLLED && i < tries; i++)
			if (snat_probe_step(i, &p))
				break;
	}
	if (p.taken) {
		__u32 what = XDPGW_SNAT_PORT_TAKEN;

		taken = bpf_map_lookup_elem(&snat_stats, &what);
		if (taken)
			*taken += p.taken;
	}
	if (p.rc == -EEXIST)
		return XDPGW_R_DROP_SNAT_PORTS_EXHAUSTED; /* every port tried is taken */
	if (p.rc)
		return XDPGW_R_DROP_SNAT_TABLE_FULL;
	pk = p.pk;

	flow.addr = pk.addr;
	flow.port = pk.port;
	flow.rule_id = (__u16)rule->rule_id;
	flow.created_ns = bpf_ktime_get_coarse_ns(); /* snat_touch's clock */
	flow.last_seen_ns = flow.created_ns;
	rc = bpf_map_update_elem(&snat_flows, key, &flow, BPF_NOEXIST);
	if (rc == 0) {
		snat_count(XDPGW_SNAT_CREATED);
		return 0;
	}
	/* Not ours: give the port back. EEXIST is another CPU that
	 * translated the same flow first; its translation is used. */
	bpf_map_delete_elem(&snat_ports, &pk);
	if (rc == -EEXIST) {
		snat_count(XDPGW_SNAT_RACED);
		return 0;
	}
	return XDPGW_R_DROP_SNAT_TABLE_FULL;
}

/* A translation that could not be made, by the rule's policy. */
static __always_inline int snat_refuse(struct xdp_md *ctx, const struct xdpgw_snat_rule *rule,
				       __u32 reason)
{
	if (!(rule->flags & XDPGW_SNAT_F_PASS_WHEN_FULL))
		return drop(ctx, reason);
	return pass(ctx, reason == XDPGW_R_DROP_SNAT_TABLE_FULL ? XDPGW_R_PASS_SNAT_TABLE_FULL
							      : XDPGW_R_PASS_SNAT_PORTS_EXHAUSTED);
}

/* Outbound: see the top of this file. `egress` is the port the router
 * chose; `sport`/`dport` the packet's ports (network order, 0 without).
 * XDPGW_GO_ON (not translated), XDPGW_FORWARD (translated), or a counted
 * verdict. */
static __always_inline int snat_out(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				    __u32 egress, __u16 sport, __u16 dport)
{
	struct xdpgw_snat_match_key mk = {};
	const struct xdpgw_snat_rule *rule;
	struct xdpgw_snat_flow *flow;
	struct xdpgw_flow_key key;
	__u32 reason;

	/* Replies and ICMP errors about translated flows never get here
	 * (snat_in took them): on an established-only port, what does is
	 * unsolicited. */
	if (!(meta->skip & XDPGW_SKIP_INBOUND)) {
		__u32 ingress = ctx->ingress_ifindex;
		__u32 *inbound = cfg_lookup(&cfg_inbound, meta->gen, &ingress);

		if (inbound && (*inbound & XDPGW_INBOUND_F_ESTABLISHED_ONLY))
			return drop(ctx, XDPGW_R_DROP_INBOUND_NOT_ESTABLISHED);
	}
	if (!snat_candidate(meta))
		return XDPGW_GO_ON;
	if (meta->l4_proto == IPPROTO_ICMP) {
		struct icmp_fixed_hdr *icmp = snat_icmp(ctx, meta);

		/* Echo requests only: errors from inside about inbound
		 * packets are not translated (docs/configuration.md). */
		if (!icmp || icmp->type != ICMP_ECHO_T)
			return XDPGW_GO_ON;
		sport = *(__u16 *)&icmp->rest;
		dport = 0;
	} else if (meta->l4_proto != IPPROTO_TCP && meta->l4_proto != IPPROTO_UDP) {
		return XDPGW_GO_ON;
	}
	if (flow_key_from_packet(ctx, meta, sport, dport, &key))
		return XDPGW_GO_ON;

	flow = bpf_map_lookup_elem(&snat_flows, &key);
	if (!flow) {
		mk.prefixlen = XDPGW_SNAT_MATCH_FIXED_BITS + 32;
		mk.ifindex = egress;
		mk.proto = key.proto;
		__builtin_memcpy(mk.addr, key.src, 4);
		rule = cfg_lookup(&cfg_snat, meta->gen, &mk);
		if (!rule)
			return XDPGW_GO_ON;
		reason = snat_allocate(&key, rule);
		if (reason)
			return snat_refuse(ctx, rule, reason);
		flow = bpf_map_lookup_elem(&snat_flows, &key);
		if (!flow) /* deleted in between: only a full table does that */
			return snat_refuse(ctx, rule, XDPGW_R_DROP_SNAT_TABLE_FULL);
	}
	if (meta->l4_proto == IPPROTO_ICMP)
		reason = snat_rewrite_echo(ctx, meta, 1, flow->addr, flow->port);
	else
		reason = lb_nat_rewrite(ctx, meta, 1, (const __u8 *)&flow->addr, flow->port);
	if (reason)
		return drop(ctx, reason);
	snat_touch(ctx, meta, flow, 0);
	return XDPGW_FORWARD;
}

/* Inbound: see the top of this file. XDPGW_GO_ON (not a translated flow's),
 * XDPGW_FORWARD (translated back, `fwd` says how to count it), or a counted
 * verdict. Sets XDPGW_SKIP_SNAT in `meta` once translated, so snat_out
 * leaves the packet alone. */
static __always_inline int snat_in(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
				   __u16 sport, __u16 dport, struct xdpgw_fwd_request *fwd)
{
	struct xdpgw_snat_port_key pk = {};
	struct xdpgw_flow_key key, *inside;
	struct xdpgw_snat_flow *flow;
	struct icmp_quote q = {};
	int is_error = 0;
	__u32 reason;

	if (!snat_candidate(meta))
		return XDPGW_GO_ON;
	if (meta->l4_proto == IPPROTO_ICMP) {
		struct icmp_fixed_hdr *icmp = snat_icmp(ctx, meta);

		if (!icmp)
			return XDPGW_GO_ON;
		if (icmp->type == ICMP_ECHOREPLY_T) {
			if (flow_key_from_packet(ctx, meta, 0, *(__u16 *)&icmp->rest, &key))
				return XDPGW_GO_ON;
		} else {
			/* The quote is what we sent: its reversed key is
			 * shaped like a reply's (remote -> translated). */
			if (icmp_quoted_flow(ctx, meta, &key, &q) &&
			    snat_quoted_echo(ctx, meta, &key, &q))
				return XDPGW_GO_ON;
			/* An error goes to the quoted packet's source: the
			 * translated address, nowhere else. */
			__builtin_memcpy(&pk.addr, key.dst, 4);
			if (snat_outer_daddr(ctx) != pk.addr)
				return XDPGW_GO_ON;
			is_error = 1;
		}
	} else if (meta->l4_proto == IPPROTO_TCP || meta->l4_proto == IPPROTO_UDP) {
		if (flow_key_from_packet(ctx, meta, sport, dport, &key))
			return XDPGW_GO_ON;
	} else {
		return XDPGW_GO_ON;
	}

	__builtin_memcpy(&pk.addr, key.dst, 4);
	pk.port = key.dport;
	pk.proto = key.proto;
	inside = bpf_map_lookup_elem(&snat_ports, &pk);
	if (!inside)
		return XDPGW_GO_ON;
	/* Only the remote end the inside host talks to may answer
	 * (address- and port-dependent filtering, RFC 4787). */
	if (__builtin_memcmp(inside->dst, key.src, 4) || inside->dport != key.sport)
		return drop(ctx, XDPGW_R_DROP_SNAT_UNSOLICITED);
	flow = bpf_map_lookup_elem(&snat_flows, inside);
	if (!flow)
		return XDPGW_GO_ON; /* being expired: the port is going too */

	if (is_error && q.inner_proto == IPPROTO_ICMP) {
		__u32 addr;

		__builtin_memcpy(&addr, inside->src, 4);
		reason = snat_rewrite_quoted_echo(ctx, meta, &q, addr, inside->sport);
		if (!reason)
			snat_count(XDPGW_SNAT_ICMP_ERRORS);
	} else if (is_error) {
		struct xdpgw_flow target = { .target_port = inside->sport };

		__builtin_memcpy(target.target, inside->src, 4);
		reason = icmp_nat_rewrite(ctx, meta, &q, &target);
		if (!reason)
			snat_count(XDPGW_SNAT_ICMP_ERRORS);
	} else if (meta->l4_proto == IPPROTO_ICMP) {
		__u32 addr;

		__builtin_memcpy(&addr, inside->src, 4);
		reason = snat_rewrite_echo(ctx, meta, 0, addr, inside->sport);
	} else {
		reason = lb_nat_rewrite(ctx, meta, 0, inside->src, inside->sport);
	}
	if (reason)
		return drop(ctx, reason);
	if (!is_error)
		snat_touch(ctx, meta, flow, 1);
	meta->skip |= XDPGW_SKIP_SNAT;
	return request_forward(fwd, sport, dport, XDPGW_R_FWD_SNAT_REVERSE);
}

#endif /* XDPGW_SNAT_H */
