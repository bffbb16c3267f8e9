// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SYN cookies for NAT VIPs: the stage the TCP handler tail-calls when the
 * load balancer answers XDPGW_SYNPROXY (lb.h). shared.h, "SYN cookies",
 * explains the handshake; in short, for a VIP with cookies on:
 *
 *   client SYN            → cookie SYN-ACK, zero window        (XDP_TX)
 *   client ACK, cookie ok → the flow enters conn_table; the ACK becomes
 *                           the SYN to the backend              (forwarded)
 *   backend SYN-ACK       → the client's window update          (forwarded)
 *   client's first data   → completes the backend's handshake   (forwarded)
 *   backend SYN-ACK again → its ACK                             (XDP_TX)
 *   every later packet    → sequence numbers, timestamps, SACK blocks and
 *                           windows translated, then NAT as usual
 *
 * Every header this stage builds is 20 bytes plus the same 20-byte option
 * block (MSS, SACK-permitted, timestamps, window scale; NOPs for what is
 * not sent). A separate program: its code would not fit the TCP handler's
 * verifier budget, and only cookie flows pay the tail call. Each kind of
 * packet has its own (static, not inlined) function: a frame each, so the
 * locals of one do not add to another's under the 512-byte stack limit.
 */
#include "lb.h"
#include "pipeline.h"
#include "features.h"

#define SP_OPT_LEN 20

#define SP_TCP_LEN (20 + SP_OPT_LEN)
#define SP_L4_V4 ((__u32)(sizeof(struct ethhdr) + sizeof(struct iphdr)))
#define SP_L4_V6 ((__u32)(sizeof(struct ethhdr) + sizeof(struct ipv6hdr)))
#define SP_NO_WSCALE 0xff

#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WINDOW 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TIMESTAMP 8

/* The MSS classes a cookie's timestamp names (shared.h). A switch, not a
 * const array: a static in .rodata beside the linked objects' own breaks
 * the merged object's BTF. */
static __always_inline __u16 sp_mss_class(__u32 i)
{
	switch (i & 3) {
	case 0: return XDPGW_SP_MSS_CLASS0;
	case 1: return XDPGW_SP_MSS_CLASS1;
	case 2: return XDPGW_SP_MSS_CLASS2;
	default: return XDPGW_SP_MSS_CLASS3;
	}
}

/* What a packet's TCP options say, and where the ones translated later are
 * (offsets from the TCP header; 0: absent). */
struct sp_opts {
	__u32 tsval;
	__u32 tsecr;
	__u16 mss;
	__u8 wscale; /* SP_NO_WSCALE: none */
	__u8 sack_perm;
	__u8 ts_off;
	__u8 sack_off;
	__u8 sack_len;
	__u8 pad;
};

/* A header to build (host order). */
struct sp_hdr {
	__u32 seq;
	__u32 ack;
	__u32 tsval;
	__u32 tsecr;
	__u16 window;
	__u16 mss; /* 0: no MSS option */
	__u8 flags;
	__u8 sack_perm;
	__u8 ts;     /* send the timestamp option */
	__u8 wscale; /* SP_NO_WSCALE: no window scale option */
};

/* Each CPU's room for the handshake functions' bigger locals: beside the
 * route lookup's, they would pass the 512-byte stack limit. PERCPU_ARRAY of
 * one: no sharing (XDP runs to completion on its CPU), no lookup cost. */
struct sp_scratch {
	struct xdpgw_synproxy_flow sp;
	struct sp_hdr h;
	struct sp_opts o;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sp_scratch);
} sp_scratch SEC(".maps");

static __always_inline struct sp_scratch *sp_scratch_get(void)
{
	__u32 zero = 0;
	struct sp_scratch *s = bpf_map_lookup_elem(&sp_scratch, &zero);

	if (s) {
		__builtin_memset(s, 0, sizeof(*s));
		s->h.wscale = SP_NO_WSCALE;
	}
	return s;
}

static __always_inline __u32 sp_l4_off(int v6)
{
	return v6 ? SP_L4_V6 : SP_L4_V4;
}

static __always_inline struct sp_hdr sp_hdr_empty(void)
{
	struct sp_hdr h = { .wscale = SP_NO_WSCALE };
	return h;
}

/* The option walk's state, for bpf_loop: the options copied out of the
 * packet (no packet pointer crosses into the callback) and what was found. */
struct sp_walk {
	__u8 opt[40];
	__u32 len; /* option bytes */
	__u32 at;  /* next option's offset in opt */
	struct sp_opts found;
};

/* One option. bpf_loop, not a bounded loop: the verifier checks this body
 * once, where 40 unrolled iterations with an option of unknown length each
 * cost it half a million instructions. */
static long sp_walk_step(__u64 n, void *arg)
{
	struct sp_walk *w = arg;
	__u32 at = w->at, len;
	__u8 kind;

	if (at >= w->len || at >= sizeof(w->opt))
		return 1;
	kind = w->opt[at];
	if (kind == 0)
		return 1;
	if (kind == TCPOPT_NOP) {
		w->at = at + 1;
		return 0;
	}
	if (at + 1 >= sizeof(w->opt))
		return 1;
	len = w->opt[at + 1];
	if (len < 2 || at + len > w->len || at + len > sizeof(w->opt))
		return 1;
	if (kind == TCPOPT_MSS && len == 4) {
		w->found.mss = (__u16)w->opt[(at + 2) & 63] << 8 | w->opt[(at + 3) & 63];
	} else if (kind == TCPOPT_WINDOW && len == 3) {
		__u8 ws = w->opt[(at + 2) & 63];

		w->found.wscale = ws > XDPGW_SP_WSCALE_MAX ? XDPGW_SP_WSCALE_MAX : ws;
	} else if (kind == TCPOPT_SACK_PERM && len == 2) {
		w->found.sack_perm = 1;
	} else if (kind == TCPOPT_SACK) {
		w->found.sack_off = 20 + at;
		w->found.sack_len = len;
	} else if (kind == TCPOPT_TIMESTAMP && len == 10 && at <= sizeof(w->opt) - 10) {
		__u32 tsval = 0, tsecr = 0;

		for (int b = 0; b < 4; b++) {
			tsval = tsval << 8 | w->opt[(at + 2 + b) & 63];
			tsecr = tsecr << 8 | w->opt[(at + 6 + b) & 63];
		}
		w->found.tsval = tsval;
		w->found.tsecr = tsecr;
		w->found.ts_off = 20 + at;
	}
	w->at = at + len;
	return 0;
}

/* Walks the options of the TCP header at `l4_off` (`hdr_len` bytes, the
 * handler checked it lies in the frame). A global function: checked once,
 * not once per caller. Returns 0. */
__noinline int sp_parse_opts(struct xdp_md *ctx, __u32 l4_off, __u32 hdr_len, struct sp_opts *o)
{
	struct sp_walk w = {};

	if (!o)
		return 0;
	w.found.wscale = SP_NO_WSCALE;
	if (have_feature(XDPGW_FEAT_SYNCOOKIE) && hdr_len > 20 && hdr_len <= 60) {
		w.len = hdr_len - 20;
		if (bpf_xdp_load_bytes(ctx, (l4_off & XDPGW_MAX_L4_OFFSET) + 20, w.opt, w.len) == 0)
			bpf_loop(sizeof(w.opt), sp_walk_step, &w, 0);
	}
	*o = w.found;
	return 0;
}

/*
 * Replaces the TCP header of the untagged frame in `ctx` (family `v6`, no
 * IPv4 options or IPv6 extension headers) by the one `h` describes, drops
 * whatever followed it, and fixes the IP length and both checksums. `swap`:
 * the packet goes back where it came from (MACs, addresses and ports
 * swapped; a fresh TTL). 0, or a drop reason.
 */
__noinline int sp_emit(struct xdp_md *ctx, __u32 v6, __u32 swap, const struct sp_hdr *h)
{
	__u32 l4 = sp_l4_off(v6);
	int delta = (int)(l4 + SP_TCP_LEN) - (int)frame_len(ctx);
	void *data, *data_end;
	struct ethhdr *eth;
	struct tcphdr *th;
	__u8 *opt, mac[ETH_ALEN];
	__u64 sum = 0;

	if (!h)
		return XDPGW_R_DROP_META_MISSING;
	if (delta < 0 && bpf_xdp_adjust_tail(ctx, delta))
		return XDPGW_R_DROP_SYNPROXY_REBUILD;
	if (delta > 0) {
		/* Grown at the front: XDP guarantees headroom, while the
		 * tailroom of a frame that came as an skb (veth, generic XDP)
		 * may be a few bytes. The Ethernet and IP headers and the
		 * ports move into it; the rest of the TCP header is written
		 * below. */
		__u8 headers[SP_L4_V6 + 4];
		__u32 moved = l4 + 4; /* the ports stay where they are in the TCP header */

		if (delta > 20 || moved > sizeof(headers) || bpf_xdp_adjust_head(ctx, -delta) ||
		    bpf_xdp_load_bytes(ctx, delta, headers, moved) ||
		    bpf_xdp_store_bytes(ctx, 0, headers, moved))
			return XDPGW_R_DROP_SYNPROXY_REBUILD;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if (data + l4 + SP_TCP_LEN > data_end)
		return XDPGW_R_DROP_SYNPROXY_REBUILD;
	th = data + l4;
	if (swap) {
		__u16 port = th->source;

		__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
		th->source = th->dest;
		th->dest = port;
	}
	if (v6) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct in6_addr a;
		const __u32 *w;

		if (swap) {
			a = ip6->saddr;
			ip6->saddr = ip6->daddr;
			ip6->daddr = a;
			ip6->hop_limit = 64;
		}
		ip6->payload_len = bpf_htons(SP_TCP_LEN);
		w = ip6->saddr.in6_u.u6_addr32;
#pragma unroll
		for (int i = 0; i < 8; i++)
			sum += w[i];
		sum += bpf_htonl(SP_TCP_LEN) + bpf_htonl(IPPROTO_TCP);
	} else {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 a;

		if (swap) {
			a = ip->saddr;
			ip->saddr = ip->daddr;
			ip->daddr = a;
			ip->ttl = 64;
			ip->id = 0;
			ip->frag_off = bpf_htons(0x4000); /* DF */
		}
		ip->tot_len = bpf_htons(sizeof(*ip) + SP_TCP_LEN);
		ip->check = 0;
		ip->check = csum_words((const __u32 *)ip, 5);
		sum += ip->saddr;
		sum += ip->daddr;
		sum += bpf_htons(IPPROTO_TCP) + bpf_htons(SP_TCP_LEN);
	}

	th->seq = bpf_htonl(h->seq);
	th->ack_seq = bpf_htonl(h->ack);
	((__u8 *)th)[12] = (SP_TCP_LEN / 4) << 4;
	((__u8 *)th)[13] = h->flags;
	th->window = bpf_htons(h->window);
	th->check = 0;
	th->urg_ptr = 0;

	opt = (__u8 *)(th + 1);
	__builtin_memset(opt, TCPOPT_NOP, SP_OPT_LEN);
	if (h->mss) {
		opt[0] = TCPOPT_MSS;
		opt[1] = 4;
		opt[2] = h->mss >> 8;
		opt[3] = h->mss & 0xff;
	}
	if (h->sack_perm) {
		opt[4] = TCPOPT_SACK_PERM;
		opt[5] = 2;
	}
	if (h->ts) {
		__u32 v;

		opt[6] = TCPOPT_TIMESTAMP;
		opt[7] = 10;
		v = bpf_htonl(h->tsval);
		__builtin_memcpy(opt + 8, &v, 4);
		v = bpf_htonl(h->tsecr);
		__builtin_memcpy(opt + 12, &v, 4);
	}
	if (h->wscale != SP_NO_WSCALE) {
		opt[17] = TCPOPT_WINDOW;
		opt[18] = 3;
		opt[19] = h->wscale;
	}
	{
		const __u32 *w = (const __u32 *)th;

#pragma unroll
		for (int i = 0; i < SP_TCP_LEN / 4; i++)
			sum += w[i];
	}
	th->check = (__u16)~csum_fold64(sum);
	return 0;
}

/* Writes `val` (network order) into the 4 bytes at frame offset `off`,
 * `odd` when they start at an odd offset from the TCP header, adding the
 * change to `delta`. 16-bit words from an even offset are what the checksum
 * sums, so an odd field is rewritten as the three words it straddles (the
 * header's length is a multiple of 4, so they lie within it). */
static __always_inline int sp_put32(struct xdp_md *ctx, __u32 off, int odd, __u32 val,
				    __u64 *delta)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 before[3], after[3];
	__u8 *p;

	if (!odd) {
		__u32 old;

		p = data + (off & XDPGW_MAX_L4_OFFSET);
		if ((void *)(p + 4) > data_end)
			return -1;
		__builtin_memcpy(&old, p, 4);
		*delta = csum_delta32(*delta, old, val);
		__builtin_memcpy(p, &val, 4);
		return 0;
	}
	p = data + ((off - 1) & XDPGW_MAX_L4_OFFSET);
	if ((void *)(p + 6) > data_end)
		return -1;
	__builtin_memcpy(before, p, 6);
	__builtin_memcpy(p + 1, &val, 4);
	__builtin_memcpy(after, p, 6);
#pragma unroll
	for (int i = 0; i < 3; i++)
		*delta = csum_delta16(*delta, before[i], after[i]);
	return 0;
}

/* Adds `add` to the 32-bit field at frame offset `off` (network order). */
static __always_inline int sp_shift32(struct xdp_md *ctx, __u32 off, int odd, __u32 add,
				      __u64 *delta)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data + (off & XDPGW_MAX_L4_OFFSET);
	__u32 v;

	if ((void *)(p + 4) > data_end)
		return -1;
	__builtin_memcpy(&v, p, 4);
	return sp_put32(ctx, off, odd, bpf_htonl(bpf_ntohl(v) + add), delta);
}

/* A window field rescaled from `in` to `out` shifts. */
static __always_inline __u16 sp_rescale(__u16 window, __u8 in, __u8 out)
{
	__u64 w = ((__u64)window << (in & 15)) >> (out & 15);

	return w > 0xffff ? 0xffff : (__u16)w;
}

/*
 * The translation of an established cookie flow's packet, in place: from
 * the client (`to_backend`), acks and SACK blocks move into the backend's
 * sequence space and the echoed timestamp into its clock; from the backend,
 * its sequence numbers and timestamps move into what the client was given.
 * Windows are rescaled where the two sides scale differently. 0, or a drop
 * reason.
 */
__noinline int sp_translate(struct xdp_md *ctx, __u32 l4, const struct xdpgw_synproxy_flow *sp,
			    __u32 to_backend)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tcphdr *th = data + (l4 & XDPGW_MAX_L4_OFFSET);
	__u32 hdr_len, ts_off = 0;
	__u8 in, out, *opt;
	struct sp_opts o;
	__u16 window;
	__u64 delta = 0;

	if (!sp)
		return XDPGW_R_DROP_META_MISSING;
	if ((void *)(th + 1) > data_end)
		return XDPGW_R_DROP_TCP_TRUNCATED;
	hdr_len = th->doff * 4;
	window = th->window;
	if (to_backend) {
		if (th->ack) {
			__u32 ack = bpf_htonl(bpf_ntohl(th->ack_seq) + sp->seq_delta);

			delta = csum_delta32(delta, th->ack_seq, ack);
			th->ack_seq = ack;
		}
		in = sp->client_wscale;
		out = sp->backend_wscale == SP_NO_WSCALE ? 0 : sp->client_wscale;
	} else {
		__u32 seq = bpf_htonl(bpf_ntohl(th->seq) - sp->seq_delta);

		delta = csum_delta32(delta, th->seq, seq);
		th->seq = seq;
		in = sp->backend_wscale == SP_NO_WSCALE ? 0 : sp->backend_wscale;
		out = sp->synack_wscale;
	}
	if (!(sp->options & XDPGW_SP_OPT_WSCALE))
		in = out = 0;
	if (in != out) {
		__u16 w = bpf_htons(sp_rescale(bpf_ntohs(window), in, out));

		delta = csum_delta16(delta, window, w);
		th->window = w;
	}

	/* Options: Linux and most stacks put the timestamps first, after two
	 * NOPs; anything else is walked. */
	if (hdr_len > 20) {
		opt = (__u8 *)(th + 1);
		if ((void *)(opt + 4) > data_end)
			return XDPGW_R_DROP_TCP_TRUNCATED;
		/* From the client, only a header with nothing after the
		 * timestamps may skip the walk: SACK blocks need translating. */
		if ((hdr_len == 32 || (hdr_len > 32 && !to_backend)) && opt[0] == TCPOPT_NOP &&
		    opt[1] == TCPOPT_NOP && opt[2] == TCPOPT_TIMESTAMP && opt[3] == 10) {
			ts_off = 22;
		} else {
			sp_parse_opts(ctx, l4, hdr_len, &o);
			ts_off = o.ts_off;
			if (to_backend && o.sack_off) {
				__u32 base = l4 + o.sack_off + 2;
				int odd = o.sack_off & 1;

				for (int b = 0; b < 8; b++) {
					if (2 + (__u32)b * 4 + 4 > o.sack_len)
						break;
					if (sp_shift32(ctx, base + b * 4, odd, sp->seq_delta, &delta))
						return XDPGW_R_DROP_TCP_TRUNCATED;
				}
			}
		}
		if (ts_off) {
			/* tsval from the backend, tsecr from the client */
			__u32 field = l4 + ts_off + (to_backend ? 6 : 2);
			__u32 add = to_backend ? sp->ts_delta : -sp->ts_delta;

			if (sp_shift32(ctx, field, ts_off & 1, add, &delta))
				return XDPGW_R_DROP_TCP_TRUNCATED;
		}
	}

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	th = data + (l4 & XDPGW_MAX_L4_OFFSET);
	if ((void *)(th + 1) > data_end)
		return XDPGW_R_DROP_TCP_TRUNCATED;
	th->check = csum_apply(th->check, delta);
	return 0;
}

static __always_inline struct xdpgw_synproxy_counter *sp_stats(__u32 vip_id)
{
	return bpf_map_lookup_elem(&synproxy_stats, &vip_id);
}

/* The generation's [synproxy] announcements. */
static __always_inline void sp_settings(__u32 gen, int v6, __u16 *mss, __u8 *wscale)
{
	const struct xdpgw_lb_settings *lbs;
	__u32 zero = 0;

	lbs = cfg_lookup(&cfg_lb, gen, &zero);
	*mss = v6 ? XDPGW_SP_MSS_DEFAULT6 : XDPGW_SP_MSS_DEFAULT4;
	*wscale = XDPGW_SP_WSCALE_DEFAULT;
	if (!lbs)
		return;
	if (v6 ? lbs->synproxy_mss6 : lbs->synproxy_mss4)
		*mss = v6 ? lbs->synproxy_mss6 : lbs->synproxy_mss4;
	if (lbs->synproxy_wscale <= XDPGW_SP_WSCALE_MAX)
		*wscale = lbs->synproxy_wscale;
}

/* A client's SYN: answered with a cookie SYN-ACK, nothing stored. */
static __noinline int sp_answer_syn(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
					 int v6, const struct xdpgw_vip *vip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4 = sp_l4_off(v6), hdr_len, bits, mss_class = 0;
	struct xdpgw_synproxy_counter *c;
	struct sp_hdr h = sp_hdr_empty();
	__u8 tcp[60];
	struct tcphdr *th;
	struct sp_opts o;
	__s64 cookie;
	__u8 wscale;
	__u16 mss;

	c = sp_stats(vip->vip_id);
	if (c)
		c->syns++;
	th = data + l4;
	if ((void *)(th + 1) > data_end)
		return drop(ctx, XDPGW_R_DROP_TCP_TRUNCATED);
	hdr_len = th->doff * 4;
	if (hdr_len < 20 || hdr_len > sizeof(tcp) ||
	    bpf_xdp_load_bytes(ctx, l4, tcp, hdr_len))
		return drop(ctx, XDPGW_R_DROP_TCP_BAD_DOFF);
	if (v6) {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) > data_end)
			return drop(ctx, XDPGW_R_DROP_IPV6_TRUNCATED);
		cookie = bpf_tcp_raw_gen_syncookie_ipv6(ip6, (struct tcphdr *)tcp, hdr_len);
	} else {
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) > data_end)
			return drop(ctx, XDPGW_R_DROP_IPV4_TRUNCATED);
		cookie = bpf_tcp_raw_gen_syncookie_ipv4(ip, (struct tcphdr *)tcp, hdr_len);
	}
	if (cookie < 0)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
	sp_parse_opts(ctx, l4, hdr_len, &o);
	sp_settings(meta->gen, v6, &mss, &wscale);

	h.seq = (__u32)cookie;
	h.ack = bpf_ntohl(((struct tcphdr *)tcp)->seq) + 1;
	h.flags = 0x12; /* SYN, ACK */
	h.window = 0;	/* opened by the backend's SYN-ACK (see the top) */
	h.mss = mss;
	/* Without timestamps the ACK brings nothing back but the cookie: no
	 * window scaling, no SACK (as Linux's own cookies). */
	if (o.ts_off) {
		__u32 cookie_mss = (__u32)(cookie >> 32) & 0xffff;

#pragma unroll
		for (int i = 1; i < 4; i++)
			if (cookie_mss >= sp_mss_class(i))
				mss_class = i;
		bits = (o.wscale == SP_NO_WSCALE ? XDPGW_SP_TS_WSCALE_MASK : o.wscale) |
		       (o.sack_perm ? XDPGW_SP_TS_SACK : 0) | mss_class << XDPGW_SP_TS_MSS_SHIFT;
		h.ts = 1;
		h.tsval = ((__u32)(bpf_ktime_get_ns() >> 20) & ~((1u << XDPGW_SP_TS_BITS) - 1)) |
			  bits;
		h.tsecr = o.tsval;
		h.sack_perm = o.sack_perm;
		if (o.wscale != SP_NO_WSCALE)
			h.wscale = wscale;
	}
	if (sp_emit(ctx, v6, 1, &h))
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
	if (c)
		c->cookies_sent++;
	return record(ctx, XDP_TX, XDPGW_R_TX_SYNPROXY_SYNACK);
}

/* The forward request of a packet this stage rebuilt or translated, routed
 * like any NAT packet (lb.h): the flow `key` names (looked up again: a
 * global function is verified once, not once per caller, and may take no
 * pointer into a map it would update atomically). `ports`: the packet's
 * source port << 16 | destination port (network order). */
__noinline int sp_forward(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
			  const struct xdpgw_flow_key *key, __u32 ports, __u32 new_flow)
{
	struct flow_ports fp = { .sport = ports >> 16, .dport = ports & 0xffff };
	struct xdpgw_fwd_request fwd = routed_as_is(&fp);
	struct xdpgw_flow *flow;
	int verdict;

	if (!meta || !key)
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	flow = bpf_map_lookup_elem(&conn_table, key);
	if (!flow)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
	verdict = lb_apply(ctx, meta, &fp, flow, new_flow != 0, 0, NULL, &fwd, 1);
	if (verdict != XDPGW_FORWARD)
		return verdict == XDPGW_GO_ON ? drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW) : verdict;
	fp.sport = fwd.sport;
	fp.dport = fwd.dport;
	return route_and_redirect(ctx, meta, &fp, fwd.reason, 0);
}

static __always_inline __u32 sp_ports(const struct flow_ports *fp)
{
	return (__u32)fp->sport << 16 | fp->dport;
}

/* What the per-packet functions below return when the packet is to be
 * forwarded (XDPGW_FORWARD; this one for a flow's first packet): the
 * program calls sp_forward itself, so its frame is not stacked on theirs. */
#define SP_FORWARD_NEW_FLOW (-4)

/* The SYN to the backend of a cookie flow: the client's own ISN, and the
 * options it asked for, as the cookie's timestamp brought them back. */
static __always_inline void sp_backend_syn(const struct xdpgw_synproxy_flow *sp, struct sp_hdr *h)
{
	h->seq = sp->client_isn;
	h->ack = 0;
	h->flags = 0x02; /* SYN */
	h->mss = sp->mss_class == 0xff ? XDPGW_SP_MSS_NO_TS : sp_mss_class(sp->mss_class);
	h->window = sp_rescale(sp->client_window, sp->client_wscale, 0);
	if (sp->options & XDPGW_SP_OPT_TS) {
		h->ts = 1;
		h->tsval = sp->client_tsval;
		h->tsecr = 0;
	}
	h->sack_perm = (sp->options & XDPGW_SP_OPT_SACK) != 0;
	if (sp->options & XDPGW_SP_OPT_WSCALE)
		h->wscale = sp->client_wscale;
}

/* A client's ACK to a VIP with cookies on, of no known flow: when its
 * cookie checks out, the flow is opened and the ACK becomes the SYN to the
 * backend. */
static __noinline int sp_open(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
				   const struct xdpgw_flow_key *key,
				   const struct flow_ports *fp, const struct xdpgw_vip *vip)
{
	int v6 = meta->l3_proto == ETH_P_IPV6;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4 = sp_l4_off(v6), backend_id = 0;
	struct xdpgw_synproxy_counter *c = sp_stats(vip->vip_id);
	const struct xdpgw_backend *be;
	struct sp_scratch *scratch = sp_scratch_get();
	struct xdpgw_synproxy_flow *sp;
	struct sp_hdr *h;
	struct xdpgw_flow *flow, *live;
	__u32 zero = 0;
	struct tcphdr *th;
	struct sp_opts *o;
	long rc;

	if (!scratch)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
	sp = &scratch->sp;
	h = &scratch->h;
	o = &scratch->o;

	th = data + l4;
	if ((void *)(th + 1) > data_end)
		return drop(ctx, XDPGW_R_DROP_TCP_TRUNCATED);
	if (v6) {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) > data_end)
			return drop(ctx, XDPGW_R_DROP_IPV6_TRUNCATED);
		rc = bpf_tcp_raw_check_syncookie_ipv6(ip6, th);
	} else {
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) > data_end)
			return drop(ctx, XDPGW_R_DROP_IPV4_TRUNCATED);
		rc = bpf_tcp_raw_check_syncookie_ipv4(ip, th);
	}
	if (rc) {
		if (c)
			c->cookies_failed++;
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_BAD_COOKIE);
	}
	sp->client_isn = bpf_ntohl(th->seq) - 1;
	sp->cookie = bpf_ntohl(th->ack_seq) - 1;
	sp->client_window = bpf_ntohs(th->window);
	sp_parse_opts(ctx, l4, th->doff * 4, o);

	sp->backend_wscale = SP_NO_WSCALE;
	sp->mss_class = 0xff;
	if (o->ts_off) {
		__u32 bits = o->tsecr & ((1u << XDPGW_SP_TS_BITS) - 1);
		__u32 ws = bits & XDPGW_SP_TS_WSCALE_MASK;

		sp->options |= XDPGW_SP_OPT_TS;
		sp->client_tsval = o->tsval;
		sp->synack_tsval = o->tsecr;
		sp->mss_class = (bits >> XDPGW_SP_TS_MSS_SHIFT) & 3;
		if (bits & XDPGW_SP_TS_SACK)
			sp->options |= XDPGW_SP_OPT_SACK;
		if (ws != XDPGW_SP_TS_WSCALE_MASK && ws <= XDPGW_SP_WSCALE_MAX) {
			__u16 mss_unused;

			sp->options |= XDPGW_SP_OPT_WSCALE;
			sp->client_wscale = ws;
			sp_settings(meta->gen, v6, &mss_unused, &sp->synack_wscale);
		}
	}
	sp_backend_syn(sp, h);

	be = lb_pick_backend(vip, key, meta->gen, &backend_id);
	/* Cookies are for NAT VIPs only (the config says so): a DSR
	 * backend's answers never pass here. */
	if (!be || be->family != key->family || vip->mode != XDPGW_LB_NAT)
		return drop(ctx, XDPGW_R_DROP_LB_NO_BACKEND);
	sp->state = XDPGW_SP_WAIT_BACKEND;
	/* The translation first: the flow's packets look it up once they
	 * find the flow. Another CPU may open the same flow from a repeated
	 * ACK; the first entry stays. */
	bpf_map_update_elem(&synproxy_flows, key, sp, BPF_NOEXIST);
	/* The new entry is built in this CPU's scratch entry: the stack has
	 * no room for it beside the route lookup's. */
	flow = bpf_map_lookup_elem(&lb_scratch, &zero);
	if (!flow)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
	__builtin_memset(flow, 0, sizeof(*flow));
	lb_flow_init(flow, key, vip, be, backend_id);
	flow->flags = XDPGW_FLOW_F_SYNPROXY;
	lb_insert_pair(&conn_table, key, flow, XDPGW_CONN_INSERTED);
	live = bpf_map_lookup_elem(&conn_table, key);
	if (!live)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
	if (c)
		c->cookies_valid++;

	if (sp_emit(ctx, v6, 0, h))
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
	meta->l3_len = v6 ? sizeof(struct ipv6hdr) + SP_TCP_LEN : sizeof(struct iphdr) + SP_TCP_LEN;
	return SP_FORWARD_NEW_FLOW;
}

/* The forward key of a NAT flow from the key and entry of its reverse
 * direction (lb_reverse_key's inverse). */
static __always_inline void sp_forward_key(const struct xdpgw_flow_key *rk,
					   const struct xdpgw_flow *rev,
					   struct xdpgw_flow_key *fk)
{
	__builtin_memset(fk, 0, sizeof(*fk));
	__builtin_memcpy(fk->src, rk->dst, 16);
	__builtin_memcpy(fk->dst, rev->target, 16);
	fk->sport = rk->dport;
	fk->dport = rev->target_port;
	fk->proto = rk->proto;
	fk->family = rk->family;
}

/* A packet from the backend of a cookie flow. */
static __noinline int sp_from_backend(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					   const struct xdpgw_flow_key *key,
					   const struct flow_ports *fp, struct xdpgw_flow *flow)
{
	int v6 = meta->l3_proto == ETH_P_IPV6;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4 = sp_l4_off(v6), reason, seq;
	struct sp_scratch *scratch = sp_scratch_get();
	struct sp_hdr *h;
	struct xdpgw_synproxy_flow *sp;
	struct xdpgw_synproxy_counter *c;
	struct xdpgw_flow_key fk;
	struct tcphdr *th;
	struct sp_opts *o;
	__u8 flags;

	if (!scratch)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
	h = &scratch->h;
	o = &scratch->o;

	sp_forward_key(key, flow, &fk);
	sp = bpf_map_lookup_elem(&synproxy_flows, &fk);
	if (!sp)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
	th = data + l4;
	if ((void *)(th + 1) > data_end)
		return drop(ctx, XDPGW_R_DROP_TCP_TRUNCATED);
	flags = ((__u8 *)th)[13];
	seq = bpf_ntohl(th->seq);

	if ((flags & (LB_TCP_SYN | LB_TCP_ACK)) == (LB_TCP_SYN | LB_TCP_ACK)) {
		sp_parse_opts(ctx, l4, th->doff * 4, o);
		if (sp->state == XDPGW_SP_WAIT_BACKEND) {
			if (bpf_ntohl(th->ack_seq) != sp->client_isn + 1)
				return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
			sp->seq_delta = seq - sp->cookie;
			sp->ts_delta = o->tsval - sp->synack_tsval;
			sp->backend_wscale = o->wscale;
			sp->state = XDPGW_SP_OPEN;
			c = sp_stats(flow->vip_id);
			if (c)
				c->backend_answered++;
			/* The client's window update, from the backend's
			 * (unscaled) SYN-ACK window. */
			h->seq = sp->cookie + 1;
			h->ack = sp->client_isn + 1;
			h->flags = LB_TCP_ACK;
			h->window = sp_rescale(bpf_ntohs(th->window), 0,
					      sp->options & XDPGW_SP_OPT_WSCALE ? sp->synack_wscale
										: 0);
			if (sp->options & XDPGW_SP_OPT_TS) {
				h->ts = 1;
				h->tsval = sp->synack_tsval;
				h->tsecr = sp->client_tsval;
			}
			if (sp_emit(ctx, v6, 0, h))
				return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
			meta->l3_len = v6 ? sizeof(struct ipv6hdr) + SP_TCP_LEN
					  : sizeof(struct iphdr) + SP_TCP_LEN;
			return XDPGW_FORWARD;
		}
		/* Repeated: the client has nothing to say yet (a protocol
		 * where the server speaks first), so the gateway completes
		 * the backend's handshake itself. */
		if (seq != sp->seq_delta + sp->cookie)
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
		h->seq = sp->client_isn + 1;
		h->ack = seq + 1;
		h->flags = LB_TCP_ACK;
		h->window = sp->client_window;
		if (sp->options & XDPGW_SP_OPT_WSCALE && sp->backend_wscale == SP_NO_WSCALE)
			h->window = sp_rescale(sp->client_window, sp->client_wscale, 0);
		if (sp->options & XDPGW_SP_OPT_TS) {
			h->ts = 1;
			h->tsval = sp->client_tsval;
			h->tsecr = o->tsval;
		}
		if (sp_emit(ctx, v6, 1, h))
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
		return record(ctx, XDP_TX, XDPGW_R_TX_SYNPROXY_ACK);
	}
	if (sp->state == XDPGW_SP_WAIT_BACKEND) {
		__u64 delta;

		if (!(flags & LB_TCP_RST))
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_WAITING);
		/* The backend refused: the client learns it at once, with a
		 * sequence number it accepts. */
		delta = csum_delta32(0, th->seq, bpf_htonl(sp->cookie + 1));
		th->seq = bpf_htonl(sp->cookie + 1);
		th->check = csum_apply(th->check, delta);
		return XDPGW_FORWARD;
	}
	reason = sp_translate(ctx, l4, sp, 0);
	if (reason)
		return drop(ctx, reason);
	return XDPGW_FORWARD;
}

/* A packet from the client of a cookie flow. */
static __noinline int sp_from_client(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					  const struct xdpgw_flow_key *key,
					  const struct flow_ports *fp, struct xdpgw_flow *flow)
{
	struct xdpgw_synproxy_flow *sp = bpf_map_lookup_elem(&synproxy_flows, key);
	int v6 = meta->l3_proto == ETH_P_IPV6;
	struct xdpgw_synproxy_counter *c;
	__u32 reason;

	if (!sp)
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
	if (sp->state != XDPGW_SP_OPEN) {
		struct sp_scratch *scratch = sp_scratch_get();
		struct tcphdr *th = l4_header(ctx, meta, sizeof(*th));

		/* The gateway's SYN may have been lost (a backend's full
		 * listen queue drops SYNs) and only the client retransmits:
		 * its zero-window probes, at its own backoff, send the SYN
		 * again. Anything else waits. */
		if (!scratch || !th || th->syn || th->rst || th->fin)
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_WAITING);
		sp_backend_syn(sp, &scratch->h);
		if (sp_emit(ctx, v6, 0, &scratch->h))
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
		c = sp_stats(flow->vip_id);
		if (c)
			c->backend_syn_repeats++;
		meta->l3_len = v6 ? sizeof(struct ipv6hdr) + SP_TCP_LEN
				  : sizeof(struct iphdr) + SP_TCP_LEN;
		return XDPGW_FORWARD;
	}
	reason = sp_translate(ctx, sp_l4_off(v6), sp, 1);
	if (reason)
		return drop(ctx, reason);
	return XDPGW_FORWARD;
}

/* Removes a cookie flow (forward entry `flow` under `key`): its two
 * conn_table entries and its translation. */
static __always_inline void sp_forget(const struct xdpgw_flow_key *key, const struct xdpgw_flow *flow)
{
	struct xdpgw_flow_key rk;

	lb_reverse_key(key, flow, &rk);
	bpf_map_delete_elem(&conn_table, &rk);
	bpf_map_delete_elem(&conn_table, key);
	bpf_map_delete_elem(&synproxy_flows, key);
}

SEC("xdp")
int xdpgw_synproxy(struct xdp_md *ctx)
{
	struct xdpgw_flow_key key __attribute__((aligned(8)));
	struct xdpgw_pkt_meta meta;
	const struct xdpgw_vip *vip;
	struct xdpgw_flow *flow;
	struct flow_ports fp;
	struct tcphdr *th;
	int reason, v6, verdict;
	__u8 flags;

	if (take_over(ctx, &meta)) {
		reason = xdpgw_parse(ctx, &meta, XDPGW_PARSE_RECEIVED);
		if (reason == XDPGW_R_PASS_NOT_IP)
			return pass(ctx, reason);
		if (reason)
			return drop(ctx, reason);
	}
	if (!have_feature(XDPGW_FEAT_SYNCOOKIE))
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
	v6 = meta.l3_proto == ETH_P_IPV6;
	/* Cookie packets are rebuilt at fixed offsets: untagged, no IPv4
	 * options (the load balancer leaves those to the kernel) and no IPv6
	 * extension headers. */
	if (meta.slot != XDPGW_SLOT_TCP || meta.vlan_depth || meta.l4_off != sp_l4_off(v6))
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_REBUILD);
	th = l4_header(ctx, &meta, sizeof(*th));
	if (!th)
		return drop(ctx, XDPGW_R_DROP_TCP_TRUNCATED);
	fp.sport = th->source;
	fp.dport = th->dest;
	flags = ((__u8 *)th)[13];
	if (flow_key_from_packet(ctx, &meta, fp.sport, fp.dport, &key))
		return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);

	flow = bpf_map_lookup_elem(&conn_table, &key);
	if (flow && (flow->flags & XDPGW_FLOW_F_SYNPROXY) && flow->action == XDPGW_FLOW_LB_NAT &&
	    (flags & (LB_TCP_SYN | LB_TCP_ACK | LB_TCP_RST)) == LB_TCP_SYN) {
		/* A new connection on the tuple of an old one (the client
		 * reuses its port): the old flow is over, and this one needs
		 * its own cookie and translation. */
		sp_forget(&key, flow);
		flow = NULL;
	}
	if (flow && (flow->flags & XDPGW_FLOW_F_SYNPROXY)) {
		if (flow->action == XDPGW_FLOW_LB_REVERSE_NAT)
			verdict = sp_from_backend(ctx, &meta, &key, &fp, flow);
		else
			verdict = sp_from_client(ctx, &meta, &key, &fp, flow);
	} else {
		vip = lb_find_vip(&key, meta.gen);
		if (!vip)
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
		if ((flags & (LB_TCP_SYN | LB_TCP_ACK | LB_TCP_RST)) == LB_TCP_SYN)
			return sp_answer_syn(ctx, &meta, v6, vip);
		if ((flags & (LB_TCP_SYN | LB_TCP_ACK | LB_TCP_RST)) != LB_TCP_ACK)
			return drop(ctx, XDPGW_R_DROP_SYNPROXY_NO_FLOW);
		verdict = sp_open(ctx, &meta, &key, &fp, vip);
	}
	if (verdict == XDPGW_FORWARD || verdict == SP_FORWARD_NEW_FLOW)
		return sp_forward(ctx, &meta, &key, sp_ports(&fp), verdict == SP_FORWARD_NEW_FLOW);
	return verdict;
}
