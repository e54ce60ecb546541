#!/usr/bin/env bash
# Stop the daemons started by .ci/slurm-up.sh (by their pid files).  The packages,
# configuration and state stay; rerun .ci/slurm-up.sh to start again.
set -euo pipefail

RUN_DIR=/run/slurm

stop() { # stop NAME PIDFILE
    local pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    if [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$1" ]]; then
        echo "[slurm-down] stopping $1 (pid $pid)"
        kill "$pid"
        for _ in $(seq 40); do
            [[ -e /proc/$pid ]] || return 0
            sleep 0.25
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
}

stop slurmd "$RUN_DIR/slurmd.pid"
stop slurmctld "$RUN_DIR/slurmctld.pid"
if [[ ${1:-} == --all ]]; then
    stop munged /run/munge/munged.pid
fi
