/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy in the fast path: prefix ACLs, then a per-source rate limiter, run
 * by every handler once the L4 header is validated and before routing.
 * Types and the evaluation order are described in shared.h ("policy").
 *
 * Runs exactly once per packet: only run_pipeline() (pipeline.h) calls
 * xdpgw_policy_check(), before steering; a packet steered through the CPUMAP
 * resumes at local_pipeline() in cpu_stage.bpf.c, after it. A denied packet
 * consumes no tokens.
 */
#ifndef XDPGW_POLICY_H
#define XDPGW_POLICY_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "parse.h"
#include "verdict.h"
#include "flow.h"

/* ---- maps ---------------------------------------------------------------- */

/* Knobs of each generation (struct xdpgw_policy). */
struct xdpgw_policy_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_policy));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_policy_table);
} cfg_policy __weak SEC(".maps");

/* ACL prefix -> set of rules containing it; LPM_TRIE: one lookup finds the
 * longest stored prefix, whose set already includes every shorter one. */
struct xdpgw_acl4_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_ACL_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_lpm_v4_key));
	__uint(value_size, sizeof(struct xdpgw_acl_ruleset));
};
struct xdpgw_acl6_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_ACL_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_lpm_v6_key));
	__uint(value_size, sizeof(struct xdpgw_acl_ruleset));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_acl4_table);
} cfg_acl_src4 __weak SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_acl4_table);
} cfg_acl_dst4 __weak SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_acl6_table);
} cfg_acl_src6 __weak SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_acl6_table);
} cfg_acl_dst6 __weak SEC(".maps");

/* Rules by evaluation index. ARRAY: dense, O(1). */
struct xdpgw_acl_rules_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_ACL_RULES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_acl_rule));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_acl_rules_table);
} cfg_acl_rules __weak SEC(".maps");

/* Source prefix -> rate-limit class id. LPM_TRIE: longest prefix decides. */
struct xdpgw_rl4_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_RL_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_lpm_v4_key));
	__uint(value_size, sizeof(__u32));
};
struct xdpgw_rl6_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_RL_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_lpm_v6_key));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_rl4_table);
} cfg_rl_src4 __weak SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_rl6_table);
} cfg_rl_src6 __weak SEC(".maps");

/* Class parameters by class id. */
struct xdpgw_rl_classes_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_RL_CLASSES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_rl_class));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_rl_classes_table);
} cfg_rl_classes __weak SEC(".maps");

/* One bucket per source address, shared by all CPUs (a per-CPU bucket would
 * need the rate split, wrong for a source that lands on one CPU). LRU_HASH:
 * a flood of spoofed sources evicts the least recently seen instead of
 * failing; an evicted source comes back with a full bucket. Not
 * generational: buckets outlive reloads. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPGW_RL_TABLE_SIZE);
	__type(key, struct xdpgw_rl_key);
	__type(value, struct xdpgw_rl_bucket);
} rl_buckets __weak SEC(".maps");

/* Passed / dropped / new buckets per class id; per-CPU, summed by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_MAX_RL_CLASSES);
	__type(key, __u32);
	__type(value, struct xdpgw_rl_counter);
} rl_stats __weak SEC(".maps");

/* Hits per ACL rule (by rule_id, file order) and, at
 * XDPGW_ACL_STATS_DEFAULT, packets the default action decided. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_MAX_ACL_RULES + 1);
	__type(key, __u32);
	__type(value, struct xdpgw_counter);
} acl_stats __weak SEC(".maps");

/* ---- packet identity --------------------------------------------------- */

/* What policy looks at, read once from the headers. Addresses are 16 bytes,
 * IPv4 in the first 4 (network order). */
struct policy_pkt {
	__u8 src[16];
	__u8 dst[16];
	__u32 family;
	__u32 ifindex;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 proto;
	__u8 has_ports;
};

static __always_inline int read_addresses(struct xdp_md *ctx,
					  const struct xdpgw_pkt_meta *meta,
					  struct policy_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *l3 = data + (meta->l3_off & 0x1f);

	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			return -1;
		__builtin_memcpy(p->src, &ip->saddr, 4);
		__builtin_memcpy(p->dst, &ip->daddr, 4);
		p->family = AF_INET;
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		__builtin_memcpy(p->src, &ip6->saddr, 16);
		__builtin_memcpy(p->dst, &ip6->daddr, 16);
		p->family = AF_INET6;
	}
	return 0;
}

/* Looks up `addr` in generation `gen` of an IPv4 or IPv6 LPM table pair. */
static __always_inline void *lpm_lookup(void *outer4, void *outer6, __u32 gen,
					const struct policy_pkt *p,
					const __u8 *addr)
{
	if (p->family == AF_INET) {
		struct xdpgw_lpm_v4_key k = { .prefixlen = 32 };

		__builtin_memcpy(&k.addr, addr, 4);
		return cfg_lookup(outer4, gen, &k);
	} else {
		struct xdpgw_lpm_v6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, addr, 16);
		return cfg_lookup(outer6, gen, &k);
	}
}

/* ---- ACL ------------------------------------------------------------------ */

static __always_inline __u32 lowest_bit(__u64 x)
{
	__u32 n = 0;

	if (!(x & 0xffffffffull)) { n += 32; x >>= 32; }
	if (!(x & 0xffffull)) { n += 16; x >>= 16; }
	if (!(x & 0xffull)) { n += 8; x >>= 8; }
	if (!(x & 0xfull)) { n += 4; x >>= 4; }
	if (!(x & 0x3ull)) { n += 2; x >>= 2; }
	if (!(x & 0x1ull)) n += 1;
	return n;
}

/* State of the walk over one 64-rule word of candidates (bpf_loop). */
struct acl_walk {
	const struct policy_pkt *pkt;
	__u64 bits;	/* candidates not yet tried */
	__u32 base;	/* evaluation index of bit 0 */
	__u32 gen;
	__s32 match;	/* evaluation index of the first match, or -1 */
};

/* enum xdpgw_acl_state of a packet: looked up only for a rule that asks
 * (a rule without `state` keeps its single-lookup cost). Global, like
 * acl_decide: inlined into the rule walk's callback, its lookups were
 * walked once per way through the callback (~15,000 instructions more in
 * every program); as a function they are verified once. */
__noinline __u32 acl_packet_state(const struct policy_pkt *p)
{
	struct xdpgw_flow_key key = {};
	struct xdpgw_snat_port_key pk = {};
	const struct xdpgw_flow_key *owner;

	if (!p || p->family != AF_INET || !p->has_ports)
		return XDPGW_ACL_STATE_NEW;
	__builtin_memcpy(key.src, p->src, 4);
	__builtin_memcpy(key.dst, p->dst, 4);
	key.sport = bpf_htons(p->sport);
	key.dport = bpf_htons(p->dport);
	key.proto = p->proto;
	key.family = AF_INET;
	if (bpf_map_lookup_elem(&snat_flows, &key))
		return XDPGW_ACL_STATE_ESTABLISHED;
	__builtin_memcpy(&pk.addr, p->dst, 4);
	pk.port = key.dport;
	pk.proto = p->proto;
	owner = bpf_map_lookup_elem(&snat_ports, &pk);
	if (owner && !__builtin_memcmp(owner->dst, p->src, 4) && owner->dport == key.sport)
		return XDPGW_ACL_STATE_ESTABLISHED;
	return XDPGW_ACL_STATE_NEW;
}

static __always_inline int acl_rule_matches(const struct xdpgw_acl_rule *r,
					    const struct policy_pkt *p)
{
	if (r->ifindex && r->ifindex != p->ifindex)
		return 0;
	if (r->proto && r->proto != p->proto)
		return 0;
	if (r->state && r->state != acl_packet_state(p))
		return 0;
	if (r->flags & XDPGW_ACL_F_PORTS) {
		if (!p->has_ports)
			return 0;
		if (p->sport < r->sport_lo || p->sport > r->sport_hi)
			return 0;
		if (p->dport < r->dport_lo || p->dport > r->dport_hi)
			return 0;
	}
	return 1;
}

static long acl_step(__u32 i, void *arg)
{
	struct acl_walk *w = arg;
	const struct xdpgw_acl_rule *rule;
	__u32 idx;

	if (!w->bits)
		return 1;
	idx = w->base + lowest_bit(w->bits);
	w->bits &= w->bits - 1;
	rule = cfg_lookup(&cfg_acl_rules, w->gen, &idx);
	if (rule && acl_rule_matches(rule, w->pkt)) {
		w->match = idx;
		return 1;
	}
	return 0;
}

static __always_inline void count_acl(struct xdp_md *ctx, __u32 idx)
{
	struct xdpgw_counter *c = bpf_map_lookup_elem(&acl_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += frame_len(ctx);
	}
}

/* Returns the action of the first matching rule, or the default. Global
 * (see stages.h): only stages.bpf.c includes this header. */
__noinline __u32 acl_decide(struct xdp_md *ctx, __u32 gen,
			    const struct xdpgw_policy *pol,
			    const struct policy_pkt *p)
{
	const struct xdpgw_acl_ruleset *src, *dst;
	struct acl_walk w = { .pkt = p, .gen = gen, .match = -1 };
	const struct xdpgw_acl_rule *rule;
	__u32 word, idx;

	if (!pol || !p)
		return XDPGW_ACL_DENY;
	/* The daemon refuses [[acl]] rules when the kernel lacks bpf_loop;
	 * this only keeps the verifier away from the call. */
	if (!have_feature(XDPGW_FEAT_ACL))
		return pol->acl_default;
	src = lpm_lookup(&cfg_acl_src4, &cfg_acl_src6, gen, p, p->src);
	dst = lpm_lookup(&cfg_acl_dst4, &cfg_acl_dst6, gen, p, p->dst);
	if (src && dst) {
		for (word = 0; word < XDPGW_ACL_WORDS; word++) {
			w.bits = src->bits[word] & dst->bits[word];
			if (!w.bits)
				continue;
			w.base = word * 64;
			bpf_loop(64, acl_step, &w, 0);
			if (w.match >= 0)
				break;
		}
	}
	if (w.match >= 0) {
		idx = (__u32)w.match;
		rule = cfg_lookup(&cfg_acl_rules, gen, &idx);
		if (rule) {
			count_acl(ctx, rule->rule_id);
			return rule->action;
		}
	}
	count_acl(ctx, XDPGW_ACL_STATS_DEFAULT);
	return pol->acl_default;
}

/* ---- rate limiter --------------------------------------------------------- */

static __always_inline void count_rl(__u32 class_id, int passed, int fresh)
{
	struct xdpgw_rl_counter *c = bpf_map_lookup_elem(&rl_stats, &class_id);

	if (!c)
		return;
	if (passed)
		c->passed++;
	else
		c->dropped++;
	if (fresh)
		c->new_buckets++;
}

/*
 * GCRA on one u64 (see shared.h). TAT - now in [0, limit] is the spent part
 * of the burst; below 0 the bucket is full. A packet passes when
 * max(TAT, now) + cost - now <= limit, and moves TAT there with CAS, so
 * two CPUs never spend the same token and none is lost: a failed CAS means
 * someone else advanced TAT, and the check is redone on the new value.
 * All differences are signed, so neither the fixed-point clock wrapping nor
 * a CPU reading `now` slightly behind another matters. A TAT further ahead
 * than `limit` cannot be produced by this code (a reload lowered the burst,
 * or a source idle for over 2^55 ns ~ 1.1 years looks like the future after
 * the wrap): it is clamped to "empty", never read as credit.
 */
static __always_inline int gcra_take(__u64 *tat, __u64 cost, __u64 limit,
				     __u64 now)
{
	__u64 old, base, next;
	__s64 ahead;
	int i;

	for (i = 0; i < XDPGW_RL_CAS_TRIES; i++) {
		old = *(volatile __u64 *)tat;
		ahead = (__s64)(old - now);
		base = old;
		if (ahead < 0)
			base = now;
		else if (ahead > (__s64)limit)
			base = now + limit;
		next = base + cost;
		if ((__s64)(next - now) > (__s64)limit) {
			if (base != old)
				__sync_val_compare_and_swap(tat, old, base);
			return 0;
		}
		if (__sync_val_compare_and_swap(tat, old, next) == old)
			return 1;
	}
	return 0;
}

/* Packet bucket, then the byte bucket when the class has one. A packet the
 * byte bucket refuses gives its packet token back (an atomic add of exactly
 * what it took), so a refused packet costs nothing in either bucket. */
static __always_inline int rl_take(struct xdpgw_rl_bucket *b,
				   const struct xdpgw_rl_class *cls, __u64 now,
				   __u64 len)
{
	__u64 cost;

	if (!gcra_take(&b->tat, cls->interval, cls->limit, now))
		return 0;
	if (!cls->bytes_per_second)
		return 1;
	/* len < 2^17 and the numerator constant < 2^38: no overflow. */
	len &= 0x1ffff;
	cost = (len * (1000000000ull << XDPGW_RL_FRAC_BITS) +
		cls->bytes_per_second - 1) / cls->bytes_per_second;
	if (gcra_take(&b->tat_bytes, cost, cls->byte_limit, now))
		return 1;
	__sync_fetch_and_sub(&b->tat, cls->interval);
	return 0;
}

/* 1 = within the rate (or not limited), 0 = over it. Global, as
 * acl_decide(). */
__noinline int rl_allow(struct xdp_md *ctx, __u32 gen,
			const struct xdpgw_policy *pol,
			const struct policy_pkt *p)
{
	struct xdpgw_rl_key key = {};
	struct xdpgw_rl_bucket *b;
	const struct xdpgw_rl_class *cls;
	__u32 *found, class_id;
	__u64 now;
	int fresh = 0, ok;

	if (!pol || !p)
		return 0;
	found = lpm_lookup(&cfg_rl_src4, &cfg_rl_src6, gen, p, p->src);
	class_id = found ? *found : pol->rl_default_class;
	if (class_id == XDPGW_RL_NO_CLASS)
		return 1;
	cls = cfg_lookup(&cfg_rl_classes, gen, &class_id);
	if (!cls || !cls->interval)
		return 1;

	now = bpf_ktime_get_ns() << XDPGW_RL_FRAC_BITS;
	__builtin_memcpy(key.addr, p->src, 16);
	key.family = (__u8)p->family;
	b = bpf_map_lookup_elem(&rl_buckets, &key);
	if (!b) {
		/* TAT = now is a full bucket. NOEXIST: when another CPU
		 * created it first, use theirs. */
		struct xdpgw_rl_bucket init = { .tat = now, .tat_bytes = now };

		fresh = bpf_map_update_elem(&rl_buckets, &key, &init,
					    BPF_NOEXIST) == 0;
		b = bpf_map_lookup_elem(&rl_buckets, &key);
		if (!b) {
			/* Evicted again before we could use it (table
			 * thrashing): fail open, as a fresh bucket would. */
			count_rl(class_id, 1, fresh);
			return 1;
		}
	}
	ok = rl_take(b, cls, now, frame_len(ctx));
	count_rl(class_id, ok, fresh);
	return ok;
}

/* ---- entry point ---------------------------------------------------------- */

/*
 * ACL, then rate limiter. Returns -1 when the packet may continue, or an XDP
 * verdict already recorded. `fp` is NULL for packets without ports (ICMP,
 * other protocols, fragments); ports are network order.
 */
static __always_inline int policy_decide(struct xdp_md *ctx,
					 const struct xdpgw_pkt_meta *meta,
					 __u16 sport, __u16 dport, int has_ports)
{
	const struct xdpgw_policy *pol;
	struct policy_pkt p = {};
	__u32 zero = 0;

	pol = cfg_lookup(&cfg_policy, meta->gen, &zero);
	if (!pol || (!pol->acl_rules && !pol->rl_enabled))
		return -1;
	if (read_addresses(ctx, meta, &p))
		return -1; /* the handler already checked the L3 header */
	p.ifindex = ctx->ingress_ifindex;
	p.proto = meta->l4_proto;
	p.has_ports = has_ports && !(meta->flags & XDPGW_META_F_LATER_FRAGMENT);
	p.sport = bpf_ntohs(sport);
	p.dport = bpf_ntohs(dport);

	if (pol->acl_rules &&
	    acl_decide(ctx, meta->gen, pol, &p) == XDPGW_ACL_DENY)
		return drop(ctx, XDPGW_R_DROP_ACL_DENY);
	if (pol->rl_enabled && !rl_allow(ctx, meta->gen, pol, &p)) {
		/* A (capped) event that names who is being limited. */
		struct xdpgw_flow_key key;

		if (!flow_key_from_packet(ctx, meta, p.has_ports ? sport : 0,
					  p.has_ports ? dport : 0, &key))
			emit_event(ctx, XDPGW_EV_RATE_LIMIT_DROP, XDPGW_R_DROP_RATE_LIMITED, &key);
		return drop(ctx, XDPGW_R_DROP_RATE_LIMITED);
	}
	return -1;
}

#endif /* XDPGW_POLICY_H */
