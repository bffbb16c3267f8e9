// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Proxy mode's splice: every TCP socket of a proxied connection (the client
 * side the daemon accepted, the backend side it connected) is in
 * proxy_socks, and this stream verdict program runs on each skb such a
 * socket receives. It sends the bytes out of the peer socket
 * (bpf_sk_redirect_hash without BPF_F_INGRESS = the peer's egress), so user
 * space never copies payload. FIN and RST are not carried by a redirect:
 * the daemon sees them as EOF/error on the socket and forwards them.
 *
 * No stream parser: the verdict does not depend on message boundaries, so
 * every skb is redirected whole as it arrives (strparser would add a copy
 * and a length callback for nothing).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdpgw/proxy.h"

/*
 * Two SOCKHASHes, keyed by socket cookie, which both the daemon
 * (getsockopt SO_COOKIE) and this program (bpf_get_socket_cookie) know, so
 * no slot allocator is needed and a socket's key never changes:
 *   proxy_targets  no program: where a redirect looks the peer up
 *   proxy_socks    this program attached: its sockets' bytes run through it
 * A socket runs the verdict from the moment it enters proxy_socks, and its
 * first bytes (a request, a server's greeting) may be waiting already: the
 * daemon puts both sockets of a pair in proxy_targets first, so either
 * finds its peer whichever enters proxy_socks first. The daemon inserts
 * and deletes in both.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, XDPGW_PROXY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} proxy_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, XDPGW_PROXY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} proxy_socks SEC(".maps");

/*
 * HASH cookie -> 1: sockets whose bytes the daemon copies itself from now
 * on, because their peer could not keep up. The verdict passes their skbs
 * to the socket's own queue, whose memory counts against its receive
 * buffer, so TCP's window holds the sender back. Written by the daemon,
 * read here. (Not a field of proxy_peers: the daemon would rewrite the
 * counters this program adds to.)
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_PROXY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u32);
} proxy_passive SEC(".maps");

/* Flow-control checks for the daemon (see XDPGW_PROXY_CHECK_BYTES). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proxy_events SEC(".maps");

/*
 * HASH cookie -> peer cookie and byte counter. The daemon writes the peer
 * before inserting either socket in proxy_socks and deletes it on teardown;
 * this program reads it and adds to the counters (atomically: a socket's
 * skbs are normally handled on one CPU, but nothing promises it).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_PROXY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct xdpgw_proxy_peer);
} proxy_peers SEC(".maps");

/* Per-CPU counters by enum xdpgw_proxy_stat; the daemon sums them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_PROXY_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct xdpgw_proxy_counter);
} proxy_stats SEC(".maps");

static __always_inline int count(__u32 what, __u32 len, int verdict)
{
	struct xdpgw_proxy_counter *c = bpf_map_lookup_elem(&proxy_stats, &what);

	if (c) {
		c->skbs++;
		c->bytes += len;
	}
	return verdict;
}

SEC("sk_skb/stream_verdict")
int xdpgw_proxy_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct xdpgw_proxy_peer *peer = bpf_map_lookup_elem(&proxy_peers, &cookie);
	__u32 len = skb->len;
	__u64 peer_cookie;

	/*
	 * Only between the daemon's teardown of the pair and the close of the
	 * socket. SK_DROP, not SK_PASS: passed bytes would wait in a queue
	 * nobody reads, and the connection is being closed anyway.
	 */
	if (!peer)
		return count(XDPGW_PROXY_NO_PEER, len, SK_DROP);
	/*
	 * tcp_read_skb hands the verdict the FIN's skb too, payload or not. An
	 * empty one redirected to the peer makes the peer's psock worker send
	 * 0 bytes, which it takes for a hard error: EPIPE on the peer socket
	 * and its transmit stopped for good. The FIN itself is the daemon's to
	 * forward (it sees EOF); an empty skb has nothing else to give.
	 */
	if (len == 0)
		return count(XDPGW_PROXY_EMPTY, 0, SK_DROP);
	if (bpf_map_lookup_elem(&proxy_passive, &cookie))
		return count(XDPGW_PROXY_PASSED, len, SK_PASS);
	peer_cookie = peer->peer_cookie;
	if (bpf_sk_redirect_hash(skb, &proxy_targets, &peer_cookie, 0) != SK_PASS)
		return count(XDPGW_PROXY_REDIRECT_FAILED, len, SK_DROP);
	__sync_fetch_and_add(&peer->bytes, len);
	__sync_fetch_and_add(&peer->segments, 1);
	/*
	 * A plain read-compare-write: two CPUs crossing the same check at once
	 * cost the daemon one extra, harmless look; a lost event is made up by
	 * the next check.
	 */
	if (peer->bytes >= peer->next_check) {
		struct xdpgw_proxy_event ev = {.cookie = cookie, .bytes = peer->bytes};

		peer->next_check = peer->bytes + XDPGW_PROXY_CHECK_BYTES;
		bpf_ringbuf_output(&proxy_events, &ev, sizeof(ev), 0);
	}
	return count(XDPGW_PROXY_REDIRECTED, len, SK_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
