#!/usr/bin/env python3
"""Runs one xdpgw hardware scenario on a TRex server and reads the results.

TRex (STL mode, `./t-rex-64 -i`) owns two DPDK ports cabled to the device under
test: --tx-port into the DUT's ingress, --rx-port from its egress (or from the
backends' wire, for the LB scenarios). This script loads xdpgw_stl.py with the
scenario's tunables, sends for --duration seconds at --rate, then reports what
left TRex and what came back, as one JSON object (stdout, or --json FILE).

    run_trex.py --scenario router --size 64 --flows 65536 --rate 10mpps --duration 30
    run_trex.py --scenario lb-nat --size imix --rate 100% --duration 30 --json lb-nat.json
    run_trex.py --scenario router --ndr --rate 30mpps        # highest rate without loss

--ndr searches the no-drop rate (RFC 2544 throughput) by bisection between 0
and --rate: a trial passes when the loss is at most --ndr-loss (a fraction),
and the search stops when the window is narrower than --ndr-precision of
--rate. Every trial is in the output.

Needs TRex's Python client on PYTHONPATH, e.g.
    PYTHONPATH=/opt/trex/v3.06/automation/trex_control_plane/interactive
"""

import argparse
import datetime
import importlib.util
import json
import os
import re
import sys
import time


def load_profile_module():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("xdpgw_stl", os.path.join(here, "xdpgw_stl.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default="127.0.0.1", help="TRex server (default 127.0.0.1)")
    p.add_argument("--tx-port", type=int, default=0)
    p.add_argument("--rx-port", type=int, default=1)
    p.add_argument("--rate", default="100%",
                   help="TRex multiplier for the whole profile: 10mpps, 5gbps, 100%% (default 100%%)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per trial (default 30)")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds to wait after sending before reading counters (default 1)")
    p.add_argument("--ndr", action="store_true", help="search the no-drop rate below --rate")
    p.add_argument("--ndr-loss", type=float, default=0.0, help="loss fraction a trial may have (default 0)")
    p.add_argument("--ndr-precision", type=float, default=0.01,
                   help="stop when the window is below this fraction of --rate (default 0.01)")
    p.add_argument("--json", metavar="FILE", help="write the result here instead of stdout")
    # Profile tunables (see xdpgw_stl.py).
    p.add_argument("--scenario", default="router")
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--size", default="64")
    p.add_argument("--flows", type=int)
    p.add_argument("--src-mac")
    p.add_argument("--dst-mac")
    p.add_argument("--src")
    p.add_argument("--dst")
    p.add_argument("--sport", type=int)
    p.add_argument("--dport", type=int)
    args = p.parse_args(argv)
    if args.ndr and not re.fullmatch(r"[0-9.]+[kmg]?pps", args.rate):
        p.error("--ndr needs --rate in packets/s (e.g. 20mpps): the search bisects a packet rate")
    return args


def tunables(args):
    t = {"scenario": args.scenario, "ipv6": int(args.ipv6), "size": args.size}
    for key in ("flows", "src_mac", "dst_mac", "src", "dst", "sport", "dport"):
        value = getattr(args, key)
        if value is not None:
            t[key] = value
    return t


def pps_of(rate):
    """'10mpps' -> 10e6."""
    m = re.fullmatch(r"([0-9.]+)([kmg]?)pps", rate)
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]


def trial(client, streams, args, mult):
    ports = [args.tx_port, args.rx_port]
    client.reset(ports=ports)
    client.add_streams(streams, ports=[args.tx_port])
    client.clear_stats()
    client.start(ports=[args.tx_port], mult=mult, duration=args.duration)
    client.wait_on_traffic(ports=[args.tx_port])
    # Frames still inside the DUT's rings when TRex stops are not loss.
    time.sleep(args.settle)
    stats = client.get_stats()
    tx = stats[args.tx_port]["opackets"]
    rx = stats[args.rx_port]["ipackets"]
    return {
        "mult": mult,
        "tx_packets": tx,
        "rx_packets": rx,
        "tx_mpps": tx / args.duration / 1e6,
        "rx_mpps": rx / args.duration / 1e6,
        "loss_fraction": (tx - rx) / tx if tx else None,
        "tx_errors": stats[args.tx_port].get("oerrors", 0),
        "rx_errors": stats[args.rx_port].get("ierrors", 0),
    }


def main(argv):
    args = parse_args(argv)
    try:
        from trex_stl_lib.api import STLClient, STLError
    except ImportError as e:
        sys.exit("run_trex.py: TRex's Python client is not importable (%s); set PYTHONPATH to "
                 "<trex>/automation/trex_control_plane/interactive" % e)

    profile = load_profile_module()
    streams = profile.register().get_streams(**tunables(args))
    result = {
        "tool": "trex",
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "server": args.server,
        "tx_port": args.tx_port,
        "rx_port": args.rx_port,
        "duration_s": args.duration,
        "profile": tunables(args),
        "trials": [],
    }
    client = STLClient(server=args.server)
    try:
        client.connect()
        client.acquire(ports=[args.tx_port, args.rx_port], force=True)
        if not args.ndr:
            result["trials"].append(trial(client, streams, args, args.rate))
        else:
            top = pps_of(args.rate)
            lo, hi, best, rate = 0.0, top, None, top
            while True:
                t = trial(client, streams, args, "%dpps" % rate)
                result["trials"].append(t)
                ok = t["loss_fraction"] is not None and t["loss_fraction"] <= args.ndr_loss
                if ok:
                    lo, best = rate, t
                else:
                    hi = rate
                # No loss at the top rate, or the window is small enough.
                if (ok and rate == top) or hi - lo <= args.ndr_precision * top:
                    break
                rate = (lo + hi) / 2
            result["ndr"] = best
    except STLError as e:
        sys.exit("run_trex.py: TRex: %s" % e)
    finally:
        client.disconnect()

    text = json.dumps(result, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
