#!/usr/bin/env bash
# Check that ELF binaries were built hardened (KC_HARDEN, the default):
#   check-hardening.sh [--fortify=yes|no] BINARY...
# For each: position independent (ELF type DYN; executables also FLAGS_1
# PIE), full RELRO (a GNU_RELRO segment and BIND_NOW / FLAGS_1 NOW), a
# non-executable stack, the stack protector (__stack_chk_fail imported)
# and _FORTIFY_SOURCE (checked __*_chk functions imported; --fortify=no
# skips this for a Debug build, where -O0 turns it off).
set -uo pipefail
fail=0
fortify=yes
case ${1:-} in --fortify=*) fortify=${1#--fortify=}; shift ;; esac
check() { # NAME OK(0/1) DETAIL
	if [[ $2 == 0 ]]; then
		printf '  ok    %-22s %s\n' "$1" "$3"
	else
		printf '  FAIL  %-22s %s\n' "$1" "$3"
		fail=1
	fi
}
for bin in "$@"; do
	echo "$bin:"
	if [[ ! -f $bin ]]; then
		check exists 1 "no such file"
		continue
	fi
	hdr=$(readelf -h "$bin") dyn=$(readelf -d "$bin") seg=$(readelf -lW "$bin")
	syms=$(readelf --dyn-syms -W "$bin")
	grep -qE 'Type:[[:space:]]+DYN' <<<"$hdr"
	check "PIE (type DYN)" $? "$(grep -E 'Type:' <<<"$hdr" | sed 's/^ *//')"
	if [[ $bin != *.so* ]]; then
		grep -qE '\(FLAGS_1\).*PIE' <<<"$dyn"
		check "FLAGS_1 PIE" $? "$(grep -E '\(FLAGS_1\)' <<<"$dyn" | sed 's/^ *//')"
	fi
	grep -q 'GNU_RELRO' <<<"$seg"
	check "GNU_RELRO" $? "segment present"
	grep -qE '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW|\(BIND_NOW\)' <<<"$dyn"
	check "BIND_NOW" $? "$(grep -E '\((FLAGS|FLAGS_1|BIND_NOW)\)' <<<"$dyn" | sed 's/^ *//' | tr -s ' ' | paste -sd';')"
	stack=$(grep GNU_STACK <<<"$seg")
	[[ -n $stack && $stack != *RWE* ]]
	check "GNU_STACK not exec" $? "$(tr -s ' ' <<<"$stack" | sed 's/^ //')"
	grep -q '__stack_chk_fail' <<<"$syms"
	check "stack protector" $? "__stack_chk_fail imported"
	if [[ $fortify == yes ]]; then
		chk=$(grep -oE '__[a-z_]+_chk' <<<"$syms" | grep -v __stack_chk | sort -u)
		[[ -n $chk ]]
		check "_FORTIFY_SOURCE" $? "$(wc -w <<<"$chk") checked functions: $(head -c 120 <<<"$(paste -sd' ' <<<"$chk")")"
	else
		printf '  skip  %-22s %s\n' "_FORTIFY_SOURCE" "not checked (Debug build: no optimiser, no fortify)"
	fi
done
if ((fail)); then
	echo "hardening: FAIL"
	exit 1
fi
echo "hardening: PASS ($# binaries)"
