# Sourced by the job scripts after starting their workers in the background ($!): pass SIGUSR1 (the time
# limit is near: --signal=B:USR1@...) and SIGTERM (scancel, scontrol requeue, pre-emption, the time limit
# itself) to them, wait for them, and requeue the job when they stopped to be continued: after SIGUSR1, or
# when they exit with status 75 by themselves (a study worker that reached its time limit). After SIGTERM the
# script requeues nothing: Slurm has decided (scontrol requeue and pre-emption in requeue mode requeue the job,
# scancel ends it), and the runs' checkpoints are kept either way, so submitting the job again continues them.
PID=$!
USR1=0
TERM=0
# (torchrun stops its processes on SIGTERM, not SIGUSR1: its script sets STOP_SIGNAL=TERM)
trap 'USR1=1; kill -"${STOP_SIGNAL:-USR1}" "$PID" 2>/dev/null' USR1
trap 'TERM=1; kill -TERM "$PID" 2>/dev/null' TERM
RC=
while [[ -z "$RC" ]]; do
  wait "$PID"; status=$?
  # a wait interrupted by a trapped signal returns > 128 while the workers still run: wait again
  if (( status < 128 )) || ! kill -0 "$PID" 2>/dev/null; then RC=$status; fi
done
# 75: the workers checkpointed; after SIGUSR1, any failure (torchrun reports its processes' 75 as 1)
if (( !TERM && (RC == 75 || (USR1 && RC != 0)) )); then
  echo "requeueing job ${SLURM_JOB_ID:-?}: the workers checkpointed their runs (status $RC)"
  scontrol requeue "${SLURM_JOB_ID:?}" || echo "scontrol requeue failed: resubmit the job to continue" >&2
elif (( TERM && RC != 0 )); then
  echo "stopped by SIGTERM (status $RC): the runs are checkpointed; Slurm requeues the job or, if it was cancelled, submit it again to continue them"
fi
exit "$RC"
