#!/usr/bin/env bash
# Installs the Debian packages in scripts/system-packages.txt that are missing
# (as root: apt-get update + apt-get install --no-install-recommends), and checks
# Node.js. A no-op, without calling apt, when everything is there.
# Not root and something missing, or apt failing: one line on stderr, exit 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=${BERTH_SYSTEM_PACKAGES:-$here/system-packages.txt}

fail() { echo "setup: $*" >&2; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || fail "node is not on PATH: install Node.js 20 or later (https://nodejs.org)"
[ "$node_major" -ge 20 ] || fail "Node.js $(node --version) is too old: berth needs 20 or later"

[ -r "$list" ] || fail "cannot read the package list $list"
mapfile -t packages < <(sed -e 's/#.*//' "$list" | awk 'NF { print $1 }')
[ "${#packages[@]}" -gt 0 ] || fail "no packages listed in $list"

command -v dpkg-query >/dev/null || fail "dpkg-query not found: this set-up needs Debian (or Ubuntu); install these packages yourself: ${packages[*]}"
# One dpkg-query for the whole list (unknown packages only print to stderr).
installed=" $(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null | awk '$2 == "installed" { printf "%s ", $1 }')"
missing=()
for p in "${packages[@]}"; do
  [[ "$installed" == *" $p "* ]] || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  fail "missing Debian packages ${missing[*]}: run as root, or: sudo apt-get install -y --no-install-recommends ${missing[*]}"
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp "${TMPDIR:-/tmp}/berth-setup.XXXXXX")
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  why=$(grep -E '^E:' "$log" | tail -n 1)
  [ -n "$why" ] || why=$(awk 'NF { l = $0 } END { print l }' "$log")
  fail "apt-get could not install ${missing[*]}: ${why:-no output}"
fi
exit 0
