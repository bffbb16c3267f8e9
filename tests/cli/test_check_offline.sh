#!/usr/bin/env bash
# `xdpgw check --offline` validates everything but whether the interfaces
# exist: the shipped examples pass on a machine without their interfaces,
# a real error is still reported, and a missing interface is reported
# without --offline.
set -uo pipefail
xdpgw=$1
src=$2
scratch=$(mktemp -d /tmp/xdpgw-offline-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Names no machine running this test has (the examples' xgw0/xgw1 could
# exist where a demo ran).
port_a=xoffl$RANDOM
port_b=xoffm$RANDOM
cat >"$scratch/gw.toml" <<TOML
[gateway]
instance = "offline-test"
netns = "no-such-netns-$RANDOM"

[[port]]
name = "$port_a"

[[port]]
name = "$port_b"

[routing]
source = "static"

[[routing.route]]
prefix = "198.18.2.0/24"
via = "198.18.1.2"
port = "$port_b"
TOML

out=$("$xdpgw" check --offline -c "$scratch/gw.toml" 2>&1) || fail "check --offline of a valid config: $out"
grep -q "interfaces not checked (--offline)" <<<"$out" || fail "check --offline does not say so: $out"

# Without --offline, check goes into the netns to look the interfaces up.
out=$("$xdpgw" check -c "$scratch/gw.toml" 2>&1)
rc=$?
[[ $rc -ne 0 ]] || fail "check without --offline passed: $out"
grep -q "network namespace /run/netns/no-such-netns" <<<"$out" || fail "check without --offline: $out"

# Without the netns the interfaces are looked up here, and do not exist.
sed -i '/^netns = /d' "$scratch/gw.toml"
out=$("$xdpgw" check -c "$scratch/gw.toml" 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "check of missing interfaces: exit $rc, expected 2: $out"
grep -q "port \"$port_a\" does not exist" <<<"$out" || fail "missing interface not reported: $out"

# Offline still finds what is wrong besides interfaces, and only that.
sed -i 's|^prefix = "198.18.2.0/24"|prefix = "198.18.2.1/24"|' "$scratch/gw.toml"
out=$("$xdpgw" check --offline -c "$scratch/gw.toml" 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "check --offline of a bad config: exit $rc, expected 2: $out"
grep -q "gw.toml:.*198.18.2.1/24" <<<"$out" || fail "the bad prefix is not reported: $out"
if grep -q "does not exist" <<<"$out"; then fail "--offline reported an interface: $out"; fi

# -j: one JSON object, with every error located.
out=$("$xdpgw" check --offline -j -c "$scratch/gw.toml" 2>/dev/null)
rc=$?
[[ $rc -eq 2 ]] || fail "check -j of a bad config: exit $rc, expected 2"
/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["valid"] is False and r["offline"] is True, r
e = r["errors"][0]
assert e["file"].endswith("gw.toml") and e["line"] > 0 and e["column"] > 0 and "198.18.2.1/24" in e["message"], e
' "$out" || fail "check -j of a bad config: $out"
out=$("$xdpgw" check --offline -j -c "$src/config/lb.toml") || fail "check -j of lb.toml: $out"
/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["valid"] is True and r["errors"] == [] and r["instance"] == "lb" and r["vips"] == 2, r
assert r["ports"] == ["xgw0", "xgw1"], r
' "$out" || fail "check -j of lb.toml: $out"

# Every shipped example validates offline.
for conf in "$src"/config/*.toml; do
  out=$("$xdpgw" check --offline -c "$conf" 2>&1) || fail "check --offline -c $conf: $out"
done

((failures == 0)) || exit 1
echo PASS
