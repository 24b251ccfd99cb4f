#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Script-level tests: the ready pipelines, the Python example and the tools,
# run as a user runs them, in a temporary folder. One case per call:
#   run_case.sh CASE
set -euo pipefail
root="${RIP_SOURCE_ROOT:?}"
image=/usr/share/doc/opencv-doc/examples/data/starry_night.jpg
if [[ ! -f "$image" ]]; then
  echo "SKIP: $image missing (install opencv-doc)"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }

# rip-study: a small study on three opencv-doc images (256x256, 64 and 128 px
# masks, 100 %: 16 and 4 iterations), plus a second seed on one image: 8 runs.
study_images() {
  mkdir -p img
  for f in starry_night baboon fruits; do
    cp "/usr/share/doc/opencv-doc/examples/data/$f.jpg" img/
  done
}
study_spec() {  # study_spec FILE [TOP-LEVEL-TOML-LINE...]
  local file="$1"; shift
  cat > "$file" <<EOF
name = "test"
mask_sizes = [64, 128]
inpaint = 1.0
metrics = ["ssim", "psnr"]
$(printf '%s\n' "$@")
[images]
folder = "img"
glob = "*.jpg"
width = 256
height = 256
[seed_spread]
images = ["starry_night"]
seeds = [0, 1]
[keep]
every = 4
EOF
}
rip_study() { /usr/bin/python3 "$root/tools/rip-study" "$@"; }
expect_error() {  # expect_error MESSAGE COMMAND...: fails, says MESSAGE
  local msg="$1" out; shift
  if out=$("$@" 2>&1); then fail "accepted: $*"; fi
  grep -qE "$msg" <<<"$out" || fail "unclear ($*): $out"
}
# Checksums of every kept frame, to compare two outputs' frames.
frame_sums() { (cd "$1/frames" && find . -type f -name '*.png' | sort | xargs md5sum); }
same_study() {  # same_study REF OUT: the same rows and the same frames
  cmp "$1/results.csv" "$2/results.csv" || fail "$2/results.csv differs from $1's"
  [[ "$(frame_sums "$1")" == "$(frame_sums "$2")" ]] || fail "$2's frames differ from $1's"
}

count_mp4_frames() {
  gst-launch-1.0 filesrc location="$1" ! qtdemux ! fakesink silent=false -v 2>&1 \
    | grep -c "last-message = chain" || true
}

# Waits (at most 60 s) until CSV has at least N lines.
wait_for_rows() {
  for _ in $(seq 600); do
    [[ -f "$1" && $(wc -l < "$1") -ge $2 ]] && return 0
    sleep 0.1
  done
  fail "$1 never reached $2 lines"
}
# Every row of a CSV complete: ends with a newline, and every line has the
# header's number of fields.
complete_rows() {
  [[ $(tail -c 1 "$1" | od -An -c | tr -d ' ') == '\n' ]] || fail "$1: the last row is cut"
  awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad }' "$1" \
    || fail "$1: a row with the wrong number of fields"
}
# Waits (at most 60 s) for PID to end; fails when it does not.
wait_gone() {
  for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  fail "process $1 still running 60 s after the signal"
}

case "$1" in
  interrupt)
    # Job control: background jobs get their own process group and keep
    # SIGINT (a script's background jobs ignore it otherwise).
    set -m
    # Ctrl-C to gst-launch-1.0 -e mid-loop: every CSV row complete, and the
    # MP4 plays (gst-discoverer reads its duration).
    "$root/pipelines/record-mp4.sh" "$image" int.mp4 100000 64 >/dev/null &
    pid=$!
    wait_for_rows int.csv 6
    kill -INT -- "-$pid"
    wait_gone "$pid"
    complete_rows int.csv
    discovered=$(gst-discoverer-1.0 -v int.mp4)
    duration=$(sed -n 's/^ *Duration: //p' <<<"$discovered")
    [[ -n $duration && $duration != 0:00:00.000000000 ]] || fail "int.mp4 does not play: $discovered"
    # 4:2:0, the H.264 every player decodes (not High 4:4:4).
    grep -qi "profile=(string)high," <<<"$discovered" || fail "int.mp4 is not H.264 High 4:2:0: $discovered"
    echo "SIGINT: $(($(wc -l < int.csv) - 1)) complete rows, MP4 of $duration"
    # SIGKILL at three moments: the CSV never holds a partial row.
    for rows in 3 8 13; do
      rm -f kill.csv
      "$root/pipelines/record-mp4.sh" "$image" kill.mp4 100000 64 >/dev/null &
      pid=$!
      wait_for_rows kill.csv "$rows"
      kill -KILL -- "-$pid"
      wait_gone "$pid"
      complete_rows kill.csv
    done
    echo "SIGKILL: 3 kills, every row complete"
    # Ctrl-C to rip-run: it ends the files as gst-launch -e does.
    /usr/bin/python3 "$root/tools/rip-run" --image "$image" --out run --iterations 100000 \
      --size 64 --quiet > run.log 2>&1 &
    pid=$!
    wait_for_rows run/metrics.csv 6
    kill -INT -- "-$pid"
    wait_gone "$pid"
    complete_rows run/metrics.csv
    duration=$(gst-discoverer-1.0 run/recursion.mp4 | sed -n 's/^ *Duration: //p')
    [[ -n $duration && $duration != 0:00:00.000000000 ]] || fail "recursion.mp4 does not play"
    echo "rip-run SIGINT: $(($(wc -l < run/metrics.csv) - 1)) complete rows, MP4 of $duration"
    ;;
  record-mp4)
    "$root/pipelines/record-mp4.sh" "$image" run.mp4 6 >/dev/null
    n=$(count_mp4_frames run.mp4)
    [[ "$n" == 7 ]] || fail "run.mp4 has $n frames, expected seed + 6 = 7"
    [[ $(wc -l < run.csv) == 8 ]] || fail "run.csv has $(wc -l < run.csv) lines"
    ;;
  record-png)
    "$root/pipelines/record-png.sh" "$image" frames 5 64 >/dev/null
    n=$(ls frames/iter_*.png | wc -l)
    [[ "$n" == 6 ]] || fail "$n PNG frames, expected 6"
    head -1 frames/metrics.csv | grep -qx \
      "iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height,ssim,ms-ssim,psnr" \
      || fail "bad CSV header"
    ;;
  contact-sheet)
    "$root/pipelines/contact-sheet.sh" "$image" sheet 8 128 4 >/dev/null
    [[ -s sheet/contact-sheet.png ]] || fail "no contact sheet"
    ;;
  python-example)
    out=$(/usr/bin/python3 "$root/pipelines/python_loop.py" "$image" 5)
    echo "$out"
    grep -q "6 frames measured (seed + 5 iterations)" <<<"$out" || fail "wrong count"
    [[ $(grep -c "^iteration" <<<"$out") == 6 ]] || fail "not one line per frame"
    ;;
  rip-run)
    /usr/bin/python3 "$root/tools/rip-run" --image "$image" --out out \
      --iterations 6 --size 64 --frames
    for f in recursion.mp4 metrics.csv drift.png drift.svg run.json \
             frames/iter_00006.png; do
      [[ -s "out/$f" ]] || fail "rip-run did not write $f"
    done
    [[ $(count_mp4_frames out/recursion.mp4) == 7 ]] || fail "MP4 frame count"
    [[ $(wc -l < out/metrics.csv) == 8 ]] || fail "CSV rows"
    ;;
  rip-run-errors)
    if out=$(/usr/bin/python3 "$root/tools/rip-run" --image nope.png 2>&1); then
      fail "missing image accepted"
    fi
    grep -q "'nope.png' does not exist" <<<"$out" || fail "unclear: $out"
    if out=$(/usr/bin/python3 "$root/tools/rip-run" --image "$image" --out o \
        --iterations 2 --method bogus --no-plot 2>&1); then
      fail "bogus method accepted"
    fi
    grep -q "unknown inpainting method 'bogus'" <<<"$out" || fail "unclear: $out"
    printf 'a,b\n1,2\n' > bad.csv
    if out=$(/usr/bin/python3 "$root/tools/rip-plot" bad.csv 2>&1); then
      fail "rip-plot accepted a non-lpipsmeter CSV"
    fi
    grep -q "not an lpipsmeter CSV" <<<"$out" || fail "unclear: $out"
    ;;
  install)
    # meson install puts the plugin where GStreamer looks (its pluginsdir).
    DESTDIR="$work/root" meson install -C "${RIP_BUILD_ROOT:?}" --no-rebuild >/dev/null
    dir="$work/root$(pkg-config --variable=pluginsdir gstreamer-1.0)"
    [[ -f "$dir/libgstrip.so" ]] || fail "libgstrip.so not installed into $dir"
    for e in feedbacksrc feedbacksink masksampler cvinpaint lpipsmeter; do
      GST_PLUGIN_PATH_1_0="$dir" GST_REGISTRY_1_0="$work/reg.bin" \
        gst-inspect-1.0 "$e" >/dev/null || fail "installed plugin lacks $e"
    done
    [[ -x "$work/root/usr/local/bin/rip-run" ]] || fail "rip-run not installed"
    # The installed rip-study finds its modules next to it, all of them.
    for m in "$root"/tools/rip_study/*.py; do
      [[ -f "$work/root/usr/local/bin/rip_study/${m##*/}" ]] || fail "rip_study/${m##*/} not installed"
    done
    "$work/root/usr/local/bin/rip-study" plan "$root/studies/demo.toml" \
      | grep -q "demo: 3 images, 15 runs" || fail "installed rip-study does not run"
    ;;
  rip-inpaint)
    cli="${RIP_BUILD_ROOT:?}/tools/rip-inpaint"
    [[ -x "$cli" ]] || { echo "SKIP: rip-inpaint not built (no libtorch)"; exit 77; }
    g="$root/tests/data/sd/goldens"
    OMP_NUM_THREADS=1 "$cli" --model "$root/tests/data/sd/tiny-sd2" --image "$g/image.png" \
      --mask "$g/mask.png" --out out.png --steps 10 --seed 42 --no-paste-back \
      --height 64 --width 64 --quiet
    /usr/bin/python3 - "$g/inpaint_sd2_empty.png" out.png <<'PY' || fail "rip-inpaint differs from diffusers"
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3])
d = np.abs(a - b)
print("max diff", d.max(), "share off", (d > 0).mean())
sys.exit(0 if a.shape == b.shape and d.max() <= 1 and (d > 0).mean() < 0.01 else 1)
PY
    # bf16 against diffusers run in bf16 (torch_dtype=torch.bfloat16), on a
    # CPU with AVX-512 (oneDNN's bf16 kernels, as when the golden was made):
    # docs/models.md#bf16-on-the-cpu gives the tolerance and why.
    bf16_cases=(empty cfg)
    if ! grep -qw avx512bw /proc/cpuinfo; then
      echo "SKIP (part): no AVX-512 here, so no oneDNN bf16: bf16 parity not checked"
      bf16_cases=()
    fi
    for case in "${bf16_cases[@]}"; do
      prompt=(--prompt "")
      [[ $case == cfg ]] && prompt=(--prompt "a painting of a starry night" --negative-prompt blurry)
      OMP_NUM_THREADS=1 "$cli" --model "$root/tests/data/sd/tiny-sd2" --image "$g/image.png" \
        --mask "$g/mask.png" --out "bf16_$case.png" --steps 10 --seed 42 --no-paste-back \
        --dtype bf16 --quiet "${prompt[@]}"
      /usr/bin/python3 - "$g/inpaint_sd2_${case}_bf16.png" "bf16_$case.png" <<'PY' || fail "bf16 $case differs from diffusers' bf16"
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3])
d = np.abs(a - b)
print("bf16: max diff", d.max(), "mean diff", round(d.mean(), 3))
sys.exit(0 if a.shape == b.shape and d.max() <= 12 and d.mean() <= 1.5 else 1)
PY
    done
    # oneDNN without bf16 kernels for the CPU (told to stop at AVX2 while
    # libtorch still sends it bf16 work): a clear error, not only oneDNN's
    # own words.
    if ((${#bf16_cases[@]})); then
      if out=$(ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 "$cli" \
          --model "$root/tests/data/sd/tiny-sd2" --image "$g/image.png" --mask "$g/mask.png" \
          --out x.png --steps 1 --dtype bf16 --quiet 2>&1); then fail "bf16 without oneDNN ran"; fi
      grep -q "dtype bf16 does not run on this CPU.*Use dtype=fp32" <<<"$out" || fail "unclear: $out"
    fi
    if out=$("$cli" --model "$root/tests/data/sd/tiny-sd2" --image nope.png \
        --mask nope.png --out x.png 2>&1); then fail "missing image accepted"; fi
    grep -q "nope.png' does not exist" <<<"$out" || fail "unclear: $out"
    if out=$("$cli" --image a 2>&1); then fail "missing --model accepted"; fi
    grep -q "are required" <<<"$out" || fail "unclear: $out"
    ;;
  rip-study)
    study_images
    echo "not an image" > img/broken.jpg
    study_spec spec.toml
    rip_study run spec.toml out 2> log || { cat log; fail "rip-study run failed"; }
    cat log
    # 3 good images x 2 sizes + a second seed x 2 sizes = 8 runs done; the
    # broken image's 2 runs fail, with the reason, and the rest go on.
    grep -q "8 runs done, 2 failed of 10" log || fail "wrong summary"
    head -1 out/results.csv | grep -qx \
      "image,mask_size,seed,iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height,ssim,psnr" \
      || fail "bad results.csv header"
    # rows: per image and seed 17 + 5 (seed frame + iterations)
    [[ $(wc -l < out/results.csv) == $((1 + 4 * 22)) ]] || fail "$(wc -l < out/results.csv) lines in results.csv"
    grep -q "^starry_night,128,1,4,1," out/results.csv || fail "no last row of starry_night 128 px seed 1"
    grep -q "^broken__m64__s0,broken,.*broken.jpg" out/failures.csv || fail "broken image not in failures.csv"
    tail -n +2 out/failures.csv | cut -d, -f6- | grep -q "broken.jpg" || fail "the reason lacks the file"
    for k in 00000 00004 00008 00012 00016; do
      [[ -s out/frames/baboon__m64__s0/iter_$k.png ]] || fail "frame $k not kept"
    done
    [[ $(ls out/frames/baboon__m64__s0 | wc -l) == 5 ]] || fail "extra frames kept"
    [[ "$(ls out/frames/baboon__m128__s0)" == $'iter_00000.png\niter_00004.png' ]] || fail "128 px frames"
    msg=$(rip_study status out)
    grep -q "8 done, 2 failed, 0 to do of 10 runs" <<<"$msg" || fail "status: $msg"
    # A finished study is not redone; failed runs stay failed unless asked.
    msg=$(rip_study run spec.toml out 2>&1)
    grep -q "10 already done or failed, 0 to do" <<<"$msg" || fail "finished runs redone: $msg"
    msg=$(rip_study run spec.toml out --retry-failed 2>&1)
    grep -q "8 already done or failed, 2 to do" <<<"$msg" || fail "--retry-failed: $msg"
    ;;
  rip-study-resume)
    study_images
    study_spec spec.toml
    # 200 %: long enough runs that the kills land inside them.
    sed -i 's/^inpaint = 1.0/inpaint = 2.0/' spec.toml
    rip_study run spec.toml ref -q -j 2
    # SIGKILL it twice at different points, then let it finish.
    for done_before_kill in 1 4; do
      # exec: $! must be Python itself, not a subshell around it.
      (exec /usr/bin/python3 "$root/tools/rip-study" run spec.toml out -q -j 2) & pid=$!
      for _ in $(seq 1200); do
        n=$(ls out/runs/ 2>/dev/null | grep -c '\.csv$' || true)
        (( n >= done_before_kill )) && break
        sleep 0.05
      done
      kill -KILL "$pid"; wait "$pid" || true
      n=$(ls out/runs/ | grep -c '\.csv$' || true)
      echo "killed with $n of 8 runs done, in flight: $(ls out/work | grep -v lock | tr '\n' ' ')"
      (( n < 8 )) || fail "the study finished before the kill; make it longer"
    done
    stat -c '%n %i %Y' out/runs/*.csv > before
    rip_study run spec.toml out -q
    same_study ref out
    # A finished run is never redone: its file is the same file.
    while read -r name inode mtime; do
      [[ "$(stat -c '%i %Y' "$name")" == "$inode $mtime" ]] || fail "$name was rewritten"
    done < before
    [[ -z "$(find out/work -mindepth 1 -type d)" ]] || fail "half-done runs left in out/work"
    [[ -z "$(find out -name '*.tmp-*')" ]] || fail "temporary files left"
    ;;
  rip-study-shard)
    study_images
    study_spec spec.toml
    rip_study run spec.toml ref -q
    rip_study run spec.toml s0 --shard 0/2 -q
    rip_study run spec.toml s1 --shard 1/2 -q
    r0=$(tail -n +2 s0/results.csv | wc -l); r1=$(tail -n +2 s1/results.csv | wc -l)
    (( r0 > 0 && r1 > 0 && r0 + r1 == $(tail -n +2 ref/results.csv | wc -l) )) \
      || fail "shards hold $r0 + $r1 rows"
    rip_study merge merged s0 s1
    same_study ref merged
    # status over the shards' OUTs before the merge: each shard, then the whole.
    msg=$(rip_study status s0 s1)
    grep -q "^s0 (shard 0/2): 4 done, 0 failed, 0 to do of 4 runs$" <<<"$msg" || fail "status: $msg"
    grep -q "^s1 (shard 1/2): 4 done, 0 failed, 0 to do of 4 runs$" <<<"$msg" || fail "status: $msg"
    grep -q "^test: 8 done, 0 failed, 0 to do of 8 runs in all$" <<<"$msg" || fail "status: $msg"
    # A shard a process is running, with runs left: "running" and an ETA.
    rm s1/runs/fruits__m128__s0.csv
    /usr/bin/python3 -c "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)" \
      s1/work/shard-1-of-2.lock > held.txt &
    holder=$!
    for _ in $(seq 50); do [[ -s held.txt ]] && break; sleep 0.1; done
    msg=$(rip_study status s0 s1)
    kill $holder; wait $holder 2>/dev/null || true
    grep -qE "^s1 \(shard 1/2\): 3 done, 0 failed, 1 to do of 4 runs, running, ETA [0-9]+:[0-9]{2}:[0-9]{2}" <<<"$msg" \
      || fail "running shard: $msg"
    msg=$(rip_study status s0 s1)
    grep -q "to do of 4 runs, stopped$" <<<"$msg" || fail "stopped shard: $msg"

    # Three shards writing into one OUT at once (a shared disk) need no merge.
    for i in 0 1 2; do rip_study run spec.toml shared --shard $i/3 -q -j 1 & done
    wait
    rip_study merge shared shared >/dev/null
    same_study ref shared
    expect_error "need 0 <= i < N" rip_study run spec.toml x --shard 2/2
    ;;
  rip-study-report)
    command -v chromium >/dev/null || { echo "SKIP: chromium missing (tools/setup-debian.sh --tests installs it)"; exit 77; }
    study_images
    echo "not an image" > img/broken.jpg
    study_spec spec.toml
    printf '[report]\nimages = ["starry_night"]\n' >> spec.toml
    rip_study run spec.toml out -q
    msg=$(rip_study report out)
    echo "$msg"
    grep -q "report: $work/out/report/index.html" <<<"$msg" || fail "report path not printed"
    for f in drift-mean drift-scatter seeds curves-starry_night strip-starry_night; do
      [[ -s out/report/$f.png && -s out/report/$f.svg ]] || fail "no $f.png/.svg"
    done
    # The page is self-contained (figures inline) and renders in headless
    # Chromium without console messages, every figure decoded.
    ! grep -q 'src="http' out/report/index.html || fail "the page loads from the network"
    # Chromium is not ours: without the sanitizer run's preloaded runtime
    # (its own allocator and sandbox refuse it).
    HOME="$work" LD_PRELOAD= timeout 120 chromium --headless --disable-gpu --no-sandbox \
      --enable-logging=stderr --v=0 --virtual-time-budget=10000 \
      --dump-dom "file://$work/out/report/index.html" > dom.html 2> chromium.log \
      || { cat chromium.log; fail "chromium failed"; }
    grep -o '<body[^>]*>' dom.html
    ! grep ':CONSOLE' chromium.log || fail "console messages in the report"
    grep -q 'data-figures="5" data-figures-loaded="5"' dom.html || fail "not every figure shows"
    grep -q "broken__m64__s0" dom.html || fail "the failed runs are not listed"
    ;;
  rip-study-errors)
    study_images
    # OUT that is a file: the documented exit 2 and a message, no traceback.
    study_spec ok.toml
    touch afile
    for cmd in "run ok.toml afile" "status afile" "report afile" "merge afile afile"; do
      rc=0; out=$(rip_study $cmd 2>&1) || rc=$?
      [[ $rc == 2 ]] || fail "rip-study $cmd: exit $rc, not 2: $out"
      grep -q "OUT 'afile' is a file, not a folder" <<<"$out" || fail "unclear (rip-study $cmd): $out"
      grep -q Traceback <<<"$out" && fail "rip-study $cmd: a traceback: $out"
    done
    study_spec bad.toml 'mask_size = 3'
    expect_error "unknown key 'mask_size' in the spec" rip_study run bad.toml o
    study_spec bad.toml
    sed -i 's/^metrics = .*/metrics = ["lpips"]/' bad.toml
    expect_error "unknown metric 'lpips'" rip_study run bad.toml o
    study_spec bad.toml
    sed -i 's/^mask_sizes = .*/mask_sizes = [100]/' bad.toml
    expect_error "mask size 100 does not divide the 256x256 frame" rip_study run bad.toml o
    sed -i 's/^folder = "img"/folder = "nope"/; s/^mask_sizes = .*/mask_sizes = [64]/' bad.toml
    expect_error "folder '.*nope' does not exist" rip_study run bad.toml o
    study_spec bad.toml
    printf '[inpainter]\nmethod = "bogus"\n' >> bad.toml
    expect_error "method 'bogus' is not one of" rip_study run bad.toml o
    # [inpainter] keys are the element's properties: an unknown one is named,
    # with the element's real properties.
    study_spec bad.toml
    printf '[inpainter]\nradious = 5\n' >> bad.toml
    expect_error "unknown key 'radious' in \[inpainter\]: cvinpaint has no property 'radious' \(known: element, timeout and cvinpaint's properties method, radius\)" \
      rip_study run bad.toml o
    if gst-inspect-1.0 sdinpaint >/dev/null 2>&1; then
      study_spec sd.toml
      printf '[inpainter]\nelement = "sdinpaint"\nmodel = "m"\nnegative_promt = "x"\n' >> sd.toml
      expect_error "unknown key 'negative_promt' in \[inpainter\]: sdinpaint has no property 'negative-promt' \(known: .*negative_prompt" \
        rip_study plan sd.toml
      # underscores for dashes, passed through by name
      sed -i 's/^negative_promt = .*/negative_prompt = "blurry"\nguidance_scale = 5/' sd.toml
      rip_study plan sd.toml | tail -1 | grep -q 'sdinpaint model=".*" negative-prompt="blurry" guidance-scale="5" seed="0"$' \
        || fail "sdinpaint properties not passed through: $(rip_study plan sd.toml | tail -1)"
    fi
    echo 'mask_sizes = [' > bad.toml
    expect_error "is not valid TOML" rip_study run bad.toml o
    # An OUT folder keeps its settings: other metrics there are refused.
    study_spec ok.toml
    sed -i 's/^inpaint = 1.0/inpaint = 0.25/' ok.toml
    rip_study run ok.toml o -q
    sed -i 's/^metrics = .*/metrics = ["psnr"]/' ok.toml
    expect_error "holds a study run with other settings \(metrics\)" rip_study run ok.toml o
    expect_error "not a rip-study output" rip_study report nope
    # A problem that would fail every run (here: LPIPS weights missing) stops
    # the study and is not recorded against the images.
    study_spec lp.toml 'lpips_weights = "nowhere"'
    sed -i 's/^metrics = .*/metrics = ["psnr", "lpips-alex"]/' lp.toml
    TORCH_HOME="$work/none" expect_error "stopped: .*lpips" rip_study run lp.toml lp
    [[ -z "$(ls lp/runs)" ]] || fail "runs recorded after a study-wide error"
    # The example specs are valid (the reference one needs ../shared).
    rip_study plan "$root/studies/demo.toml" | tail -1 | grep -q "demo: 3 images, 15 runs, 840 iterations" \
      || fail "studies/demo.toml"
    if [[ -d "$RIP_SHARED_DIR/data/paintings" ]]; then
      sed "s|\.\./\.\./shared|$RIP_SHARED_DIR|" "$root/studies/reference-study.toml" > ref.toml
      rip_study plan ref.toml | tail -1 | grep -q "runs, .* iterations" || fail "studies/reference-study.toml"
    fi
    ;;
  rip-study-sd)
    # The same study through sdinpaint (the tiny test model, 64x64).
    model="$root/tests/data/sd/tiny-sd2"
    if ! gst-inspect-1.0 sdinpaint >/dev/null 2>&1; then
      echo "SKIP: sdinpaint not built (no libtorch)"; exit 77
    fi
    study_images
    study_spec sd.toml
    sed -i 's/^mask_sizes = .*/mask_sizes = [32]/; s/^width = .*/width = 64/; s/^height = .*/height = 64/' sd.toml
    printf '[inpainter]\nelement = "sdinpaint"\nmodel = "%s"\nsteps = 2\n' "$model" >> sd.toml
    # The model is loaded once for the whole study, not once per run.
    if strace -f -o /dev/null true 2>/dev/null; then
      strace -f -e trace=openat -o trace.txt /usr/bin/python3 "$root/tools/rip-study" run sd.toml a -q
      loads=$(grep -c "tiny-sd2/unet/diffusion_pytorch_model" trace.txt || true)
      [[ "$loads" == 1 ]] || fail "the UNet weights were read $loads times for 4 runs"
    else
      echo "SKIP (part): strace cannot run here, model loads not counted"
      rip_study run sd.toml a -q
    fi
    # Three loops at a time batch their model calls (max-batch = jobs) and
    # say how; the rows are the same bytes.
    rip_study run sd.toml b -j 3 2> b.log
    grep -E 'unet batches: [23] x [0-9]+' b.log || fail "no batched UNet calls: $(cat b.log)"
    grep -q 'sdinpaint .*max-batch' b/study.json && fail "max-batch is recorded as a study setting"
    # rows: 4 runs x (seed + 4 iterations); the same with three loops at a time
    [[ $(wc -l < a/results.csv) == 21 ]] || fail "$(wc -l < a/results.csv) lines"
    same_study a b
    grep -q 'sdinpaint model=.*seed=\\"1\\"' a/study.json || fail "seed 1 not passed to sdinpaint"
    ;;
  rip-study-lpips)
    # A study with an LPIPS metric reads each weight file once: every loop's
    # lpipsmeter shares one network (here 8 runs, 2 at a time).
    if [[ ! -f "$RIP_SHARED_DIR/data/lpips/weights/v0.1/squeeze.pth" ]]; then
      echo "SKIP: $RIP_SHARED_DIR/data/lpips missing (the LPIPS lin weights)"; exit 77
    fi
    mkdir weights
    cp "$root/tests/data/lpips/squeezenet1_1.pth" "$RIP_SHARED_DIR/data/lpips/weights/v0.1/squeeze.pth" weights/
    study_images
    study_spec lp.toml 'lpips_weights = "weights"'
    sed -i 's/^metrics = .*/metrics = ["psnr", "lpips-squeeze"]/' lp.toml
    if strace -f -o /dev/null true 2>/dev/null; then
      strace -f -e trace=openat -o trace.txt /usr/bin/python3 "$root/tools/rip-study" run lp.toml a -q -j 2
      for f in weights/squeezenet1_1.pth weights/squeeze.pth; do
        reads=$(grep -v ENOENT trace.txt | grep -c "$f\"" || true)
        [[ "$reads" == 1 ]] || fail "$f was opened $reads times for 8 runs"
      done
    else
      echo "SKIP (part): strace cannot run here, weight reads not counted"
      rip_study run lp.toml a -q -j 2
    fi
    head -1 a/results.csv | grep -q "lpips-squeeze" || fail "no lpips-squeeze column"
    [[ $(wc -l < a/results.csv) -gt 8 ]] || fail "$(wc -l < a/results.csv) lines"
    ;;
  doc-pipelines)
    /usr/bin/python3 "$root/tests/scripts/run_doc_pipelines.py" "$root"
    ;;
  doc-properties)
    /usr/bin/python3 "$root/tests/scripts/check_doc_properties.py" "$root"
    ;;
  *)
    fail "unknown case $1"
    ;;
esac
echo "PASS: $1"
