#!/usr/bin/env bash
set -uo pipefail
src=$1
rules=$src/dist/prometheus/xdpgw-alerts.yml
dashboard=$src/dist/grafana/xdpgw.json
scratch=$(mktemp -d /tmp/xdpgw-monitoring-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

command -v promtool >/dev/null || { echo "FAIL: promtool not installed (scripts/install-deps.sh test)" >&2; exit 1; }

promtool check rules "$rules" || fail "promtool check rules $rules"
(cd "$(dirname "$rules")" && promtool test rules xdpgw-alerts.test.yml) || fail "promtool test rules"

# Every alert has a unit test.
for alert in $(grep -oP '^\s*- alert: \K\w+' "$rules"); do
  grep -q "alertname: $alert$" "$src/dist/prometheus/xdpgw-alerts.test.yml" || fail "alert $alert has no unit test"
done

# The dashboard's queries as recording rules, which promtool parses: the
# Grafana variables replaced by what they expand to.
/usr/bin/python3 - "$dashboard" "$scratch/dashboard-rules.yml" "$scratch/dashboard-metrics" <<'PY' || fail "dashboard is not valid JSON with queries"
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = []
def walk(panels):
    for p in panels:
        for t in p.get("targets", []):
            exprs.append(t["expr"])
        walk(p.get("panels", []))
walk(d["panels"])
for v in d["templating"]["list"]:
    q = v.get("query")
    if isinstance(q, dict) and q["query"].startswith("label_values("):
        exprs.append(re.match(r"label_values\((\w+)", q["query"]).group(1))
assert exprs, "no queries"
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
        out.write(f"      - record: dashboard:query{i}\n        expr: {json.dumps(e)}\n")
with open(sys.argv[3], "w") as out:
    for e in exprs:
        for m in re.findall(r"\bxdpgw_[a-z0-9_]+", e):
            out.write(m + "\n")
PY
promtool check rules "$scratch/dashboard-rules.yml" >/dev/null || {
  promtool check rules "$scratch/dashboard-rules.yml"
  fail "a dashboard query does not parse"
}

# Every metric named is one the daemon exports.
grep -rhoE '"xdpgw_[a-z0-9_]+"' "$src/gateway" | tr -d '"' | sort -u >"$scratch/exported"
grep -oE '\bxdpgw_[a-z0-9_]+' "$rules" >>"$scratch/dashboard-metrics"
for m in $(sort -u "$scratch/dashboard-metrics"); do
  grep -qx "$m" "$scratch/exported" || fail "$m (dashboard or alert rules) is not a metric xdpgw exports"
done
[[ $(sort -u "$scratch/dashboard-metrics" | wc -l) -gt 10 ]] || fail "too few metrics found: is the extraction wrong?"

((failures == 0)) || exit 1
echo PASS
