# SPDX-License-Identifier: LGPL-2.1-or-later
"""Times diffusers on a model folder, the reference side of bench/bench-sd.

  tests/data/sd/harness_python.sh bench/bench_sd_diffusers.py MODEL WHAT [STEPS] [SIZE]

WHAT: unet1 (one UNet call, batch 1), unet2 (batch 2: one CFG step), vae
(one VAE encode and decode),
inpaint-empty (whole inpaint, empty prompt), inpaint-prompt (with a prompt).
RIP_BENCH_DTYPE=fp32|bf16 (default fp32): from_pretrained's torch_dtype.
Prints one JSON line: seconds, peak RSS (MiB), threads.
RIP_BENCH_SAVE=FILE writes the result as bench-sd does (raw float32 for a
unet call and the vae decode, PNG for an inpaint's image).
"""
import json
import os
import resource
import sys
import time

import ref as H

H.patch_addedtoken_fallback()
torch = H.setup_torch()

from diffusers import StableDiffusionInpaintPipeline  # noqa: E402
from PIL import Image  # noqa: E402

model, what = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 50
size = int(sys.argv[4]) if len(sys.argv) > 4 else 512

dtype_name = os.environ.get("RIP_BENCH_DTYPE") or "fp32"
dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
pipe = StableDiffusionInpaintPipeline.from_pretrained(model, torch_dtype=dtype)
pipe.set_progress_bar_config(disable=True)
save = os.environ.get("RIP_BENCH_SAVE")


def save_tensor(t):
    if save:
        t.float().contiguous().numpy().astype("<f4").tofile(save)


result = {"what": what, "dtype": dtype_name, "steps": steps, "size": size,
          "threads": torch.get_num_threads()}
with torch.no_grad():
    if what in ("unet1", "unet2"):
        b = 1 if what == "unet1" else 2
        g = torch.Generator().manual_seed(0)
        # Drawn in fp32 and then rounded, as bench-sd does.
        x = torch.randn(b, 9, size // 8, size // 8, generator=g).to(dtype)
        ctx = torch.randn(b, 77, pipe.text_encoder.config.hidden_size,
                          generator=g).to(dtype)
        t = torch.tensor(501)
        pipe.unet(x, t, encoder_hidden_states=ctx)  # warm-up
        # RIP_BENCH_PROFILE=FILE: Chrome trace of the timed call's ops.
        trace = os.environ.get("RIP_BENCH_PROFILE")
        # RIP_BENCH_REPEATS=N: the best of N timed calls, as bench-sd.
        repeats = max(1, int(os.environ.get("RIP_BENCH_REPEATS", "1")))
        for r in range(repeats):
            with torch.autograd.profiler.profile(
                    enabled=bool(trace) and r == 0) as prof:
                t0, c0 = time.perf_counter(), time.process_time()
                out = pipe.unet(x, t, encoder_hidden_states=ctx).sample
                s = time.perf_counter() - t0
                c = time.process_time() - c0
            result["seconds"] = min(result.get("seconds", s), s)
            # CPU time of the process (all threads), as bench-sd.
            result["cpu_seconds"] = min(result.get("cpu_seconds", c), c)
            if trace and r == 0:
                prof.export_chrome_trace(trace)
        save_tensor(out)
    elif what == "vae":
        g = torch.Generator().manual_seed(0)
        # Channels-last, as the pipeline's image processor hands it over.
        x = (torch.rand(1, size, size, 3, generator=g) * 2 - 1).to(
            dtype).permute(0, 3, 1, 2)
        z = torch.randn(1, 4, size // 8, size // 8, generator=g).to(dtype)
        pipe.vae.encode(x)  # warm-up
        pipe.vae.decode(z)
        repeats = max(1, int(os.environ.get("RIP_BENCH_REPEATS", "1")))
        for r in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            pipe.vae.encode(x)
            t1 = time.perf_counter()
            decoded = pipe.vae.decode(z).sample
            t2 = time.perf_counter()
            c = time.process_time() - c0
            if r == 0 or t2 - t0 < result["seconds"]:
                result.update(seconds=t2 - t0, encode_seconds=t1 - t0,
                              decode_seconds=t2 - t1)
            result["cpu_seconds"] = min(result.get("cpu_seconds", c), c)
        save_tensor(decoded)
    else:
        image = Image.new("RGB", (size, size), (120, 90, 60))
        mask = Image.new("L", (size, size), 0)
        mask.paste(255, (size // 4, size // 4, size // 2, size // 2))
        prompt = "" if what == "inpaint-empty" else "a painting of a starry night"
        # Warm-up: one 1-step inpaint, as bench-sd does.
        pipe(prompt=prompt, image=image, mask_image=mask, height=size,
             width=size, num_inference_steps=1,
             generator=torch.Generator().manual_seed(0))
        t0, c0 = time.perf_counter(), time.process_time()
        out = pipe(prompt=prompt, image=image, mask_image=mask, height=size,
                   width=size, num_inference_steps=steps,
                   generator=torch.Generator().manual_seed(0)).images[0]
        result["seconds"] = time.perf_counter() - t0
        result["cpu_seconds"] = time.process_time() - c0
        if save:
            out.save(save)
result["peak_rss_mib"] = resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
