#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine, for CI and for trying the
# `slurm` profile locally.  Debian/Ubuntu, run as root; no systemd needed.
#
#   .ci/slurm-up.sh            install (if needed), configure, start, wait for the node
#   .ci/slurm-down.sh          stop the daemons again
#
# Safe to rerun: packages are installed once, the configuration is rewritten only
# when it changes (the daemons are then restarted), running daemons are left alone.
#
# The cluster mirrors the placeholders of profiles/slurm/config.yaml, so that the
# profile runs unmodified here:
#   partitions `cpu` (default) and `gpu`, both on this one node;
#   placeholder `gpu` gres (one per core, backed by links to /dev/null) so that
#   `--gres=gpu:1` requests are schedulable on a machine without a GPU; such jobs
#   get CUDA_VISIBLE_DEVICES set but find no CUDA device and run on the CPU.
# There is no accounting database (no slurmdbd): `sacct` does not work, so the
# profile asks the executor plugin to poll `squeue`, and MinJobAge keeps finished
# jobs visible to `squeue` for 300 s.
set -euo pipefail

SLURM_ETC=/etc/slurm                # inner `srun` calls only find the config here
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
WAIT_SECONDS=${SLURM_UP_TIMEOUT:-90}

start_time=$(date +%s)
log() { printf '[slurm-up] %s\n' "$*"; }
die() {
    printf '[slurm-up] ERROR: %s\n' "$*" >&2
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" /var/log/munge/munged.log; do
        if [[ -f $f ]]; then
            printf '\n===== last lines of %s =====\n' "$f" >&2
            tail -n 40 "$f" >&2
        fi
    done
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (installs packages and starts daemons)"

# --- 1. packages ----------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sinfo >/dev/null; then
    log "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# --- 2. munge -------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    if command -v mungekey >/dev/null; then
        mungekey --create --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 20); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.5
    done
    munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munged does not answer"
fi

# --- 3. slurm.conf --------------------------------------------------------------
host=$(hostname -s)
install -d -m 0755 "$SLURM_ETC" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR" "$RUN_DIR"

# The node line as slurmd sees the hardware, with RealMemory lowered to ~95% of
# the total so that the node is never drained for "low RealMemory".
node_line=$(slurmd -C | head -n 1)
[[ $node_line == NodeName=* ]] || die "unexpected output of 'slurmd -C': $node_line"
total_mb=$(free -m | awk '/^Mem:/ {print $2}')
real_mb=$((total_mb * 95 / 100))
node_line=$(sed -E "s/RealMemory=[0-9]+/RealMemory=${real_mb}/" <<<"$node_line")
cpus=$(grep -oE 'CPUs=[0-9]+' <<<"$node_line" | cut -d= -f2)

new_conf=$(mktemp)
new_gres=$(mktemp)
trap 'rm -f "$new_conf" "$new_gres"' EXIT
cat >"$new_conf" <<EOF
# Written by .ci/slurm-up.sh: a single-node cluster for CI.
ClusterName=aurora-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# keep finished jobs visible to squeue: the executor plugin polls squeue
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=${STATE_DIR}
SlurmdSpoolDir=${SPOOL_DIR}
SlurmctldPidFile=${RUN_DIR}/slurmctld.pid
SlurmdPidFile=${RUN_DIR}/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# placeholder GPUs (see gres.conf): lets the profile's gpu requests schedule
GresTypes=gpu
${node_line} Gres=gpu:${cpus} State=UNKNOWN
PartitionName=cpu Nodes=${host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${host} Default=NO MaxTime=INFINITE State=UP
EOF
# Slurm drops GPUs that have no device file, so each placeholder GPU points at a
# name of its own (links to /dev/null; nothing opens them, and with TaskPlugin=task/none
# no device cgroup is set up).
install -d -m 0755 "$RUN_DIR/fake-gpu"
for ((g = 0; g < cpus; g++)); do ln -sfn /dev/null "$RUN_DIR/fake-gpu/$g"; done
cat >"$new_gres" <<EOF
# Written by .ci/slurm-up.sh: placeholder GPUs without hardware.
NodeName=${host} Name=gpu File=${RUN_DIR}/fake-gpu/[0-$((cpus - 1))]
EOF

changed=0
for pair in "$new_conf:$SLURM_ETC/slurm.conf" "$new_gres:$SLURM_ETC/gres.conf"; do
    src=${pair%%:*} dst=${pair#*:}
    if ! cmp -s "$src" "$dst"; then
        install -m 0644 "$src" "$dst"
        changed=1
    fi
done

# --- 4. daemons -----------------------------------------------------------------
running() { # running NAME: the pid file names a live process of that name
    local pidfile=$RUN_DIR/$1.pid pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$1" ]]
}
stop() {
    local pidfile=$RUN_DIR/$1.pid pid
    running "$1" || return 0
    pid=$(<"$pidfile")
    kill "$pid"
    for _ in $(seq 40); do
        [[ -e /proc/$pid ]] || return 0
        sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
}

if ((changed)); then
    log "configuration written to $SLURM_ETC/slurm.conf"
    if running slurmd || running slurmctld; then
        log "configuration changed: restarting the daemons"
        stop slurmd
        stop slurmctld
    fi
fi
if ! running slurmctld; then
    log "starting slurmctld"
    slurmctld || die "slurmctld did not start"
fi
if ! running slurmd; then
    log "starting slurmd"
    slurmd || die "slurmd did not start"
fi

# --- 5. wait for the node -------------------------------------------------------
state=""
for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    state=$(sinfo -h -N -n "$host" -o '%t' 2>/dev/null | head -n 1 || true)
    case $state in
    idle | mix | alloc) break ;;
    down* | drain* | drng* | inval*)
        # e.g. left over from an earlier run; ReturnToService=2 usually does this
        scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
        ;;
    esac
    sleep 0.5
done
case $state in
idle | mix | alloc) ;;
*) die "node $host not ready after ${WAIT_SECONDS}s (state: '${state:-no answer}')" ;;
esac

sinfo
log "cluster up in $(($(date +%s) - start_time)) s"
