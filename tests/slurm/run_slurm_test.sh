#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The study.sbatch script of docs/study.md on a private single-node Slurm:
# an array of 3 shards and the merge job give the bytes of one unsharded
# run, also when a task is cancelled mid-shard and resubmitted alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${RIP_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
build=${RIP_BUILD_ROOT:-$root/build}

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root (the daemons run as root)"
for c in slurmctld slurmd sbatch munged; do
  command -v "$c" >/dev/null || skip "$c not installed (apt-get install slurm-wlm munge)"
done
[[ -d /usr/share/doc/opencv-doc/examples/data ]] || skip "opencv-doc's images not installed"

tmp=$(mktemp -d /tmp/rip-slurm.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
logs() {
  local f
  for f in "$tmp"/munged.log "$tmp"/slurmctld.log "$tmp"/slurmd.log; do
    [[ -f $f ]] && { echo "--- tail of $f"; tail -n 30 "$f"; }
  done
  return 0
}
fail() { echo "FAIL: $*"; logs; exit 1; }

# munge, with its key, socket and files here, not the system's.
mkdir -m 700 "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
sock=$tmp/munge/munge.socket
munged --key-file="$tmp/munge/munge.key" --socket="$sock" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munged.log" \
  --seed-file="$tmp/munge/munged.seed" --force ||
  { tail -n 20 "$tmp/munged.log" 2>/dev/null; skip "munged cannot run here (log above)"; }
for _ in $(seq 50); do [[ -s $tmp/munge/munged.pid ]] && break; sleep 0.1; done
pids+=("$(cat "$tmp/munge/munged.pid")")

# Ports of our own: a system Slurm may hold the default ones.
port=$((20000 + RANDOM % 20000))
read -r cpus mem < <(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*RealMemory=\([0-9]*\).*/\1 \2/p')
mkdir "$tmp/state" "$tmp/spool"
export SLURM_CONF=$tmp/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=riptest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# Slurm's auth plugin and munge's clients find our munged by this too.
export MUNGE_SOCKET=$sock

slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 & pids+=($!)
state=
for _ in $(seq 120); do
  state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
  [[ $state == idle ]] && break
  sleep 0.5
done
# Daemons that cannot come up say so about this machine, not about the
# study script: a visible skip, with their logs.
[[ $state == idle ]] || { tail -n 20 "$tmp"/slurm*.out; skip "Slurm's daemons did not come up here in 60 s (sinfo: '$state'; logs above)"; }
echo "single-node Slurm up: $(sinfo -h -o '%P %D %t %c')"

# The spec of tests/scripts/run_case.sh's study tests, with longer runs
# (inpaint 8.0) and more seeds so that a task can be cancelled mid-shard.
export GST_PLUGIN_PATH_1_0=$build/plugins
export GST_REGISTRY_1_0=$tmp/registry.bin
export OMP_NUM_THREADS=1
cd "$tmp"
mkdir img
for f in starry_night baboon fruits; do cp "/usr/share/doc/opencv-doc/examples/data/$f.jpg" img/; done
cat > spec.toml <<EOF
name = "test"
mask_sizes = [64, 128]
inpaint = 8.0
metrics = ["ssim", "psnr"]
[images]
folder = "$tmp/img"
glob = "*.jpg"
width = 256
height = 256
[seed_spread]
images = ["starry_night"]
seeds = [0, 1, 2, 3]
EOF
rip_study() { /usr/bin/python3 "$root/tools/rip-study" "$@"; }
rip_study run spec.toml ref -q || fail "the unsharded reference run failed"
# The doc's script runs `rip-study` from PATH, as installed.
mkdir bin
printf '#!/bin/bash\nexec /usr/bin/python3 %q "$@"\n' "$root/tools/rip-study" > bin/rip-study
chmod +x bin/rip-study
export PATH=$tmp/bin:$PATH

# The doc's script, verbatim but for these substitutions:
#   spec=...  -> this spec;   out=...  -> this round's OUT;
#   shards=16 -> 3, the --array size here.
doc_script() {
  awk '/^```/ { if (inb) { if (blk ~ /#SBATCH/) { printf "%s", blk; exit } inb = 0; blk = "" }
                else inb = 1; next }
       inb { blk = blk $0 "\n" }' "$root/docs/study.md"
}
doc_script > doc.sbatch
[[ -s doc.sbatch ]] || fail "no #SBATCH block in docs/study.md"
grep -q -- '--dependency=afterany:\$jid' "$root/docs/study.md" || fail "the doc's merge job changed"
subst() {  # subst FILE PATTERN REPLACEMENT: the line must be there
  grep -q "$2" "$1" || fail "docs/study.md's script has no line matching $2"
  sed -i "s|$2|$3|" "$1"
}
make_round() {  # make_round DIR: DIR/study.sbatch, DIR/logs
  mkdir -p "$1/logs"
  cp doc.sbatch "$1/study.sbatch"
  subst "$1/study.sbatch" '^spec=.*' "spec=$tmp/spec.toml"
  subst "$1/study.sbatch" '^out=[^ ]*' "out=$tmp/$1/out"
  subst "$1/study.sbatch" '^shards=[0-9]*' 'shards=3'
}
# The node has $cpus CPUs, not the doc's 16 per task: one each.
sb() { sbatch --parsable --cpus-per-task=1 "$@"; }
merge_job() {  # merge_job OUT DEPENDENCY: the doc's merge and report
  sbatch --parsable --dependency="afterany:$2" --wrap \
    "rip-study merge $1/all $1/shard-* &&
     rip-study report $1/all"
}
wait_empty() {
  for _ in $(seq 600); do
    [[ -z $(squeue -h -o %i) ]] && return 0
    sleep 0.5
  done
  squeue; fail "jobs still queued after 5 min"
}
job_state() { scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
check_round() {  # check_round DIR MERGE-JOB
  local s
  s=$(job_state "$2")
  [[ $s == COMPLETED ]] || { cat "$1"/slurm-*.out "$1"/logs/* 2>/dev/null; fail "$1: merge job $s"; }
  cmp ref/results.csv "$1/out/all/results.csv" || fail "$1: merged results.csv differs from the reference's"
}

# Round 1: the array and the merge, as the doc submits them.
make_round r1
cd r1
jid=$(sb --array=0-2 study.sbatch)
mid=$(merge_job "$tmp/r1/out" "$jid")
cd "$tmp"
wait_empty
for i in 0 1 2; do
  s=$(job_state "${jid}_$i")
  [[ $s == COMPLETED ]] || { cat r1/logs/*; fail "r1: task $i $s"; }
done
check_round r1 "$mid"
echo "round 1: 3 array tasks and the merge give the reference's results.csv"

# Round 2: cancel a task after its first finished run, resubmit it alone
# (as the doc says), then merge.
total=()
for i in 0 1 2; do total[$i]=$(rip_study plan spec.toml --shard "$i/3" | grep -c $'\t'); done
make_round r2
cd r2
jid=$(sb --array=0-2 study.sbatch)
victim=
for _ in $(seq 6000); do
  for i in 0 1 2; do
    n=$(ls "out/shard-$i/runs" 2>/dev/null | grep -c '\.csv$' || true)
    if (( n >= 1 && n < total[$i] )); then victim=$i; break 2; fi
  done
  sleep 0.02
done
[[ -n $victim ]] || fail "r2: no task caught mid-shard; make the runs longer"
scancel "${jid}_$victim"
for _ in $(seq 100); do
  s=$(job_state "${jid}_$victim")
  [[ $s == CANCELLED ]] && break
  sleep 0.1
done
n=$(ls "out/shard-$victim/runs" | grep -c '\.csv$' || true)
echo "round 2: task $victim cancelled ($s) with $n of ${total[$victim]} runs done"
[[ $s == CANCELLED ]] || fail "r2: task $victim is $s after scancel"
(( n < total[$victim] )) || fail "r2: task $victim finished before the cancel; make the runs longer"
jid2=$(sb --array="$victim" study.sbatch)
mid=$(merge_job "$tmp/r2/out" "$jid:$jid2")
cd "$tmp"
wait_empty
s=$(job_state "${jid2}_$victim")
[[ $s == COMPLETED ]] || { cat r2/logs/*; fail "r2: resubmitted task $victim $s"; }
check_round r2 "$mid"
echo "round 2: the resubmitted task resumed; the merge gives the reference's results.csv"
echo PASS
