#!/usr/bin/env bash
# How xdpgw logs: on a terminal or into a file, a timestamp and the level's
# name; when $JOURNAL_STREAM names the stderr it writes to (systemd's
# StandardError=journal), a syslog priority prefix instead and no
# timestamp; --log-level filters, before or after the subcommand.
set -uo pipefail
xdpgw=$1
scratch=$(mktemp -d /tmp/xdpgw-log-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# `stop` of an instance that does not run logs one info line.
instance=logtest-$RANDOM$RANDOM

log=$scratch/plain.log
"$xdpgw" stop --instance "$instance" 2>"$log"
grep -qE "^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+ info instance $instance: no daemon running$" "$log" ||
  fail "plain format: $(cat "$log")"

log=$scratch/journal.log
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") "$xdpgw" stop --instance "$instance" 2>>"$log"
grep -qx "<6>instance $instance: no daemon running" "$log" || fail "journal format: $(cat "$log")"

# Another file's device:inode (a variable inherited by a process whose
# stderr goes elsewhere): plain format.
log=$scratch/elsewhere.log
JOURNAL_STREAM=$(stat -c '%d:%i' "$scratch") "$xdpgw" stop --instance "$instance" 2>"$log"
grep -q "^20.* info instance" "$log" || fail "JOURNAL_STREAM of another file: $(cat "$log")"

# Config errors from check (ExecStartPre) carry the error priority too.
printf '[gateway]\ninstance = "Bad Name"\n' >"$scratch/bad.toml"
log=$scratch/check.log
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") "$xdpgw" check --offline -c "$scratch/bad.toml" 2>>"$log"
grep -q "^<3>$scratch/bad.toml:2:" "$log" || fail "config error under journald: $(cat "$log")"
if grep -qv "^<[0-7]>" "$log"; then fail "a line without priority: $(cat "$log")"; fi

for args in "--log-level warn stop --instance $instance" "stop --log-level warn --instance $instance"; do
  # shellcheck disable=SC2086 # word splitting intended
  out=$("$xdpgw" $args 2>&1) || fail "xdpgw $args failed: $out"
  [[ -z $out ]] || fail "xdpgw $args logged below warn: $out"
done
out=$("$xdpgw" --log-level debug stop --instance "$instance" 2>&1)
grep -q "no daemon running" <<<"$out" || fail "--log-level debug hid an info line: $out"

out=$("$xdpgw" --log-level loud stop --instance "$instance" 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "--log-level loud: exit $rc, expected 2: $out"

((failures == 0)) || exit 1
echo PASS
