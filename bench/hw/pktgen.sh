#!/usr/bin/env bash
# Drives the kernel's packet generator (pktgen, /proc/net/pktgen) for the
# xdpgw hardware scenarios, the way the kernel's samples/pktgen scripts do:
# one pktgen thread per CPU, each with its own DEV@THREAD and its own slice of
# the flows, 64-byte or IMIX frames, a fixed rate or line rate.
#
#   bench/hw/pktgen.sh --scenario router --dev ens1f0 --dst-mac 0c:42:a1:00:00:01 \
#       --flows 1024 --size 64 --threads 4 --duration 30
#   bench/hw/pktgen.sh --scenario lb-nat --dev ens1f0 --dst-mac ... --size imix --rate 2000000
#   bench/hw/pktgen.sh ... --dry-run     # print every /proc write instead of doing it
#
# Scenarios (addresses are the README's plan: generator 198.18.1.2 /
# 2001:2:0:1::2, sink 198.18.2.2 / 2001:2:0:2::2, clients 198.19.0.0/16, VIP
# 198.18.100.1 / 2001:2:0:100::1):
#   router     UDP to the sink host, one flow per client address (IPv4) or per
#              source port (IPv6, pktgen cannot range IPv6 sources)
#   lb-nat     UDP to the VIP port 80 from client addresses; the DUT NATs
#   lb-dsr     the same traffic; the DUT encapsulates / rewrites for DSR
#   acl-flood  random client sources over 198.19.0.0/16 (pktgen's flow table:
#              --flows concurrent flows of --flowlen packets): the rate limiter's
#              per-source state and the ACL see a flood of distinct sources
#   punt       UDP to the sink host on the punt port (--dport, default 5000),
#              what an AF_XDP punt rule matches
#
# pktgen sends only UDP (IPv4 or IPv6). Frame sizes are on the wire with the
# 4-byte FCS: "64" is pkt_size 60; "imix" is 7:4:1 of 64/594/1518-byte frames
# (IP 46/576/1500) through pktgen's imix_weights (Linux >= 5.15). Over IPv6
# pktgen's own 16-byte header after UDP makes pkt_size 78 (82-byte frames) the
# smallest it sends; smaller sizes are raised to it, with a note.
#
# Without --count or --duration the run goes until Ctrl-C. Results: each
# device's "Result:" lines, then one summary line
#   xdpgw-pktgen: scenario=... sent=N pps=N (sum over threads)
set -euo pipefail

PGDIR=/proc/net/pktgen
prog=$(basename "$0")

usage() {
  cat <<EOF
usage: $prog --scenario NAME --dev IFACE --dst-mac MAC [options]

  --scenario router|lb-nat|lb-dsr|acl-flood|punt
  --dev IFACE         transmit interface (the DUT's ingress port is cabled to it)
  --dst-mac MAC       the DUT ingress port's MAC
  --src-mac MAC       source MAC (default: the interface's own)
  -6, --ipv6          IPv6 instead of IPv4 (not for acl-flood: pktgen cannot vary IPv6 sources)
  --src ADDR          first client source address (default 198.19.0.1 / 2001:2:0:1::2)
  --dst ADDR          destination (default: sink host, or the VIP for lb-*)
  --sport PORT        first UDP source port (default 1024)
  --dport PORT        UDP destination port (default 9; lb-*: 80; punt: 5000)
  --flows N           distinct flows, split over threads (default 1024; IPv4 max 65534,
                      IPv6 max 64511; acl-flood max 65535)
  --flowlen N         acl-flood: packets per flow before pktgen picks the next (default 8)
  --size 64|imix|N    frame size on the wire incl. FCS, 64..1518 (default 64)
  --rate PPS          total packets/s over all threads (default: as fast as possible)
  --count N           packets per thread (default 0: until --duration or Ctrl-C)
  --duration SEC      stop after SEC seconds
  --threads N         pktgen threads (default 1), on CPUs --first-cpu .. +N-1
  --first-cpu N       first CPU (default 0)
  --burst N           packets per xmit_more burst (default 1; router/punt only)
  --clone N           clone_skb: send each skb N+1 times (default 0; >0 repeats flows)
  --dry-run           print the /proc/net/pktgen writes, touch nothing
  -h, --help
EOF
}

die() {
  echo "$prog: $*" >&2
  exit 2
}

scenario='' dev='' dst_mac='' src_mac='' ipv6=0 src='' dst='' sport=1024 dport=''
flows=1024 flowlen=8 size=64 rate=0 count=0 duration=0 threads=1 first_cpu=0
burst=1 clone=0 dry_run=0

while (($#)); do
  opt=$1
  case $opt in
    -h | --help) usage; exit 0 ;;
    -6 | --ipv6) ipv6=1; shift; continue ;;
    --dry-run) dry_run=1; shift; continue ;;
  esac
  (($# >= 2)) || die "$opt needs a value (see --help)"
  val=$2
  case $opt in
    --scenario) scenario=$val ;;
    --dev) dev=$val ;;
    --dst-mac) dst_mac=$val ;;
    --src-mac) src_mac=$val ;;
    --src) src=$val ;;
    --dst) dst=$val ;;
    --sport) sport=$val ;;
    --dport) dport=$val ;;
    --flows) flows=$val ;;
    --flowlen) flowlen=$val ;;
    --size) size=$val ;;
    --rate) rate=$val ;;
    --count) count=$val ;;
    --duration) duration=$val ;;
    --threads) threads=$val ;;
    --first-cpu) first_cpu=$val ;;
    --burst) burst=$val ;;
    --clone) clone=$val ;;
    *) die "unknown option $opt (see --help)" ;;
  esac
  shift 2
done

# ---- validation ------------------------------------------------------------

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for pair in "sport:$sport" "flows:$flows" "flowlen:$flowlen" "rate:$rate" "count:$count" \
  "duration:$duration" "threads:$threads" "first-cpu:$first_cpu" "burst:$burst" "clone:$clone"; do
  is_uint "${pair#*:}" || die "--${pair%%:*} must be a non-negative integer, got '${pair#*:}'"
done
[[ -n $scenario ]] || die "--scenario is required"
[[ -n $dev ]] || die "--dev is required"
[[ -n $dst_mac ]] || die "--dst-mac is required"
mac_re='^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$'
[[ $dst_mac =~ $mac_re ]] || die "--dst-mac '$dst_mac' is not a MAC address"
[[ -z $src_mac || $src_mac =~ $mac_re ]] || die "--src-mac '$src_mac' is not a MAC address"
((threads >= 1)) || die "--threads must be >= 1"
((flows >= threads)) || die "--flows ($flows) must be >= --threads ($threads): each thread sends its own flows"

case $scenario in
  router | punt) ;;
  lb-nat | lb-dsr) ;;
  acl-flood)
    ((ipv6 == 0)) || die "acl-flood: pktgen cannot vary IPv6 source addresses; use bench/hw/trex (--scenario acl-flood --ipv6)"
    ((flows <= 65535)) || die "acl-flood: pktgen's flow table holds at most 65535 flows"
    ((burst == 1)) || die "acl-flood: pktgen does not burst with a flow table (as samples/pktgen's many_flows)"
    ;;
  *) die "unknown scenario '$scenario' (router, lb-nat, lb-dsr, acl-flood, punt)" ;;
esac

# Frame sizes on the wire include the FCS; pktgen's pkt_size does not.
# Ethernet + IPv6 + UDP + pktgen's header is 78 bytes: pktgen's own minimum.
min_pkt=60
((ipv6)) && min_pkt=78
imix='' pkt_size=0
if [[ $size == imix ]]; then
  imix="$min_pkt,7 590,4 1514,1"
elif is_uint "$size" && ((size >= 64 && size <= 1518)); then
  pkt_size=$((size - 4))
  if ((pkt_size < min_pkt)); then
    echo "$prog: note: IPv6 frames start at pkt_size $min_pkt ($((min_pkt + 4)) bytes on the wire) with pktgen" >&2
    pkt_size=$min_pkt
  fi
else
  die "--size must be 64..1518 or imix, got '$size'"
fi

# Defaults per scenario and family.
if ((ipv6)); then
  [[ -n $src ]] || src=2001:2:0:1::2
  case $scenario in
    lb-*) [[ -n $dst ]] || dst=2001:2:0:100::1 ;;
    *) [[ -n $dst ]] || dst=2001:2:0:2::2 ;;
  esac
else
  [[ -n $src ]] || src=198.19.0.1
  case $scenario in
    lb-*) [[ -n $dst ]] || dst=198.18.100.1 ;;
    *) [[ -n $dst ]] || dst=198.18.2.2 ;;
  esac
fi
if [[ -z $dport ]]; then
  case $scenario in
    lb-*) dport=80 ;;
    punt) dport=5000 ;;
    *) dport=9 ;;
  esac
fi
if ! is_uint "$dport" || ((dport < 1 || dport > 65535)); then die "--dport must be 1..65535"; fi
((sport >= 1 && sport <= 65535)) || die "--sport must be 1..65535"

ip4_to_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  for o in "$a" "$b" "$c" "$d"; do
    if ! is_uint "$o" || ((o > 255)); then die "'$1' is not an IPv4 address"; fi
  done
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
int_to_ip4() {
  local n=$1
  echo "$(((n >> 24) & 255)).$(((n >> 16) & 255)).$(((n >> 8) & 255)).$((n & 255))"
}
if ((ipv6)); then
  [[ $src == *:* && $dst == *:* ]] || die "--ipv6 needs IPv6 --src/--dst"
  # IPv6 flows vary the UDP source port.
  ((sport + flows - 1 <= 65535)) || die "--flows $flows from --sport $sport passes port 65535"
else
  src_int=$(ip4_to_int "$src")
  ip4_to_int "$dst" >/dev/null
  ((flows <= 65534)) || die "IPv4 --flows max 65534 with pktgen (one source address per flow); use TRex for more"
  ((src_int + flows - 1 <= 0xffffffff)) || die "--flows $flows from --src $src passes 255.255.255.255"
fi

# ---- /proc/net/pktgen writes -------------------------------------------------

# One command per write, checked like samples/pktgen/functions.sh: the kernel
# answers in the file's "Result:" line.
pg_write() {
  local file=$1 cmd=$2
  if ((dry_run)); then
    echo "$PGDIR/$file: $cmd"
    return
  fi
  if ! echo "$cmd" >"$PGDIR/$file"; then
    die "writing '$cmd' to $PGDIR/$file failed"
  fi
  # pgctrl has no Result line; start blocks and is checked by the caller.
  [[ $file == pgctrl ]] && return
  if ! grep -q "Result: OK:" "$PGDIR/$file"; then
    die "pktgen refused '$cmd' on $file: $(grep "Result:" "$PGDIR/$file" || true)"
  fi
}

if ((!dry_run)); then
  [[ $EUID -eq 0 ]] || die "must run as root (writes /proc/net/pktgen)"
  if [[ ! -d $PGDIR ]]; then
    modprobe pktgen 2>/dev/null || true
    [[ -d $PGDIR ]] || die "$PGDIR missing: this kernel has no pktgen (CONFIG_NET_PKTGEN)"
  fi
  [[ -e /sys/class/net/$dev ]] || die "no interface $dev"
  ncpu=$(nproc)
  ((first_cpu + threads <= ncpu)) || die "CPUs $first_cpu..$((first_cpu + threads - 1)) do not exist ($ncpu CPUs)"
fi

# pps per thread (pktgen paces per device); the remainder goes to thread 0.
per_thread_rate=0 rate_rest=0
if ((rate > 0)); then
  per_thread_rate=$((rate / threads))
  rate_rest=$((rate % threads))
  ((per_thread_rate > 0)) || die "--rate $rate is below one packet/s per thread"
fi

pg_write pgctrl reset

for ((t = 0; t < threads; t++)); do
  cpu=$((first_cpu + t))
  pdev="$dev@$cpu"
  thread="kpktgend_$cpu"
  # Thread t's slice of the flows: [lo, hi) of 0..flows-1.
  lo=$((flows * t / threads))
  hi=$((flows * (t + 1) / threads))

  pg_write "$thread" rem_device_all
  pg_write "$thread" "add_device $pdev"

  pg_write "$pdev" "flag QUEUE_MAP_CPU"
  pg_write "$pdev" "count $count"
  pg_write "$pdev" "clone_skb $clone"
  if [[ -n $imix ]]; then
    pg_write "$pdev" "imix_weights $imix"
  else
    pg_write "$pdev" "pkt_size $pkt_size"
  fi
  pg_write "$pdev" "flag NO_TIMESTAMP"
  if ((per_thread_rate > 0)); then
    pg_write "$pdev" "ratep $((per_thread_rate + (t == 0 ? rate_rest : 0)))"
  else
    pg_write "$pdev" "delay 0"
  fi
  ((burst > 1)) && pg_write "$pdev" "burst $burst"

  pg_write "$pdev" "dst_mac $dst_mac"
  [[ -n $src_mac ]] && pg_write "$pdev" "src_mac $src_mac"
  pg_write "$pdev" "udp_dst_min $dport"
  pg_write "$pdev" "udp_dst_max $dport"

  if ((ipv6)); then
    pg_write "$pdev" "dst6 $dst"
    pg_write "$pdev" "src6 $src"
    # Sequential ports (no UDPSRC_RND): each packet the next flow of the slice.
    pg_write "$pdev" "udp_src_min $((sport + lo))"
    pg_write "$pdev" "udp_src_max $((sport + hi - 1))"
  elif [[ $scenario == acl-flood ]]; then
    # As samples/pktgen's many_flows: random sources, a table of concurrent
    # flows each sending flowlen packets back to back.
    pg_write "$pdev" "dst_min $dst"
    pg_write "$pdev" "dst_max $dst"
    pg_write "$pdev" "flag IPSRC_RND"
    pg_write "$pdev" "src_min 198.19.0.0"
    pg_write "$pdev" "src_max 198.19.255.255"
    pg_write "$pdev" "udp_src_min $sport"
    pg_write "$pdev" "udp_src_max $sport"
    pg_write "$pdev" "flows $((hi - lo))"
    pg_write "$pdev" "flowlen $flowlen"
    pg_write "$pdev" "flag FLOW_SEQ"
  else
    # Sequential source addresses (no IPSRC_RND): one address per flow.
    pg_write "$pdev" "dst_min $dst"
    pg_write "$pdev" "dst_max $dst"
    pg_write "$pdev" "src_min $(int_to_ip4 $((src_int + lo)))"
    pg_write "$pdev" "src_max $(int_to_ip4 $((src_int + hi - 1)))"
    pg_write "$pdev" "udp_src_min $sport"
    pg_write "$pdev" "udp_src_max $sport"
  fi
done

echo "xdpgw-pktgen: scenario=$scenario family=$((ipv6 ? 6 : 4)) dev=$dev threads=$threads" \
  "cpus=$first_cpu-$((first_cpu + threads - 1)) flows=$flows size=$size rate=${rate:-0}" \
  "count=$count duration=$duration"

if ((dry_run)); then
  pg_write pgctrl start
  ((duration > 0)) && pg_write pgctrl stop
  exit 0
fi

print_results() {
  local total_pps=0 total_sent=0 line pps sent
  for ((t = 0; t < threads; t++)); do
    pdev="$dev@$((first_cpu + t))"
    echo "Device: $pdev"
    grep -A2 "Result:" "$PGDIR/$pdev" || true
    # "Result: OK: 1000(c999+d1) usec, 100 (60byte,0frags)" then "  100000pps ..."
    line=$(grep -A1 "Result: OK:" "$PGDIR/$pdev" || true)
    sent=$(sed -n 's/.*usec, \([0-9]\+\) (.*/\1/p' <<<"$line" | head -n1)
    pps=$(sed -n 's/^ *\([0-9]\+\)pps.*/\1/p' <<<"$line" | head -n1)
    total_sent=$((total_sent + ${sent:-0}))
    total_pps=$((total_pps + ${pps:-0}))
  done
  echo "xdpgw-pktgen: scenario=$scenario sent=$total_sent pps=$total_pps"
}

# start blocks until every thread has sent its count or pgctrl gets stop.
if ((duration > 0)); then
  echo start >"$PGDIR/pgctrl" &
  starter=$!
  sleep "$duration"
  echo stop >"$PGDIR/pgctrl"
  wait "$starter" || true
else
  # Ctrl-C stops pktgen's threads; the results are printed all the same.
  trap 'echo stop >"$PGDIR/pgctrl"' INT
  echo start >"$PGDIR/pgctrl" || true
  trap - INT
fi
print_results
