# Sourced by the job scripts after starting their workers in the background ($!): pass SIGUSR1 (the time
# limit is near: --signal=B:USR1@...) and SIGTERM (pre-emption) to them, wait for them, and requeue the job
# when they stopped to be continued (exit status 75: their runs are checkpointed).
PID=$!
SIGNALLED=0
trap 'SIGNALLED=1; kill -USR1 "$PID" 2>/dev/null' USR1
trap 'SIGNALLED=1; kill -TERM "$PID" 2>/dev/null' TERM
RC=
while [[ -z "$RC" ]]; do
  wait "$PID"; status=$?
  # a wait interrupted by a trapped signal returns > 128 while the workers still run: wait again
  if (( status < 128 )) || ! kill -0 "$PID" 2>/dev/null; then RC=$status; fi
done
if (( RC == 75 || (SIGNALLED && RC > 128) )); then
  echo "requeueing job ${SLURM_JOB_ID:-?}: the workers checkpointed their runs (status $RC)"
  scontrol requeue "${SLURM_JOB_ID:?}" || echo "scontrol requeue failed: resubmit the job to continue" >&2
fi
exit "$RC"
