#!/usr/bin/env bash
# Proxy mode against HAProxy (TCP mode) and nginx `stream`, in the same run
# on the same topology:
#
#   client ns --veth-- gateway ns (the proxy under test) --veth-- backend ns
#                                                          (nginx :8080, iperf3 :5201)
#
# Per proxy: short connections per second (ab, HTTP/1.0, one request per
# connection, 32 at once), throughput of 1 and 64 long connections (iperf3
# through the proxy), and CPU seconds per GB moved: of the whole machine
# (/proc/stat: client, proxy and backend together, the same work for all
# three, so differences are the proxies') and of the proxy's own processes
# (utime + stime; xdpgw's splice runs in softirq and kworkers, which only
# the whole-machine figure sees).
#
# usage: sudo bench/proxy.sh [--seconds N] [--requests N]
# XDPGW_BUILD_DIR (default build/) names the build whose gateway/xdpgw runs;
# use a release build: a sanitizer build measures the sanitizer.
# Writes bench/results/proxy-<UTC time>/results.md. Every namespace and
# process it starts is named xbp<pid>-* or is its child, and is removed on
# exit, Ctrl-C included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "bench/proxy.sh: needs root (namespaces, XDP)" >&2; exit 1; }

seconds=5
requests=5000
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

xdpgw=${XDPGW_BUILD_DIR:-$root/build}/gateway/xdpgw
[[ -x $xdpgw ]] || { echo "bench/proxy.sh: no $xdpgw (build it, or set XDPGW_BUILD_DIR)" >&2; exit 1; }
for tool in nginx haproxy ab iperf3 curl; do
  command -v "$tool" >/dev/null || { echo "bench/proxy.sh: $tool missing (scripts/install-deps.sh test)" >&2; exit 1; }
done

p=xbp$$
cl=$p-cl gw=$p-gw be=$p-be
instance=$p
out=$root/bench/results/proxy-$(date -u +%Y%m%dT%H%M%SZ)
tmp=$(mktemp -d /tmp/$p-XXXXXX)
mkdir -p "$out"
pids=()

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  "$xdpgw" stop --instance "$instance" --detach >/dev/null 2>&1
  for ns in $cl $gw $be; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

inns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }

# ---- topology
for ns in $cl $gw $be; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$p"c type veth peer name "$p"g0
ip link add "$p"b type veth peer name "$p"g1
ip link set "$p"c netns "$cl"; ip link set "$p"g0 netns "$gw"
ip link set "$p"b netns "$be"; ip link set "$p"g1 netns "$gw"
ip -n "$cl" addr add 198.18.1.2/24 dev "$p"c; ip -n "$cl" link set "$p"c up
ip -n "$gw" addr add 198.18.1.1/24 dev "$p"g0; ip -n "$gw" link set "$p"g0 up
ip -n "$gw" addr add 198.18.10.1/24 dev "$p"g1; ip -n "$gw" link set "$p"g1 up
ip -n "$be" addr add 198.18.10.2/24 dev "$p"b; ip -n "$be" link set "$p"b up
ip -n "$cl" route add default via 198.18.1.1
ip -n "$be" route add default via 198.18.10.1
ip -n "$gw" addr add 198.18.100.1/32 dev lo
inns "$gw" ping -q -c1 -W5 198.18.10.2 >/dev/null

# ---- backend: nginx answering a tiny HTTP response, iperf3
mkdir -p "$tmp/be"
cat >"$tmp/be/nginx.conf" <<EOF
user root; worker_processes 1; pid $tmp/be/nginx.pid; error_log $tmp/be/error.log;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $tmp/be/b; proxy_temp_path $tmp/be/p;
       fastcgi_temp_path $tmp/be/f; uwsgi_temp_path $tmp/be/u; scgi_temp_path $tmp/be/s;
       server { listen 8080 backlog=4096; location / { return 200 "ok\n"; } } }
EOF
inns "$be" nginx -c "$tmp/be/nginx.conf" -g 'daemon off;' & pids+=($!)
inns "$be" iperf3 -s -B 198.18.10.2 -p 5201 >"$out/iperf3-server.log" 2>&1 & pids+=($!)

# ---- the three proxies, one at a time
# HAProxy: TCP mode, as many threads as CPUs (its default).
cat >"$tmp/haproxy.cfg" <<EOF
global
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend http
  bind 198.18.1.1:8001
  default_backend http
backend http
  server be 198.18.10.2:8080
frontend bulk
  bind 198.18.1.1:5202
  default_backend bulk
backend bulk
  server be 198.18.10.2:5201
EOF
# nginx stream: one worker per CPU.
mkdir -p "$tmp/ng"
cat >"$tmp/ng/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
user root; worker_processes auto; pid $tmp/ng/nginx.pid; error_log $tmp/ng/error.log;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
stream {
  server { listen 198.18.1.1:8002 backlog=4096; proxy_pass 198.18.10.2:8080; }
  server { listen 198.18.1.1:5203; proxy_pass 198.18.10.2:5201; }
}
EOF
cat >"$tmp/xdpgw.toml" <<EOF
[gateway]
instance = "$instance"
[[port]]
name = "${p}g0"
[[port]]
name = "${p}g1"
[routing]
source = "fib"
[[vip]]
name = "http"
address = "198.18.100.1"
protocol = "tcp"
port = 80
mode = "proxy"
max_connections = 60000
[[vip.backend]]
address = "198.18.10.2"
port = 8080
[[vip]]
name = "bulk"
address = "198.18.100.1"
protocol = "tcp"
port = 5201
mode = "proxy"
[[vip.backend]]
address = "198.18.10.2"
port = 5201
[control]
socket = "$tmp/xdpgw.sock"
metrics = "127.0.0.1:10170"
log_level = "warn"
EOF

busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
# utime + stime of a process and its children's threads, in jiffies.
proc_jiffies() {
  local total=0 pid
  for pid in "$@"; do
    for t in /proc/"$pid"/task/*/stat; do
      [[ -r $t ]] && total=$((total + $(awk '{print $14+$15}' "$t")))
    done
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

start_proxy() {
  case $1 in
    xdpgw) "$xdpgw" run -c "$tmp/xdpgw.toml" --netns "$gw" --fresh >"$out/xdpgw.log" 2>&1 & proxy_pid=$! ;;
    haproxy) inns "$gw" haproxy -f "$tmp/haproxy.cfg" -db >"$out/haproxy.log" 2>&1 & proxy_pid=$! ;;
    nginx) inns "$gw" nginx -c "$tmp/ng/nginx.conf" -g 'daemon off;' >"$out/nginx.log" 2>&1 & proxy_pid=$! ;;
  esac
  pids+=("$proxy_pid")
  sleep 2
  [[ -n ${PROXY_BENCH_DEBUG:-} ]] && inns "$gw" ss -ltn >&2
  return 0
}
stop_proxy() {
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  if [[ $1 == xdpgw ]]; then "$xdpgw" stop --instance "$instance" --detach >/dev/null 2>&1 || true; fi
  sleep 1
}
# The proxy and every process under it (nsenter may run in a subshell,
# nginx's workers are the master's children).
proxy_pids() {
  local todo=("$proxy_pid") pid
  while ((${#todo[@]})); do
    pid=${todo[0]} todo=("${todo[@]:1}")
    echo "$pid"
    todo+=($(pgrep -P "$pid" || true))
  done
}

{
  echo "# Proxy benchmark $(date -u +%FT%TZ)"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs (shared), veth, xdpgw $xdpgw;"
  echo "ab -n $requests -c 32 (HTTP/1.0, one request per connection); iperf3 -t $seconds."
  echo "CPU s/GB: whole machine (client, proxy, backend) / the proxy's own processes."
  echo
  echo "| proxy | conn/s | 1 conn Gbit/s | 64 conns Gbit/s | CPU s/GB machine (1 / 64) | CPU s/GB proxy (1 / 64) |"
  echo "|---|---:|---:|---:|---:|---:|"
} >"$out/results.md"

for proxy in xdpgw haproxy nginx; do
  case $proxy in
    xdpgw) http=198.18.100.1:80 bulk=(198.18.100.1 5201) ;;
    haproxy) http=198.18.1.1:8001 bulk=(198.18.1.1 5202) ;;
    nginx) http=198.18.1.1:8002 bulk=(198.18.1.1 5203) ;;
  esac
  echo "== $proxy"
  start_proxy "$proxy"
  rate=$(inns "$cl" ab -q -r -n "$requests" -c 32 "http://$http/" 2>&1 | awk '/Requests per second/{print $4}')
  row="| $proxy | ${rate:-failed} |"
  cpu_m="" cpu_p=""
  for streams in 1 64; do
    m0=$(busy_jiffies) p0=$(proc_jiffies $(proxy_pids))
    json=$(inns "$cl" iperf3 -c "${bulk[0]}" -p "${bulk[1]}" -t "$seconds" -P "$streams" -J 2>&1 || true)
    echo "$json" >"$out/$proxy-iperf3-$streams.json"
    m1=$(busy_jiffies) p1=$(proc_jiffies $(proxy_pids))
    read -r bytes bps < <(python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)["end"]["sum_received"]
    print(int(s["bytes"]), s["bits_per_second"])
except Exception:
    print(0, 0)' <<<"$json")
    gb=$(awk -v b="$bytes" 'BEGIN{print b/1e9}')
    row+=" $(awk -v b="$bps" 'BEGIN{printf "%.2f", b/1e9}') |"
    cpu_m+="$(awk -v j=$((m1 - m0)) -v hz="$hz" -v gb="$gb" 'BEGIN{ if (gb > 0) printf "%.2f", j/hz/gb; else print "-" }') / "
    cpu_p+="$(awk -v j=$((p1 - p0)) -v hz="$hz" -v gb="$gb" 'BEGIN{ if (gb > 0) printf "%.3f", j/hz/gb; else print "-" }') / "
  done
  row+=" ${cpu_m% / } | ${cpu_p% / } |"
  echo "$row" | tee -a "$out/results.md"
  if [[ $proxy == xdpgw ]]; then
    # How much went through the splice and how much the daemon copied
    # because a reader fell behind (flow control).
    inns "$gw" curl -s http://127.0.0.1:10170/metrics |
      grep -E '^xdpgw_proxy_(copied_directions|relayed|splice_errors|connect_failures)_total' >"$out/xdpgw-metrics.txt" || true
  fi
  stop_proxy "$proxy"
done
{
  echo
  echo "xdpgw proxy counters after its runs:"
  echo
  sed 's/^/    /' "$out/xdpgw-metrics.txt" 2>/dev/null || true
} >>"$out/results.md"
echo
echo "results: $out/results.md"
