#!/usr/bin/env bash
# A real one-node SLURM cluster on this host, with accounting (slurmdbd + MariaDB) so that `sacct`
# works as on real clusters. For CI and by hand; needs root and Debian's slurmctld, slurmd,
# slurm-client, slurmdbd, munge and mariadb-server (tests/system_deps.sh installs them).
#
#   tests/slurm/cluster.sh start [STATE_DIR]   start everything; prints `export SLURM_CONF=...`
#   tests/slurm/cluster.sh stop  [STATE_DIR]   stop what `start` started (by PID), nothing else
#
# The node declares one GPU backed by /dev/null: Slurm then schedules `--gpus=1` exactly as on a GPU
# node (a GPU declared without a device file drains the node).
#
# The config files are linked into /etc/slurm (and the links removed by `stop`): the jobstep executor
# strips SLURM_CONF before its inner `srun`, which then only finds the default path. An existing
# /etc/slurm/slurm.conf that is not ours is never touched: `start` refuses instead.
set -euo pipefail
cmd=${1:?usage: cluster.sh start|stop [STATE_DIR]}
STATE=${2:-${SLURM_CI_STATE:-/tmp/utkface-slurm}}
CLUSTER=utkci
HOST=$(hostname -s)
DBPORT=${SLURM_CI_DBPORT:-33061}

pids_file="$STATE/pids"

ETC=/etc/slurm
CONFS=(slurm.conf gres.conf slurmdbd.conf)

unlink_confs() {
    for f in "${CONFS[@]}"; do
        if [[ -L $ETC/$f && $(readlink "$ETC/$f") == "$STATE/$f" ]]; then rm -f "$ETC/$f"; fi
    done
}

link_confs() {
    mkdir -p "$ETC"
    for f in "${CONFS[@]}"; do
        if [[ -e $ETC/$f && ! -L $ETC/$f ]]; then
            echo "ERROR: $ETC/$f exists and is not ours; refusing to replace a real Slurm config" >&2
            exit 1
        fi
        ln -sfn "$STATE/$f" "$ETC/$f"
    done
}

stop() {
    unlink_confs
    [[ -f $pids_file ]] || return 0
    # reverse start order: slurmd, slurmctld, slurmdbd, mariadb, munged
    tac "$pids_file" | while read -r name pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -9 "$pid" 2>/dev/null || true
            echo "stopped $name ($pid)"
        fi
    done
    rm -f "$pids_file"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local t=$1 what=$2
    shift 2
    for _ in $(seq $((t * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "ERROR: $what did not come up within ${t}s; logs in $STATE" >&2
    tail -n 20 "$STATE"/*.log >&2 || true
    return 1
}

record() { echo "$1 $2" >>"$pids_file"; }

start() {
    [[ $(id -u) -eq 0 ]] || { echo "ERROR: cluster.sh needs root" >&2; exit 1; }
    for b in slurmctld slurmd slurmdbd munged mariadbd mariadb-install-db sacctmgr sbatch; do
        command -v "$b" >/dev/null || { echo "ERROR: $b not found (run tests/system_deps.sh as root)" >&2; exit 1; }
    done
    stop
    rm -rf "$STATE"
    mkdir -p "$STATE"/{ctld,spool,db,run}
    chmod 755 "$STATE"
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) - 1024 ))

    # munge on its default socket (Slurm's accounting client ignores AuthInfo); reuse one already running
    # (its own files under /run: the munge user may not be able to reach $STATE)
    if ! munge -n >/dev/null 2>&1; then
        local md=/run/utkface-munge
        install -d -o munge -g munge -m 755 /run/munge "$md"
        runuser -u munge -- munged --pid-file="$md/munged.pid" --log-file="$md/munged.log" --seed-file="$md/seed"
        wait_for 10 munged munge -n
        record munged "$(cat "$md/munged.pid")"
    fi

    # MariaDB for slurmdbd, in our own data folder on a private port
    mariadb-install-db --user=root --datadir="$STATE/db" --auth-root-authentication-method=socket \
        >"$STATE/mariadb-install.log" 2>&1
    mariadbd --user=root --datadir="$STATE/db" --socket="$STATE/run/mysql.sock" --port="$DBPORT" \
        --bind-address=127.0.0.1 --pid-file="$STATE/run/mysql.pid" --log-error="$STATE/mariadb.log" \
        --skip-log-bin --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
    record mariadbd $!
    wait_for 60 mariadb mariadb --socket="$STATE/run/mysql.sock" -e "select 1"
    mariadb --socket="$STATE/run/mysql.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmci';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"

    cat >"$STATE/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldPort=${SLURM_CI_CTLD_PORT:-16817}
SlurmdPort=${SLURM_CI_SLURMD_PORT:-16818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
GresTypes=gpu
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
AccountingStorageHost=localhost
AccountingStoragePort=${SLURM_CI_DBD_PORT:-16819}
JobCompType=jobcomp/none
MinJobAge=120
InactiveLimit=0
KillWait=5
SlurmdTimeout=60
NodeName=$HOST CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=gpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
    echo "NodeName=$HOST Name=gpu File=/dev/null" >"$STATE/gres.conf"
    cat >"$STATE/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=${SLURM_CI_DBD_PORT:-16819}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/slurmdbd.log
CONF
    chmod 600 "$STATE/slurmdbd.conf"
    link_confs
    export SLURM_CONF="$STATE/slurm.conf"

    slurmdbd
    wait_for 30 slurmdbd test -s "$STATE/run/slurmdbd.pid"
    record slurmdbd "$(cat "$STATE/run/slurmdbd.pid")"
    wait_for 30 "slurmdbd answering" sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true

    slurmctld -c   # -c: forget any stale state (a DRAIN left from an earlier run)
    wait_for 30 slurmctld test -s "$STATE/run/slurmctld.pid"
    record slurmctld "$(cat "$STATE/run/slurmctld.pid")"
    slurmd
    wait_for 30 slurmd test -s "$STATE/run/slurmd.pid"
    record slurmd "$(cat "$STATE/run/slurmd.pid")"
    wait_for 60 "node $HOST idle" bash -c "sinfo -h -N -o %T | grep -qx idle"
    wait_for 30 "sacct" sacct -n -X
    echo "export SLURM_CONF=$SLURM_CONF"
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) echo "usage: cluster.sh start|stop [STATE_DIR]" >&2; exit 2 ;;
esac
