#!/usr/bin/env bash
# Regenerate every file under tests/data/sd/ (tiny models + reference goldens)
# with the reference harness (shared/tools/refharness: diffusers v0.31.0,
# transformers 5728b5ad (4.40.0.dev0), huggingface_hub v0.26.5, Debian torch 1.13.1).
#
# Prerequisite: the harness is set up (MIRROR_ROOT=... $REFHARNESS/setup.sh).
# Usage: tests/data/sd/make_all.sh [OUTDIR]   (from anywhere; ~3 min on 2 cores)
#   OUTDIR (or env RIP_SD_DATA_OUT): write the tiny models, goldens and MANIFEST.txt
#          into OUTDIR instead of deleting and rewriting them here; the scripts
#          stay here. tools/check-bit-identity uses it to make goldens for the
#          machine at hand without touching the repo. No whitespace in OUTDIR.
# Env:   REFHARNESS   (default ../shared/tools/refharness beside the checkout)
#        HARNESS_THREADS (default 1 here: the goldens were made single-threaded;
#                         other thread counts change the last bits of results)
# See PROVENANCE.md for what each file is.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
OUT="${1:-${RIP_SD_DATA_OUT:-}}"
if [[ -n $OUT ]]; then
  # word-split runner strings below carry paths, so refuse whitespace
  [[ $OUT != *[[:space:]]* ]] || { echo "make_all.sh: no whitespace in OUTDIR, please: '$OUT'" >&2; exit 2; }
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"  # absolute, before the cd below
fi
REFHARNESS="${REFHARNESS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/../shared/tools/refharness}"
export REFHARNESS
export HARNESS_THREADS="${HARNESS_THREADS:-1}"
export OMP_NUM_THREADS="$HARNESS_THREADS"
R="$REFHARNESS/ref"
PY="$HERE/harness_python.sh"
cd "$REPO"
S=tests/data/sd  # our scripts
D=$S             # what is written
if [[ -n $OUT && $OUT != "$HERE" ]]; then D=$OUT; fi
G=$D/goldens
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
say() { printf '\n=== %s\n' "$*" >&2; }
LOG="${MAKE_ALL_LOG:-$TMP/stdout.log}"  # the JSON summaries the commands print
q() { "$@" >> "$LOG"; }

rm -rf "$D/tiny-sd2" "$D/tiny-sd15" "$D/tiny-sd2-fp16" "$D/pickle" "$D/single" "$G"
mkdir -p "$G"

say "tiny models"
q "$R" make-tiny-sd "$D/tiny-sd2" --seed 1 --family sd2
q "$R" make-tiny-sd "$D/tiny-sd15" --seed 2 --family sd15
q "$PY" "$S/make_fp16_variant.py" "$D/tiny-sd2" "$D/tiny-sd2-fp16"
q "$PY" "$S/make_pickle_checkpoints.py" "$D"   # pickle/: .bin folder, legacy, hostile

say "test images"
q "$R" make-test-images "$G" --size 64 --seed 0                 # image.png, mask.png (64x64)
q "$R" make-test-images "$TMP/img96" --size 96 --seed 0
q "$PY" "$S/make_nonsquare_images.py" "$TMP/img96" "$G"       # image_w96h64.png, mask_w96h64.png

say "single files, prediction type"
q "$PY" "$S/make_single_files.py" "$D"          # single/ and their from_single_file images
q "$PY" "$S/make_v_prediction_golden.py" "$D"   # goldens/inpaint_sd2_v_prediction.png

# scheduler_config.json as in the real stabilityai/stable-diffusion-2-inpainting repo:
# same values as tiny-sd2's, but (like every pre-0.19 diffusers config) no timestep_spacing key.
cat > "$G/hub_like_sd2_inpainting_scheduler_config.json" <<'EOF'
{
  "_class_name": "PNDMScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null
}
EOF

for fam in sd2 sd15; do
  M="$D/tiny-$fam"
  say "$fam: tokenizer + text encoder"
  q "$PY" "$S/make_tokenizer_goldens.py" "$M" "$G/tokenizer_$fam.json"
  if [[ $fam == sd2 ]]; then  # tokenizer folders shaped otherwise, built from tiny-sd2's files
    q "$PY" "$S/make_tokenizer_variant_goldens.py" "$M" "$G/tokenizer_variants.json"
  fi
  q "$PY" "$S/make_text_extra_goldens.py" "$M" "$G/text_extra_$fam.safetensors"
  q "$R" dump-text "$M" "$G/text_${fam}_empty.safetensors" --prompt ""
  q "$R" dump-text "$M" "$G/text_${fam}_starry.safetensors" --prompt "a painting of a starry night"

  say "$fam: VAE encode/decode, UNet"
  q "$R" dump-vae-encode "$M" "$TMP/vae_enc_in.safetensors" "$G/vae_encode_$fam.safetensors" \
    --random-inputs 11 --height 64 --width 64 --channels-last --sample-seed 7
  q "$R" dump-vae-decode "$M" "$TMP/vae_dec_in.safetensors" "$G/vae_decode_$fam.safetensors" \
    --random-inputs 13 --latent-h 8 --latent-w 8
  q "$R" dump-unet "$M" "$TMP/unet_in.safetensors" "$G/unet_$fam.safetensors" \
    --random-inputs 17 --batch 2 --latent-h 8 --latent-w 8 --timestep 501
done

say "schedulers"
"$PY" "$S/make_scheduler_goldens.py" "$D/tiny-sd2" "$G" "$G/hub_like_sd2_inpainting_scheduler_config.json" \
  > "$G/sched_summary.json"
q "$PY" "$S/make_scheduler_goldens.py" --extra "$D/tiny-sd2" "$G" "$G/hub_like_sd2_inpainting_scheduler_config.json"

# end to end: ref inpaint (PNG + .tensors.safetensors + full module --dump)
COMMON=(--steps 10 --guidance 7.5 --seed 42)
INPAINT="$R inpaint"
inpaint() {  # inpaint "RUNNER" NAME MODEL IMAGE MASK [extra args...]  (RUNNER is word-split)
  local runner=$1 name=$2 model=$3 img=$4 mask=$5
  shift 5
  # shellcheck disable=SC2086
  q $runner "$model" "$img" "$mask" "$G/$name.png" "${COMMON[@]}" --dump "$G/$name.dump.safetensors" "$@"
  rm -f "$G/$name.float.npy" "$G/$name.latents.npy" "$G/$name.raw.npy"  # all inside $name.tensors.safetensors
}
for fam in sd2 sd15; do
  M="$D/tiny-$fam"
  say "$fam: inpaint runs"
  inpaint "$INPAINT" "inpaint_${fam}_empty" "$M" "$G/image.png" "$G/mask.png" --prompt ""
  inpaint "$INPAINT" "inpaint_${fam}_cfg" "$M" "$G/image.png" "$G/mask.png" \
    --prompt "a painting of a starry night" --negative-prompt "blurry"
  inpaint "$INPAINT" "inpaint_${fam}_strength075" "$M" "$G/image.png" "$G/mask.png" --prompt "" --strength 0.75
  inpaint "$INPAINT" "inpaint_${fam}_w96h64" "$M" "$G/image_w96h64.png" "$G/mask_w96h64.png" \
    --prompt "" --height 64 --width 96
done

say "sd2: inpaint with swapped schedulers (pipe.scheduler = Cls.from_config(pipe.scheduler.config))"
HUBCFG="$G/hub_like_sd2_inpainting_scheduler_config.json"
for pair in DDIMScheduler:ddim EulerAncestralDiscreteScheduler:euler_a DPMSolverMultistepScheduler:dpmpp2m; do
  cls=${pair%%:*} short=${pair##*:}
  inpaint "$PY $S/run_inpaint_swapped.py $cls" "inpaint_sd2_empty_$short" \
    "$D/tiny-sd2" "$G/image.png" "$G/mask.png" --prompt ""
done
for pair in EulerAncestralDiscreteScheduler:euler_a DPMSolverMultistepScheduler:dpmpp2m; do
  cls=${pair%%:*} short=${pair##*:}
  inpaint "$PY $S/run_inpaint_swapped.py $cls --hub-scheduler-config $HUBCFG" "inpaint_sd2_empty_${short}_hubcfg" \
    "$D/tiny-sd2" "$G/image.png" "$G/mask.png" --prompt ""
done

say "sd2: inpaint in bf16 (from_pretrained(torch_dtype=torch.bfloat16))"
q "$PY" "$S/make_bf16_goldens.py" "$D/tiny-sd2" "$G"

say "manifest"
(cd "$D" && find tiny-sd2 tiny-sd15 tiny-sd2-fp16 pickle single goldens -type f | LC_ALL=C sort |
  while read -r f; do printf '%s  %10d  %s\n' "$(sha256sum "$f" | cut -c1-64)" "$(stat -c %s "$f")" "$f"; done) \
  > "$D/MANIFEST.txt"   # sha256  bytes  path
du -sh "$D" >&2
echo "done" >&2
