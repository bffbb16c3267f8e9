"""TRex STL profile for the xdpgw hardware scenarios.

Same scenarios, address plan and frame sizes as bench/hw/pktgen.sh (see
bench/hw/README.md); unlike pktgen, TRex varies IPv6 sources too and reaches
millions of flows, so acl-flood over IPv6 and connection-table runs with 1M+
flows use this profile.

Flows: a tuple generator walks (client address, source port) pairs, addresses
first, so `flows` distinct 5-tuples repeat in a fixed order (exactly `flows`,
through limit_flows). For IPv6 the tuple's 32-bit address fills the low 32 bits
of the client /96.

Sizes are on the wire incl. FCS, as everywhere in bench/hw: TRex packet
lengths leave out the 4-byte FCS the NIC adds. "imix" is three streams,
64/594/1518-byte frames (IP 46/576/1500) at 7:4:1 packets. IPv6 + UDP headers
do not fit in 64 bytes: over IPv6 the smallest frame is 78 bytes (RFC 5180's
minimum IPv6 test frame), for "64" and for IMIX's small class.

Use it from the TRex console:
    start -f xdpgw_stl.py -m 10mpps -p 0 -t scenario=router,size=imix,flows=65536
or through bench/hw/trex/run_trex.py, which also reads the results.

Tunables (key=value): scenario (router|lb-nat|lb-dsr|acl-flood|punt), ipv6 (0|1),
size (64|imix|N), flows, src_mac, dst_mac, src, dst, sport, dport.
acl-flood is router traffic from many distinct clients: 65536 client
addresses by default (flows=N for more, e.g. 1000000), each a source the ACL
and the per-source rate limiter must track.
"""

import argparse
import ipaddress

from trex_stl_lib.api import (  # noqa: F401 (the names TRex profiles use)
    CTRexVmInsFixHwCs,
    Ether,
    IP,
    IPv6,
    STLPktBuilder,
    STLScVmRaw,
    STLStream,
    STLTXCont,
    STLVmFixChecksumHw,
    STLVmFixIpv4,
    STLVmTupleGen,
    STLVmWrFlowVar,
    UDP,
)

SCENARIOS = ("router", "lb-nat", "lb-dsr", "acl-flood", "punt")
FCS = 4
# Smallest frame on the wire per family (RFC 5180, section 5.1, for IPv6).
MIN_FRAME = {4: 64, 6: 78}
# Simple IMIX: (frame bytes on the wire, packets per cycle).
IMIX = ((64, 7), (594, 4), (1518, 1))

DEFAULTS = {
    4: {"src": "198.19.0.1", "sink": "198.18.2.2", "vip": "198.18.100.1"},
    6: {"src": "2001:2:1::1", "sink": "2001:2:0:2::2", "vip": "2001:2:0:100::1"},
}
DPORT = {"router": 9, "lb-nat": 80, "lb-dsr": 80, "acl-flood": 9, "punt": 5000}


def parse_tunables(tunables=None, kwargs=None):
    """Tunables arrive as a list of strings (TRex >= 2.89: -t a=b,c=d becomes
    ["--a", "b", ...] through argparse in the profile) or as keyword
    arguments (older TRex, and run_trex.py)."""
    parser = argparse.ArgumentParser(prog="xdpgw_stl.py", add_help=False)
    parser.add_argument("--scenario", default="router", choices=SCENARIOS)
    parser.add_argument("--ipv6", type=int, default=0, choices=(0, 1))
    parser.add_argument("--size", default="64")
    parser.add_argument("--flows", type=int, default=None)
    parser.add_argument("--src_mac", default=None)
    parser.add_argument("--dst_mac", default=None)
    parser.add_argument("--src", default=None)
    parser.add_argument("--dst", default=None)
    parser.add_argument("--sport", type=int, default=1024)
    parser.add_argument("--dport", type=int, default=None)
    argv = list(tunables or [])
    for key, value in (kwargs or {}).items():
        if key in ("direction", "port_id"):
            continue
        argv += ["--" + key, str(value)]
    args = parser.parse_args(argv)

    family = 6 if args.ipv6 else 4
    if args.flows is None:
        # acl-flood: one distinct client address per flow, a /16 of them.
        args.flows = 65536 if args.scenario == "acl-flood" else 1024
    if args.flows < 1:
        parser.error("flows must be >= 1")
    if args.size != "imix":
        size = int(args.size)
        if size == 64:
            size = MIN_FRAME[family]
        if not MIN_FRAME[family] <= size <= 1518:
            parser.error("size must be %d..1518 or imix over IPv%d" % (MIN_FRAME[family], family))
        args.size = str(size)
    if args.dport is None:
        args.dport = DPORT[args.scenario]
    if args.src is None:
        args.src = DEFAULTS[family]["src"]
    if args.dst is None:
        args.dst = DEFAULTS[family]["vip" if args.scenario.startswith("lb-") else "sink"]
    for name in ("src", "dst"):
        addr = ipaddress.ip_address(getattr(args, name))
        if addr.version != family:
            parser.error("%s %s is not IPv%d" % (name, addr, family))
    args.family = family
    return args


def flow_space(args):
    """(first tuple address, last tuple address, first port, last port) for
    exactly args.flows tuples: up to 65536 addresses, then source ports."""
    addresses = min(args.flows, 65536)
    ports = -(-args.flows // addresses)  # ceil
    if args.sport + ports - 1 > 65535:
        raise ValueError("flows=%d needs ports %d..%d" % (args.flows, args.sport, args.sport + ports - 1))
    if args.family == 4:
        first = int(ipaddress.IPv4Address(args.src))
    else:
        # Low 32 bits of the IPv6 client address.
        first = int(ipaddress.IPv6Address(args.src)) & 0xFFFFFFFF
    if first + addresses - 1 > 0xFFFFFFFF:
        raise ValueError("flows=%d from src=%s passes the address range" % (args.flows, args.src))
    # The port range spans at least two ports: a one-value range is refused
    # by parts of TRex's field engine; limit_flows keeps the count exact.
    return (str(ipaddress.IPv4Address(first)), str(ipaddress.IPv4Address(first + addresses - 1)),
            args.sport, args.sport + max(ports, 2) - 1)


def build_vm(args):
    ip_min, ip_max, port_min, port_max = flow_space(args)
    cmds = [STLVmTupleGen(name="flow", ip_min=ip_min, ip_max=ip_max,
                          port_min=port_min, port_max=port_max, limit_flows=args.flows)]
    if args.family == 4:
        cmds += [STLVmWrFlowVar(fv_name="flow.ip", pkt_offset="IP.src"),
                 STLVmWrFlowVar(fv_name="flow.port", pkt_offset="UDP.sport"),
                 STLVmFixIpv4(offset="IP")]
    else:
        # IPv6 has no header checksum, but UDP over IPv6 must carry one: the
        # NIC computes it (every NIC TRex drives offloads it).
        cmds += [STLVmWrFlowVar(fv_name="flow.ip", pkt_offset="IPv6.src", offset_fixup=12),
                 STLVmWrFlowVar(fv_name="flow.port", pkt_offset="UDP.sport"),
                 STLVmFixChecksumHw(l3_offset="IPv6", l4_offset="UDP",
                                    l4_type=CTRexVmInsFixHwCs.L4_TYPE_UDP)]
    return STLScVmRaw(cmds)


def build_packet(args, frame_len):
    # MACs given on the command line go into the packet (and the stream tells
    # TRex to keep them); otherwise TRex writes the port's addresses from
    # trex_cfg.yaml over these placeholders. Explicit placeholders also keep
    # scapy from resolving a destination MAC on the machine building streams.
    ether = Ether(src=args.src_mac or "00:00:00:00:00:00", dst=args.dst_mac or "00:00:00:00:00:00")
    if args.family == 4:
        # UDP checksum 0 ("none") is legal over IPv4 and survives the field
        # engine rewriting the source address and port.
        base = ether / IP(src=args.src, dst=args.dst, ttl=64) / UDP(sport=args.sport, dport=args.dport, chksum=0)
    else:
        base = ether / IPv6(src=args.src, dst=args.dst, hlim=64) / UDP(sport=args.sport, dport=args.dport)
    wire_len = frame_len - FCS
    if len(base) > wire_len:
        raise ValueError("%d-byte frames cannot hold the %d-byte headers" % (frame_len, len(base) + FCS))
    return base / (b"x" * (wire_len - len(base)))


def sizes(args):
    """[(frame length on the wire, relative packet rate)]"""
    if args.size == "imix":
        return [(max(length, MIN_FRAME[args.family]), weight) for length, weight in IMIX]
    return [(int(args.size), 1)]


class XdpgwProfile(object):
    def get_streams(self, tunables=None, direction=0, **kwargs):
        # Old TRex passes the direction positionally where new TRex passes
        # the tunables list.
        if isinstance(tunables, int):
            direction, tunables = tunables, None
        args = parse_tunables(tunables, kwargs)
        mix = sizes(args)
        total = float(sum(weight for _, weight in mix))
        streams = []
        for frame_len, weight in mix:
            pkt = STLPktBuilder(pkt=build_packet(args, frame_len), vm=build_vm(args))
            # Rates are relative (they add up to 1 pps): the caller scales the
            # profile with -m / mult, e.g. "10mpps" or "100%".
            streams.append(STLStream(name="%s-%d" % (args.scenario, frame_len), packet=pkt,
                                     mode=STLTXCont(pps=weight / total),
                                     mac_src_override_by_pkt=bool(args.src_mac),
                                     # 1 = STLStreamDstMAC_PKT, 0 = from trex_cfg.yaml
                                     mac_dst_override_mode=1 if args.dst_mac else 0))
        return streams


def register():
    return XdpgwProfile()
