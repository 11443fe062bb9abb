#!/usr/bin/env bash
# timed.sh "STEP" CMD... runs CMD, printing the step before and its elapsed
# time after, so that long builds and waits show progress.
set -uo pipefail
step=$1
shift
start=$(date +%s)
echo "==> $step"
"$@"
rc=$?
elapsed=$(($(date +%s) - start))
if ((rc == 0)); then
	printf '<== %s: done in %dm%02ds\n' "$step" $((elapsed / 60)) $((elapsed % 60))
else
	printf '<== %s: FAILED (exit %d) after %dm%02ds\n' "$step" "$rc" $((elapsed / 60)) $((elapsed % 60))
fi
exit $rc
