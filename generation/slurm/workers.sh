# Sourced by the job scripts, with the worker arguments, before starting their workers: chooses the device
# and the workers of this job. Sets DEVICE (cuda or cpu), ARGS (the worker arguments less --device) and
# WORKERS (generation.launch's arguments).
#
# The device: --device X among the worker arguments, else ACTBENCH_DEVICE, else cuda when the job has a GPU
# (Slurm names the job's GPUs in SLURM_JOB_GPUS or CUDA_VISIBLE_DEVICES, or nvidia-smi lists one) and cpu
# when it has none: the same script runs on a GPU partition and on a CPU partition.
# The workers: on a GPU, ACTBENCH_PER_GPU (default 1) on each of the job's GPUs; on the CPU,
# ACTBENCH_WORKERS processes (default: one per CPU of the job, SLURM_CPUS_PER_TASK) of ACTBENCH_THREADS
# torch threads each (default 1).
ARGS=()
DEVICE=${ACTBENCH_DEVICE:-}
while (( $# )); do
  case "$1" in
    --device) DEVICE=${2:?--device needs a value (cuda or cpu)}; shift 2 ;;
    --device=*) DEVICE=${1#--device=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [[ -z "$DEVICE" ]]; then
  GPU_IDS=${SLURM_JOB_GPUS:-${SLURM_STEP_GPUS:-${CUDA_VISIBLE_DEVICES:-}}}
  if [[ -n "$GPU_IDS" && "$GPU_IDS" != NoDevFiles ]] || nvidia-smi -L >/dev/null 2>&1; then DEVICE=cuda; else DEVICE=cpu; fi
fi
case "$DEVICE" in
  cpu) WORKERS=(--procs "${ACTBENCH_WORKERS:-${SLURM_CPUS_PER_TASK:-1}}" --threads "${ACTBENCH_THREADS:-1}") ;;
  cuda*) WORKERS=(--gpus "${CUDA_VISIBLE_DEVICES:-0}" --per-gpu "${ACTBENCH_PER_GPU:-1}") ;;
  *) echo "unknown device '$DEVICE': give cuda or cpu (--device or ACTBENCH_DEVICE)" >&2; exit 2 ;;
esac
echo "job ${SLURM_JOB_ID:-?}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)} on $(hostname -s): device $DEVICE, launcher ${WORKERS[*]}"
