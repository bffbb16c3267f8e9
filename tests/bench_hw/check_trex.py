#!/usr/bin/python3
"""Builds every scenario of bench/hw/trex/xdpgw_stl.py against the trex_stl_lib
test double (trex_stub/, real scapy packets), and drives run_trex.py's trial
loop and no-drop-rate search against its fake server.

usage: check_trex.py REPO_ROOT   (run with a Python that has scapy)
"""

import contextlib
import importlib.util
import io
import ipaddress
import json
import os
import sys

root = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "trex_stub"))

from trex_stl_lib import api  # noqa: E402 (the stub, once the path is set)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def load(name):
    path = os.path.join(root, "bench", "hw", "trex", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


profile = load("xdpgw_stl")
runner = load("run_trex")

EXPECT_DST = {
    (4, "router"): "198.18.2.2", (4, "punt"): "198.18.2.2", (4, "acl-flood"): "198.18.2.2",
    (4, "lb-nat"): "198.18.100.1", (4, "lb-dsr"): "198.18.100.1",
    (6, "router"): "2001:2:0:2::2", (6, "punt"): "2001:2:0:2::2", (6, "acl-flood"): "2001:2:0:2::2",
    (6, "lb-nat"): "2001:2:0:100::1", (6, "lb-dsr"): "2001:2:0:100::1",
}
EXPECT_DPORT = {"router": 9, "acl-flood": 9, "punt": 5000, "lb-nat": 80, "lb-dsr": 80}

for scenario in profile.SCENARIOS:
    for ipv6 in (0, 1):
        small = 78 if ipv6 else 64  # IPv6 + UDP does not fit in 64 bytes
        for size, frames in (("64", [small]), ("imix", [small, 594, 1518]), ("1000", [1000])):
            for flows in (1, 1000, 1000000):
                case = "%s ipv6=%d size=%s flows=%d" % (scenario, ipv6, size, flows)
                # New TRex: tunables as an argparse list; old TRex: kwargs.
                for streams in (
                    profile.register().get_streams(
                        ["--scenario", scenario, "--ipv6", str(ipv6), "--size", size, "--flows", str(flows)]),
                    profile.register().get_streams(0, scenario=scenario, ipv6=ipv6, size=size, flows=flows),
                ):
                    check([len(s.packet.pkt) + 4 for s in streams] == frames,
                          "%s: frame sizes %s" % (case, [len(s.packet.pkt) + 4 for s in streams]))
                    rates = [s.mode.pps for s in streams]
                    check(abs(sum(rates) - 1) < 1e-9, "%s: rates add up to %s" % (case, sum(rates)))
                    if size == "imix":
                        check(abs(rates[0] / rates[2] - 7) < 1e-9 and abs(rates[1] / rates[2] - 4) < 1e-9,
                              "%s: imix ratio %s" % (case, rates))
                    for s in streams:
                        pkt = s.packet.pkt
                        l3 = pkt.getlayer("IPv6" if ipv6 else "IP")
                        check(l3 is not None, "%s: no L3 layer" % case)
                        check(l3.dst == EXPECT_DST[(6 if ipv6 else 4, scenario)], "%s: dst %s" % (case, l3.dst))
                        check(pkt["UDP"].dport == EXPECT_DPORT[scenario], "%s: dport" % case)
                        tuples = [c for c in s.packet.vm.commands if isinstance(c, api.STLVmTupleGen)]
                        check(len(tuples) == 1 and tuples[0].limit_flows == flows, "%s: limit_flows" % case)
                        t = tuples[0]
                        n_ip = int(ipaddress.IPv4Address(t.ip_max)) - int(ipaddress.IPv4Address(t.ip_min)) + 1
                        check(n_ip * (t.port_max - t.port_min + 1) >= flows, "%s: tuple space < flows" % case)
                        fixes = [type(c).__name__ for c in s.packet.vm.commands
                                 if isinstance(c, (api.STLVmFixIpv4, api.STLVmFixChecksumHw))]
                        check(fixes == (["STLVmFixChecksumHw"] if ipv6 else ["STLVmFixIpv4"]),
                              "%s: checksum fixes %s" % (case, fixes))

# MACs given on the command line are written and kept by TRex.
streams = profile.register().get_streams(["--dst_mac", "0c:42:a1:00:00:01", "--src_mac", "0c:42:a1:00:00:02"])
check(streams[0].packet.pkt.dst == "0c:42:a1:00:00:01" and streams[0].mac_dst_override_mode == 1,
      "dst MAC from the command line")
check(streams[0].packet.pkt.src == "0c:42:a1:00:00:02" and streams[0].mac_src_override_by_pkt,
      "src MAC from the command line")
streams = profile.register().get_streams([])
check(streams[0].mac_dst_override_mode == 0 and not streams[0].mac_src_override_by_pkt,
      "MACs from trex_cfg.yaml by default")

# Bad tunables are refused, not turned into odd streams.
for bad in (["--scenario", "nope"], ["--size", "63"], ["--ipv6", "1", "--size", "77"], ["--size", "1519"], ["--flows", "0"],
            ["--ipv6", "1", "--src", "198.19.0.1"]):
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            profile.register().get_streams(bad)
        failures.append("accepted %s" % bad)
    except SystemExit:
        pass

# The runner: one trial, then the no-drop-rate search against the fake server.
out = io.StringIO()
with contextlib.redirect_stdout(out):
    runner.main(["--scenario", "lb-nat", "--size", "imix", "--rate", "5mpps", "--duration", "2", "--settle", "0"])
res = json.loads(out.getvalue())
check(len(res["trials"]) == 1 and res["trials"][0]["loss_fraction"] == 0, "single trial: %s" % res["trials"])
check(res["profile"]["scenario"] == "lb-nat", "profile recorded")

out = io.StringIO()
with contextlib.redirect_stdout(out):
    runner.main(["--ndr", "--rate", "20mpps", "--ndr-precision", "0.01", "--duration", "1", "--settle", "0"])
res = json.loads(out.getvalue())
ndr = res["ndr"]["tx_mpps"]
check(7.3 - 0.2 <= ndr <= 7.3, "ndr %.3f Mpps, fake capacity 7.3" % ndr)
check(all(t["loss_fraction"] > 0 for t in res["trials"] if t["tx_mpps"] > 7.3 + 1e-6), "lossy trials above capacity")
client = api.STLClient.instances[-1]
check(not client.connected, "runner disconnects")

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("trex profile and runner: all checks passed")
