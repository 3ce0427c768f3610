#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py and for trying
# profiles/slurm by hand:
#   bash .ci/start_slurm.sh          install (first time) and start; prints `export SLURM_CONF=...`
#   bash .ci/start_slurm.sh stop     stop the daemons this script started, unlink its config
# It installs Debian's slurm-wlm and munge with apt-get when they are missing, writes its own
# slurm.conf (localhost, no accounting database) into $STYLESWEEP_SLURM (default
# /var/lib/stylesweep-slurm), links it as /etc/slurm/slurm.conf (the jobs' own srun finds
# its configuration only there: snakemake's jobstep plugin drops SLURM_CONF), and starts
# munged, slurmctld and slurmd without systemd, on ports of their own (6917, 6918). A
# machine with a slurm.conf of its own (part of a real cluster) is left alone: the script
# stops there. Running it again while the cluster is up does nothing.
# Needs root (slurmd starts each job as its user) and Linux. Exit status 0: up;
# 2: it cannot run here, and the last line of stderr says why (the test skips with it).
set -euo pipefail

root=${STYLESWEEP_SLURM:-/var/lib/stylesweep-slurm}
conf=$root/slurm.conf
say() { echo "start_slurm: $*" >&2; }
cannot() {
    say "$*"
    exit 2
}

if [ "${1:-}" = stop ]; then
    for daemon in slurmd slurmctld munged; do
        if [ -f "$root/$daemon.pid" ]; then
            kill "$(cat "$root/$daemon.pid")" 2> /dev/null || true
            rm -f "$root/$daemon.pid"
        fi
    done
    # Our configuration leaves /etc/slurm with the daemons: a client that found it would
    # wait out its timeout on the stopped controller (scontrol, and so Snakemake's SLURM
    # plugin); without it, a client fails at once.
    for link in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
        case "$(readlink "$link" 2> /dev/null)" in "$root"/*) rm -f "$link" ;; esac
    done
    exit 0
fi

[ "$(uname -s)" = Linux ] || cannot "a SLURM test cluster needs Linux"
[ "$(id -u)" -eq 0 ] || cannot "starting a SLURM test cluster needs root (slurmd runs jobs as their users)"
mkdir -p "$root/state" "$root/spool"

etc=/etc/slurm/slurm.conf
if [ -e "$etc" ] && ! grep -q "Written by .ci/start_slurm.sh" "$etc"; then
    cannot "$etc exists: this machine has a SLURM configuration of its own, left alone"
fi
up() { [ -f "$conf" ] && SLURM_CONF=$conf timeout 10 sinfo -h -o %T 2> /dev/null | grep -qE '^(idle|mixed|allocated)'; }
if up; then
    echo "export SLURM_CONF=$conf"
    exit 0
fi

# 1. Install.
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null ||
    ! command -v sbatch > /dev/null || ! command -v munged > /dev/null; then
    command -v apt-get > /dev/null || cannot "no apt-get here: install slurm-wlm and munge yourself"
    say "installing Debian's slurm-wlm and munge with apt-get (about half a minute)..."
    if ! { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurm-wlm munge; } > "$root/apt.log" 2>&1; then
        tail -n 5 "$root/apt.log" >&2
        cannot "apt-get install slurm-wlm munge failed (log: $root/apt.log)"
    fi
fi

# 2. munge, the authentication every slurm message carries (one key, one machine).
if ! munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile /etc/munge/munge.key 2> /dev/null ||
            dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
        chown munge:munge /etc/munge/munge.key 2> /dev/null || true
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2> /dev/null || true
    if id munge > /dev/null 2>&1; then
        runuser -u munge -- munged --force || munged --force
    else
        munged --force
    fi
    for _ in $(seq 20); do
        munge -n 2> /dev/null | unmunge > /dev/null 2>&1 && break
        sleep 0.5
    done
    munge -n 2> /dev/null | unmunge > /dev/null 2>&1 || cannot "munged did not start"
    # started here, so `stop` stops it too
    cp /run/munge/munged.pid "$root/munged.pid" 2> /dev/null || true
fi

# 3. slurm.conf: one node, this host at 127.0.0.1. It declares at least 8 CPUs, 64 GB and
# one GPU (a gres on /dev/null), whatever the machine has, so that the jobs of
# profiles/slurm, sized for Stable Diffusion 1.5, are scheduled here as they are on a real
# GPU node (and get CUDA_VISIBLE_DEVICES=0 from slurm); `config_overrides` keeps slurmd
# from draining a node smaller than declared. The tiny test workflow uses a fraction of
# that, and Snakemake's --jobs bounds how many jobs run at once.
host=$(hostname -s)
cpus=$(nproc)
memory=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
[ "$cpus" -ge 8 ] || cpus=8
[ "$memory" -ge 65536 ] || memory=65536
echo "NodeName=$host Name=gpu File=/dev/null" > "$root/gres.conf"
cat > "$conf" << EOF
# Written by .ci/start_slurm.sh: a one-node test cluster, no accounting database.
ClusterName=stylesweep
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$root/state
SlurmdSpoolDir=$root/spool
SlurmctldPidFile=$root/slurmctld.pid
SlurmdPidFile=$root/slurmd.pid
SlurmctldLogFile=$root/slurmctld.log
SlurmdLogFile=$root/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for 10 minutes (the status command without sacct).
MinJobAge=600
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

mkdir -p /etc/slurm
ln -sf "$conf" "$etc"
ln -sf "$root/gres.conf" /etc/slurm/gres.conf

# 4. The daemons, in the background, each with its pid file in $root.
export SLURM_CONF=$conf
slurmctld -f "$conf" || cannot "slurmctld did not start (log: $root/slurmctld.log)"
slurmd -f "$conf" || cannot "slurmd did not start (log: $root/slurmd.log)"
for _ in $(seq 120); do
    up && break
    sleep 0.5
done
up || cannot "the node did not come up (sinfo: $(sinfo -h 2>&1 | head -n 1); logs in $root)"
echo "export SLURM_CONF=$conf"
