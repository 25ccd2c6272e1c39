# Sourced by the job scripts after starting their workers in the background ($!): pass SIGUSR1 (the time
# limit is near: --signal=B:USR1@...) and SIGTERM (pre-emption) to them, wait for them, and requeue the job
# when they stopped to be continued (exit status 75: their runs are checkpointed; or any failure after a signal).
PID=$!
SIGNALLED=0
# (torchrun stops its processes on SIGTERM, not SIGUSR1: its script sets STOP_SIGNAL=TERM)
trap 'SIGNALLED=1; kill -"${STOP_SIGNAL:-USR1}" "$PID" 2>/dev/null' USR1
trap 'SIGNALLED=1; kill -TERM "$PID" 2>/dev/null' TERM
RC=
while [[ -z "$RC" ]]; do
  wait "$PID"; status=$?
  # a wait interrupted by a trapped signal returns > 128 while the workers still run: wait again
  if (( status < 128 )) || ! kill -0 "$PID" 2>/dev/null; then RC=$status; fi
done
# 75: the workers checkpointed; after a signal, any failure (torchrun reports its processes' 75 as 1)
if (( RC == 75 || (SIGNALLED && RC != 0) )); then
  echo "requeueing job ${SLURM_JOB_ID:-?}: the workers checkpointed their runs (status $RC)"
  scontrol requeue "${SLURM_JOB_ID:?}" || echo "scontrol requeue failed: resubmit the job to continue" >&2
fi
exit "$RC"
