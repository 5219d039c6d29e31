# Shared helpers of the CLI tests; source it after setting BIN (the fracture binary) and fail=0.
#   expect CODE PATTERN -- ARGS...   runs "$BIN" ARGS, requires exit status CODE and PATTERN (grep) in
#                                    its output; on a mismatch prints why and sets fail=1
expect() {
  local code="$1" pat="$2"; shift 3
  local out rc
  out=$("$BIN" "$@" 2>&1); rc=$?
  if [ "$rc" != "$code" ]; then echo "FAIL: fracture $* exited $rc, expected $code"; echo "$out"; fail=1; return; fi
  if ! grep -q -- "$pat" <<<"$out"; then echo "FAIL: fracture $*: output lacks '$pat'"; echo "$out"; fail=1; fi
}
