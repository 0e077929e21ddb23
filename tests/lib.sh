# Shared helpers for the shell test scripts (sourced). Counters: passed, failed.
passed=${passed:-0} failed=${failed:-0}

# check NAME EXPECTED_EXIT PATTERN -- command...
# Passes when the command exits EXPECTED_EXIT and its output (stdout+stderr) matches PATTERN (ERE;
# empty matches anything).
check() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out code
  out=$("$@" 2>&1)
  code=$?
  if [[ $code -eq $want ]] && { [[ -z $pattern ]] || grep -qE -- "$pattern" <<<"$out"; }; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $code (want $want), pattern '$pattern'"
    echo "$out" | tail -25 | sed 's/^/    /'
  fi
}
