#!/usr/bin/env bash
# Fails when an ELF file needs a glibc symbol version newer than the floor:
#   bash scripts/check-glibc-floor.sh 2.17 FILE...
# Prints, for each file, the newest GLIBC_ version it references (objdump -T: the dynamic symbol
# table, which is what the dynamic loader checks against the installed glibc).
set -euo pipefail
floor=${1:?usage: check-glibc-floor.sh FLOOR FILE...}
shift
[ $# -gt 0 ] || { echo "check-glibc-floor.sh: no file named" >&2; exit 2; }
status=0
for file in "$@"; do
  versions=$(objdump -T "$file" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV)
  newest=$(echo "$versions" | tail -n 1)
  if [ -z "$newest" ]; then
    echo "check-glibc-floor: $file references no GLIBC_ version (is it dynamically linked?)" >&2
    status=1
    continue
  fi
  if [ "$(printf '%s\n%s\n' "$floor" "$newest" | sort -V | tail -n 1)" != "$floor" ]; then
    echo "check-glibc-floor: $file needs GLIBC_$newest, above the floor $floor:" >&2
    objdump -T "$file" | grep 'GLIBC_' | awk -v floor="$floor" '{ for (i = 1; i <= NF; i++) if ($i ~ /GLIBC_/) { v = $i; sub(/.*GLIBC_/, "", v); sub(/\)$/, "", v); print v, $NF } }' |
      sort -V | awk -v floor="$floor" '{ split($1, a, "."); split(floor, f, "."); if (a[1] > f[1] || (a[1] == f[1] && a[2] + 0 > f[2] + 0)) print "  GLIBC_" $1 "  " $2 }' >&2
    status=1
  else
    echo "glibc floor $floor: $(basename "$file") needs at most GLIBC_$newest"
  fi
done
exit $status
