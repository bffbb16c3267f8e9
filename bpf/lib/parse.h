/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Bounds-checked header parsing. Every parse_* returns 0 on success or the
 * enum xdpgw_reason that explains why the frame is not acceptable, and fills
 * struct xdpgw_pkt_meta as it goes; parse_packet() runs them all. Every read is preceded by a check against
 * data_end; every loop has a constant bound.
 */
#ifndef XDPGW_PARSE_H
#define XDPGW_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpgw/shared.h"
#include "csum.h"
#include "maps.h"

/* Address families as the flow key and the FIB helper spell them; libc's
 * <sys/socket.h> does not build for -target bpf. */
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* <linux/icmp.h> drags in <linux/if.h> and with it libc's socket headers,
 * which do not build for -target bpf; only the fixed header size is needed. */
struct icmp_fixed_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* id/sequence, gateway, or unused, depending on type */
};

struct vlan_tag {
	__be16 tci;
	__be16 encap_proto;
};

/* Generic IPv6 extension header prefix (RFC 8200 4.x). */
struct ipv6_ext_prefix {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M flag */
	__be32 identification;
};

#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1FFF
#define IPV6_FRAG_OFFSET_MASK 0xFFF8
#define IPV6_FRAG_MF 0x0001

/* Ethernet plus up to XDPGW_VLAN_MAX_DEPTH 802.1Q/802.1ad tags. On success
 * *proto is the inner EtherType (network order) and meta->l3_off is set. */
static __always_inline int parse_l2(void *data, void *data_end,
				    struct xdpgw_pkt_meta *meta, __be16 *proto)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__be16 type;

	if ((void *)(eth + 1) > data_end)
		return XDPGW_R_DROP_ETH_TRUNCATED;
	type = eth->h_proto;

	/* One iteration more than the allowed depth: it only looks at whether a
	 * further tag follows, to call it too deep. */
#pragma unroll
	for (int i = 0; i <= XDPGW_VLAN_MAX_DEPTH; i++) {
		struct vlan_tag *tag;

		if (type != bpf_htons(ETH_P_8021Q) &&
		    type != bpf_htons(ETH_P_8021AD))
			break;
		if (i == XDPGW_VLAN_MAX_DEPTH)
			return XDPGW_R_DROP_VLAN_TOO_DEEP;
		tag = data + off;
		if ((void *)(tag + 1) > data_end)
			return XDPGW_R_DROP_VLAN_TRUNCATED;
		meta->vlan_tci[i] = bpf_ntohs(tag->tci);
		meta->vlan_depth = i + 1;
		type = tag->encap_proto;
		off += sizeof(*tag);
	}
	meta->l3_off = off;
	*proto = type;
	return 0;
}

static __always_inline int parse_ipv4(void *data, void *data_end,
				      struct xdpgw_pkt_meta *meta, int verify_checksum)
{
	/* l3_off is at most 14 + 2 * 4: a constant bound the verifier sees. */
	struct iphdr *ip = data + (meta->l3_off & 0x1f);
	__u32 hdr_len, tot_len;
	__u16 frag;

	if ((void *)(ip + 1) > data_end)
		return XDPGW_R_DROP_IPV4_TRUNCATED;
	if (ip->version != 4)
		return XDPGW_R_DROP_IPV4_BAD_VERSION;
	hdr_len = ip->ihl * 4;
	if (hdr_len < sizeof(*ip))
		return XDPGW_R_DROP_IPV4_BAD_IHL;
	if ((void *)ip + hdr_len > data_end)
		return XDPGW_R_DROP_IPV4_TRUNCATED;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < hdr_len)
		return XDPGW_R_DROP_IPV4_BAD_TOTLEN;
	/* Shorter than the header says: a cut frame (the kernel counts these as
	 * InTruncatedPkts). Longer is Ethernet padding and is fine. */
	if ((void *)ip + tot_len > data_end)
		return XDPGW_R_DROP_IPV4_TRUNCATED;
	if (verify_checksum && hdr_len == sizeof(*ip) && !ipv4_checksum_ok(ip))
		return XDPGW_R_DROP_IPV4_BAD_CHECKSUM;

	if (hdr_len > sizeof(*ip))
		meta->flags |= XDPGW_META_F_IPV4_OPTIONS;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & (IPV4_MF | IPV4_OFFSET_MASK))
		meta->flags |= XDPGW_META_F_FRAGMENT;
	if (frag & IPV4_OFFSET_MASK)
		meta->flags |= XDPGW_META_F_LATER_FRAGMENT;

	meta->l3_proto = ETH_P_IP;
	meta->l3_len = tot_len;
	meta->l4_off = meta->l3_off + hdr_len;
	meta->l4_proto = ip->protocol;
	return 0;
}

static __always_inline int parse_ipv6(void *data, void *data_end,
				      struct xdpgw_pkt_meta *meta)
{
	struct ipv6hdr *ip6 = data + (meta->l3_off & 0x1f);
	__u32 off, end;
	__u8 nexthdr;

	if ((void *)(ip6 + 1) > data_end)
		return XDPGW_R_DROP_IPV6_TRUNCATED;
	if (ip6->version != 6)
		return XDPGW_R_DROP_IPV6_BAD_VERSION;
	end = (meta->l3_off & 0x1f) + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (data + end > data_end)
		return XDPGW_R_DROP_IPV6_TRUNCATED;

	meta->l3_proto = ETH_P_IPV6;
	meta->l3_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	nexthdr = ip6->nexthdr;
	off = (meta->l3_off & 0x1f) + sizeof(*ip6);

#pragma unroll
	for (int i = 0; i <= XDPGW_IPV6_EXT_MAX_CHAIN; i++) {
		struct ipv6_ext_prefix *ext;
		__u32 len;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_FRAGMENT:
		case IPPROTO_AH:
		case IPPROTO_MH:
			break;
		default:
			/* Upper-layer header (or ESP / no-next-header, which
			 * the fast path does not look into). */
			goto done;
		}
		if (i == XDPGW_IPV6_EXT_MAX_CHAIN)
			return XDPGW_R_DROP_IPV6_EXT_TOO_DEEP;

		/* Each header is at most 2 KiB; the mask tells the verifier
		 * the cursor stays in a range it can check. */
		off &= 0x3fff;
		ext = data + off;
		if ((void *)(ext + 1) > data_end)
			return XDPGW_R_DROP_IPV6_EXT_TRUNCATED;

		if (nexthdr == IPPROTO_FRAGMENT) {
			struct ipv6_frag_hdr *fh = data + off;

			if ((void *)(fh + 1) > data_end)
				return XDPGW_R_DROP_IPV6_EXT_TRUNCATED;
			meta->flags |= XDPGW_META_F_FRAGMENT;
			if (bpf_ntohs(fh->frag_off) & IPV6_FRAG_OFFSET_MASK)
				meta->flags |= XDPGW_META_F_LATER_FRAGMENT;
			len = sizeof(*fh);
		} else if (nexthdr == IPPROTO_AH) {
			len = ((__u32)ext->hdrlen + 2) * 4;
		} else {
			if (nexthdr == IPPROTO_HOPOPTS)
				meta->flags |= XDPGW_META_F_HOP_BY_HOP;
			len = ((__u32)ext->hdrlen + 1) * 8;
		}
		nexthdr = ext->nexthdr;
		off += len;
		if (off > end)
			return XDPGW_R_DROP_IPV6_BAD_PAYLOAD_LEN;
		if (data + off > data_end)
			return XDPGW_R_DROP_IPV6_EXT_TRUNCATED;
	}
done:
	if (off > XDPGW_MAX_L4_OFFSET)
		return XDPGW_R_DROP_IPV6_EXT_TOO_DEEP;
	meta->l4_off = off;
	meta->l4_proto = nexthdr;
	return 0;
}

/* Which handler gets the packet. Fragments have no (complete) L4 header in
 * general, so they all go to "other", as does any protocol without a
 * handler. */
static __always_inline __u8 choose_slot(const struct xdpgw_pkt_meta *meta)
{
	if (meta->flags & XDPGW_META_F_FRAGMENT)
		return XDPGW_SLOT_OTHER;
	switch (meta->l4_proto) {
	case IPPROTO_TCP:
		return XDPGW_SLOT_TCP;
	case IPPROTO_UDP:
		return XDPGW_SLOT_UDP;
	case IPPROTO_ICMP:
		return meta->l3_proto == ETH_P_IP ? XDPGW_SLOT_ICMP
						  : XDPGW_SLOT_OTHER;
	case IPPROTO_ICMPV6:
		return meta->l3_proto == ETH_P_IPV6 ? XDPGW_SLOT_ICMPV6
						    : XDPGW_SLOT_OTHER;
	default:
		return XDPGW_SLOT_OTHER;
	}
}

/* L2 and L3 of the packet in `ctx`, into `meta` (zeroed first). Returns 0,
 * XDPGW_R_PASS_NOT_IP for a frame that is not IP, or the drop reason. The
 * caller sets meta->gen. `verify_checksum`: 0 only for a frame whose IPv4
 * header checksum an earlier stage verified (RFC 1812 input check). */
static __always_inline int parse_packet(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
					int verify_checksum)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__be16 proto;
	int reason;

	__builtin_memset(meta, 0, sizeof(*meta));
	reason = parse_l2(data, data_end, meta, &proto);
	if (reason)
		return reason;
	if (proto == bpf_htons(ETH_P_IP))
		reason = parse_ipv4(data, data_end, meta, verify_checksum);
	else if (proto == bpf_htons(ETH_P_IPV6))
		reason = parse_ipv6(data, data_end, meta);
	else
		return XDPGW_R_PASS_NOT_IP;
	if (reason)
		return reason;
	meta->slot = choose_slot(meta);
	return 0;
}

/* What the packet needs of its generation's settings (meta->gen set). */
static __always_inline void settings_into(struct xdpgw_pkt_meta *meta)
{
	__u32 zero = 0;
	const struct xdpgw_settings *s = cfg_lookup(&cfg_settings, meta->gen, &zero);

	meta->route_source = s ? s->route_source : XDPGW_ROUTE_NONE;
	meta->skip = s ? s->skip : 0;
	meta->cpu_count = s && s->cpu_count <= XDPGW_MAX_CPUS ? s->cpu_count : 0;
}

/* The dispatcher's side of the hand-over (shared.h, struct xdpgw_parsed). */
static __always_inline void hand_over(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta)
{
	__u32 zero = 0;
	struct xdpgw_parsed *p = bpf_map_lookup_elem(&parsed, &zero);

	if (!p)
		return; /* the handler parses again */
	p->frame_len = (__u64)ctx->data_end - (__u64)ctx->data;
	p->ifindex = ctx->ingress_ifindex;
	p->rx_queue = ctx->rx_queue_index;
	p->meta = *meta;
	p->layout = XDPGW_PARSED_LAYOUT;
}

static __always_inline void withdraw_hand_over(void)
{
	__u32 zero = 0;
	struct xdpgw_parsed *p = bpf_map_lookup_elem(&parsed, &zero);

	if (p)
		p->layout = 0;
}

/* The handler's side: copies the dispatcher's result for this packet into
 * `out` and marks it consumed. Returns 0, or -1 when there is none for this
 * packet (then the caller parses the packet itself). */
static __always_inline int take_over(struct xdp_md *ctx, struct xdpgw_pkt_meta *out)
{
	__u32 zero = 0;
	struct xdpgw_parsed *p = bpf_map_lookup_elem(&parsed, &zero);

	if (!p || p->layout != XDPGW_PARSED_LAYOUT)
		return -1;
	p->layout = 0;
	if (p->frame_len != (__u64)ctx->data_end - (__u64)ctx->data ||
	    p->ifindex != ctx->ingress_ifindex || p->rx_queue != ctx->rx_queue_index)
		return -1;
	*out = p->meta;
	/* Bounds the verifier needs for the offsets (the dispatcher never
	 * produces larger ones). */
	if (out->l4_off > XDPGW_MAX_L4_OFFSET || out->l3_off > 0x1f)
		return -1;
	return 0;
}

/* Offset one past the IP payload: L4 headers must end before it (bytes
 * after it are Ethernet padding). */
static __always_inline __u32 l3_end(const struct xdpgw_pkt_meta *meta)
{
	return (__u32)meta->l3_off + meta->l3_len;
}

/* Pointer to an L4 header of `size` bytes, or NULL when it does not fit in
 * the frame or in the IP payload. */
static __always_inline void *l4_header(struct xdp_md *ctx,
				       const struct xdpgw_pkt_meta *meta,
				       __u32 size)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = meta->l4_off & XDPGW_MAX_L4_OFFSET;
	void *hdr = data + off;

	if (hdr + size > data_end || off + size > l3_end(meta))
		return NULL;
	return hdr;
}

#endif /* XDPGW_PARSE_H */
