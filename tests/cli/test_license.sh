#!/usr/bin/env bash
# LICENSE matches what the sources say: every SPDX line in the tree names
# the expression LICENSE states, LICENSE carries the text of both licenses,
# and the BPF programs tell the kernel "Dual BSD/GPL" (GPL-compatible).
set -uo pipefail
src=$1
cd "$src" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

expr="(GPL-2.0-only OR BSD-2-Clause)"
grep -qF "SPDX-License-Identifier: $expr" LICENSE || fail "LICENSE does not state $expr"
grep -q "^BSD 2-Clause License" LICENSE || fail "LICENSE lacks the BSD-2-Clause text"
grep -q "GNU GENERAL PUBLIC LICENSE" LICENSE && grep -q "Version 2, June 1991" LICENSE ||
  fail "LICENSE lacks the GPL-2.0 text"

# Every SPDX line in the tracked sources (LICENSE and this test quote it).
count=0
while IFS= read -r hit; do
  count=$((count + 1))
  [[ $hit == *"SPDX-License-Identifier: $expr"* ]] || fail "an SPDX line names another license: $hit"
done < <(git ls-files -z | grep -zvxE 'LICENSE|tests/cli/test_license.sh' |
  xargs -0 grep -H "SPDX-License-Identifier:" --)
((count > 10)) || fail "only $count SPDX lines found: is the search wrong?"

# Every BPF object's license string: one each, all "Dual BSD/GPL".
while IFS= read -r hit; do
  [[ $hit == *'SEC("license") = "Dual BSD/GPL";' ]] || fail "a BPF license string is not \"Dual BSD/GPL\": $hit"
done < <(git ls-files -z '*.bpf.c' | xargs -0 grep -H 'SEC("license")' --)

((failures == 0)) || exit 1
echo PASS
