/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared by bpf/proxy.bpf.c and the daemon's proxy mode
 * (gateway/proxy/): fixed-width fields only, sizes static_asserted in
 * gateway/proxy/splice.cpp. Its own header, not shared.h: the XDP datapath
 * knows nothing of proxied connections.
 */
#ifndef XDPGW_PROXY_H
#define XDPGW_PROXY_H

#include <linux/types.h>

/* Spliced sockets at most: two per proxied connection. */
#define XDPGW_PROXY_MAX_SOCKETS 262144
#define XDPGW_PROXY_MAX_CONNECTIONS (XDPGW_PROXY_MAX_SOCKETS / 2)

/*
 * proxy_peers value, keyed by a socket's cookie (SO_COOKIE): where the
 * bytes read from that socket go, and how many went.
 */
struct xdpgw_proxy_peer {
	__u64 peer_cookie; /* SOCKHASH key of the socket to write to */
	__u64 bytes;       /* payload redirected from this socket to the peer */
	__u64 segments;    /* skbs redirected (a coarse activity clock for idle timeouts) */
	__u64 next_check;  /* `bytes` at which the daemon hears from this socket next */
};

/*
 * Every XDPGW_PROXY_CHECK_BYTES redirected from a socket, the verdict tells
 * the daemon (proxy_events), which compares them with what reached the
 * peer's send queue: a redirect to egress has no backpressure of its own,
 * so the daemon copies a direction that runs too far ahead of its peer
 * itself from then on (proxy_passive), at the pace the peer takes it.
 */
#define XDPGW_PROXY_CHECK_BYTES (1u << 20)

struct xdpgw_proxy_event {
	__u64 cookie; /* the socket whose redirected bytes crossed a check */
	__u64 bytes;
};

/* proxy_stats index (PERCPU_ARRAY). Append-only. */
enum xdpgw_proxy_stat {
	XDPGW_PROXY_REDIRECTED = 0, /* skb handed to the peer's egress */
	XDPGW_PROXY_NO_PEER = 1,    /* no proxy_peers entry: socket being torn down */
	XDPGW_PROXY_REDIRECT_FAILED = 2, /* peer not in the SOCKHASH */
	XDPGW_PROXY_EMPTY = 3,      /* no payload (a bare FIN): nothing to carry */
	XDPGW_PROXY_PASSED = 4,     /* to the socket's own queue: the daemon copies this direction */
	XDPGW_PROXY_STAT_COUNT = 5,
};

struct xdpgw_proxy_counter {
	__u64 skbs;
	__u64 bytes;
};

#endif /* XDPGW_PROXY_H */
