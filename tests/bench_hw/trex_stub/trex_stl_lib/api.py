"""A test double of the part of TRex's trex_stl_lib.api that bench/hw/trex uses.

Packets are real scapy packets (TRex's api re-exports scapy too), so lengths
and field names are checked for real. The STL classes keep their arguments
and check what the real ones check at construction or compile time: field
offsets like "IP.src" must name a field of the packet, flow variables must be
defined before they are written, ranges must be ordered. STLClient is a fake
server whose loss grows above FAKE_CAPACITY_PPS, to test run_trex.py's
trial loop and no-drop-rate search.

Signatures follow trex-core's trex_stl_packet_builder_scapy.py,
trex_stl_streams.py and trex_stl_client.py (TRex v2.x/v3.x).
"""

import ipaddress
import re

from scapy.all import IP, UDP, Ether, IPv6  # noqa: F401 (re-exported like TRex does)


class CTRexVmInsFixHwCs(object):
    L4_TYPE_UDP = 11
    L4_TYPE_TCP = 13
    L4_TYPE_IP = 17


class _Cmd(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)


class STLVmTupleGen(_Cmd):
    def __init__(self, name, ip_min="0.0.0.1", ip_max="0.0.0.10", port_min=1025, port_max=65535,
                 limit_flows=100000, flags=0):
        if int(ipaddress.IPv4Address(ip_min)) > int(ipaddress.IPv4Address(ip_max)):
            raise ValueError("tuple ip_min > ip_max")
        if not (0 <= port_min <= port_max <= 65535):
            raise ValueError("tuple port range %r..%r" % (port_min, port_max))
        if limit_flows < 1:
            raise ValueError("limit_flows < 1")
        _Cmd.__init__(self, name=name, ip_min=ip_min, ip_max=ip_max, port_min=port_min,
                      port_max=port_max, limit_flows=limit_flows, flags=flags)
        self.defines = [name + ".ip", name + ".port"]


class STLVmFlowVar(_Cmd):
    def __init__(self, name, init_value=None, min_value=0, max_value=255, size=4, step=1, op="inc"):
        if op not in ("inc", "dec", "random"):
            raise ValueError("op %r" % op)
        if size not in (1, 2, 4, 8):
            raise ValueError("size %r" % size)
        _Cmd.__init__(self, name=name, min_value=min_value, max_value=max_value, size=size, op=op)
        self.defines = [name]


class STLVmWrFlowVar(_Cmd):
    def __init__(self, fv_name, pkt_offset, offset_fixup=0, add_val=0, is_big=True):
        _Cmd.__init__(self, fv_name=fv_name, pkt_offset=pkt_offset, offset_fixup=offset_fixup,
                      add_val=add_val, is_big=is_big)


class STLVmFixIpv4(_Cmd):
    def __init__(self, offset):
        _Cmd.__init__(self, offset=offset)


class STLVmFixChecksumHw(_Cmd):
    def __init__(self, l3_offset, l4_offset, l4_type):
        _Cmd.__init__(self, l3_offset=l3_offset, l4_offset=l4_offset, l4_type=l4_type)


class STLScVmRaw(object):
    def __init__(self, list_of_commands=None, cache_size=None):
        self.commands = list(list_of_commands or [])
        self.cache_size = cache_size


def _layer(pkt, name):
    layer = pkt.getlayer(name)
    if layer is None:
        raise ValueError("packet has no %s layer: %s" % (name, pkt.summary()))
    return layer


class STLPktBuilder(object):
    def __init__(self, pkt=None, pkt_buffer=None, vm=None, path_relative_to_profile=False,
                 build_raw=False, remove_fcs=True):
        self.pkt = pkt
        self.vm = vm
        self._compile()

    def _compile(self):
        """What TRex's builder resolves when it compiles the field engine."""
        if self.vm is None:
            return
        defined = set()
        for cmd in self.vm.commands:
            if hasattr(cmd, "defines"):
                defined.update(cmd.defines)
            elif isinstance(cmd, STLVmWrFlowVar):
                if cmd.fv_name not in defined:
                    raise ValueError("write of undefined flow variable %s" % cmd.fv_name)
                layer, field = cmd.pkt_offset.split(".")
                if field not in [f.name for f in _layer(self.pkt, layer).fields_desc]:
                    raise ValueError("%s has no field %s" % (layer, field))
            elif isinstance(cmd, STLVmFixIpv4):
                _layer(self.pkt, cmd.offset)
            elif isinstance(cmd, STLVmFixChecksumHw):
                _layer(self.pkt, cmd.l3_offset)
                _layer(self.pkt, cmd.l4_offset)


class STLTXCont(object):
    def __init__(self, bps_L1=None, bps_L2=None, pps=None, percentage=None):
        given = [x for x in (bps_L1, bps_L2, pps, percentage) if x is not None]
        if len(given) > 1:
            raise ValueError("STLTXCont takes one rate")
        self.pps = pps if given else 1


class STLStream(object):
    def __init__(self, name=None, packet=None, mode=None, enabled=True, self_start=True,
                 isg=0, flow_stats=None, next=None, stream_id=None, action_count=0,
                 random_seed=0, mac_src_override_by_pkt=None, mac_dst_override_mode=None,
                 dummy_stream=False, start_paused=False, core_id=-1):
        self.name = name
        self.packet = packet
        self.mode = mode or STLTXCont()
        self.mac_src_override_by_pkt = mac_src_override_by_pkt
        self.mac_dst_override_mode = mac_dst_override_mode


class STLError(Exception):
    pass


# Fake server: everything up to this rate arrives, above it the excess is lost.
FAKE_CAPACITY_PPS = 7.3e6


class STLClient(object):
    instances = []

    def __init__(self, server="localhost", **kw):
        self.server = server
        self.calls = []
        self.streams = []
        self.connected = False
        self.counters = {}
        STLClient.instances.append(self)

    def connect(self):
        self.connected = True

    def disconnect(self):
        self.connected = False

    def acquire(self, ports=None, force=False):
        self.calls.append(("acquire", tuple(ports)))

    def reset(self, ports=None):
        self.streams = []
        self.calls.append(("reset", tuple(ports)))

    def add_streams(self, streams, ports=None):
        self.streams.extend(streams)

    def clear_stats(self, ports=None):
        self.counters = {}

    def start(self, ports=None, mult="1", duration=-1, force=False):
        if not self.streams:
            raise STLError("no streams")
        m = re.fullmatch(r"([0-9.]+)([kmg]?)pps", mult)
        pps = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] if m else 10e6
        tx = int(pps * duration)
        rx = int(min(pps, FAKE_CAPACITY_PPS) * duration)
        self.counters = {"tx": tx, "rx": rx, "port": ports[0]}
        self.calls.append(("start", mult, duration))

    def wait_on_traffic(self, ports=None, timeout=None):
        pass

    def get_stats(self, ports=None):
        tx_port = self.counters["port"]
        rx_port = 1 - tx_port
        return {tx_port: {"opackets": self.counters["tx"], "oerrors": 0},
                rx_port: {"ipackets": self.counters["rx"], "ierrors": 0}}
