#!/usr/bin/env bash
# Reliability and security checks, run by scripts/test.sh after the test
# suite (and by hand).  Each step prints its own PASS/FAIL lines; this script
# runs them all (a failing step does not stop the next), prints a summary
# with the time of each, and exits 1 when any failed.
#
#   scripts/reliability.sh                     every step
#   RELIABILITY_STEPS="fuzz tsan" scripts/reliability.sh
#
# Steps, in order:
#   analyze   clang-tidy, cppcheck, gcc -fanalyzer     scripts/analyze.sh
#   fuzz      libFuzzer, FUZZ_SECONDS (15) per target   test/fuzz/run.sh
#   tsan      ThreadSanitizer, operator support code   scripts/tsan.sh
#   valgrind  memcheck, unit + 6 integration tests     scripts/valgrind.sh
#   sanitize  ASan+UBSan+LSan, unit/integration/e2e    scripts/sanitize.sh
# Hardening (KC_HARDEN) is checked by the hardening_elf test of the normal
# suite.  docs/reliability.md says how to run each tool for longer.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
steps=(${RELIABILITY_STEPS:-analyze fuzz tsan valgrind sanitize})
fuzz_seconds=${FUZZ_SECONDS:-15}
declare -A result secs
t0=$SECONDS
for s in "${steps[@]}"; do
	echo
	echo "==== reliability: $s"
	start=$SECONDS
	case $s in
	analyze) "$top/scripts/analyze.sh" ;;
	fuzz) "$top/test/fuzz/run.sh" "$fuzz_seconds" ;;
	tsan) "$top/scripts/tsan.sh" ;;
	valgrind) "$top/scripts/valgrind.sh" ;;
	sanitize) "$top/scripts/sanitize.sh" ;;
	*) echo "reliability: unknown step $s"; false ;;
	esac
	rc=$?
	secs[$s]=$((SECONDS - start))
	if ((rc == 0)); then result[$s]=PASS; else result[$s]=FAIL; fi
	echo "==== reliability: $s ${result[$s]} in ${secs[$s]}s"
done
echo
echo "reliability summary:"
fail=0 passed=0
for s in "${steps[@]}"; do
	printf '  %-9s %-4s %6ss\n' "$s" "${result[$s]}" "${secs[$s]}"
	[[ ${result[$s]} == PASS ]] && passed=$((passed + 1)) || fail=$((fail + 1))
done
printf '  %-9s %-4s %6ss\n' total "$( ((fail)) && echo FAIL || echo PASS)" "$((SECONDS - t0))"
echo "reliability: $passed passed, $fail failed"
((fail == 0))
