#!/usr/bin/env python3
"""Scheduler goldens made by diffusers' own schedulers (the reference).

Run inside the harness environment:
    tests/data/sd/harness_python.sh tests/data/sd/make_scheduler_goldens.py \
        tests/data/sd/tiny-sd2 tests/data/sd/goldens [HUB_SCHEDULER_CONFIG.json]

How the schedulers are made (exactly as a user swaps them):
    base  = PNDMScheduler.from_pretrained(MODELDIR, subfolder="scheduler")   # what the pipeline loads
    sched = <Class>.from_config(base.config)                                  # pipe.scheduler = ...
for Class in PNDMScheduler, DDIMScheduler, EulerAncestralDiscreteScheduler,
DPMSolverMultistepScheduler.  The tiny model's scheduler_config.json was written
by diffusers 0.31 and therefore carries "timestep_spacing": "leading", which
from_config passes on to every class.

With the optional third argument (a scheduler_config.json shaped like the
real stabilityai/stable-diffusion-2-inpainting file, i.e. WITHOUT a
timestep_spacing key) a second set is written with suffix "_hubcfg":
    base  = PNDMScheduler.from_config(json.load(HUB_SCHEDULER_CONFIG))
    sched = <Class>.from_config(base.config)
Here diffusers records timestep_spacing in base.config._use_default_values, so
from_config drops it and every class uses its own default (PNDM/DDIM
"leading", EulerAncestral/DPMSolver "linspace").

Output files (one per scheduler and config):
    sched_pndm.safetensors, sched_ddim.safetensors, sched_euler_a.safetensors,
    sched_dpmpp2m.safetensors  (+ the same names with _hubcfg)

Keys of every file (float32 unless noted; T = len(timesteps)):
    betas                [1000]        scheduler.betas after construction
    alphas_cumprod       [1000]        scheduler.alphas_cumprod
    noise                [1,4,8,8]     torch.randn(generator=torch.Generator().manual_seed(0))
    n{N}.timesteps       [T]           scheduler.timesteps after set_timesteps(N)
                                       (int64 for PNDM/DDIM/DPM, float32 for Euler A)
    n{N}.sigmas          [T+1]         (Euler A and DPM only) scheduler.sigmas
    n{N}.init_noise_sigma []           float(scheduler.init_noise_sigma) as a 0-dim tensor
  for N in (5, 10) the full step loop:
    n{N}.sample.0        [1,4,8,8]     noise * init_noise_sigma (as prepare_latents does)
    n{N}.model_input.{k} [1,4,8,8]     scheduler.scale_model_input(sample_k, t_k)
    n{N}.model_output.{k}[1,4,8,8]     0.1 * model_input_k + randn(Generator().manual_seed(1000 + k))
                                       (stands in for the UNet's eps prediction)
    n{N}.prev_sample.{k} [1,4,8,8]     scheduler.step(model_output_k, t_k, sample_k, **kw).prev_sample
                                       (= sample_{k+1})
    n{N}.pred_original_sample.{k}      where the step output has it (DDIM, Euler A)
  for N in (25, 50): only n{N}.timesteps / n{N}.sigmas / n{N}.init_noise_sigma.
  k runs over all T timesteps (PNDM with skip_prk_steps has T = N + 1).
  t_k is the 0-dim element of scheduler.timesteps (`for t in scheduler.timesteps`, as the pipeline).
  Euler ancestral: kw = {"generator": torch.Generator().manual_seed(1234)}, created once right
  after set_timesteps(N) and passed to every step (one randn([1,4,8,8]) per step).
  DDIM: eta = 0 (the pipeline default), no generator.  PNDM/DPM: no extra kwargs.
A fresh scheduler (from_config) is made for each N.
Metadata (__metadata__): "config" = json of dict(scheduler.config), "class", "made_by".
"""

import json
import os
import sys

import ref as H  # the harness module (see harness_python.sh)

torch = H.setup_torch()
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler,  # noqa: E402
                       EulerAncestralDiscreteScheduler, PNDMScheduler)

CLASSES = [("pndm", PNDMScheduler), ("ddim", DDIMScheduler),
           ("euler_a", EulerAncestralDiscreteScheduler), ("dpmpp2m", DPMSolverMultistepScheduler)]
LOOP_N = (5, 10)
TIMESTEPS_ONLY_N = (25, 50)
SHAPE = (1, 4, 8, 8)
EULER_SEED = 1234


def run_one(make, name):
    out = {}
    s0 = make()
    out["betas"] = s0.betas.clone()
    out["alphas_cumprod"] = s0.alphas_cumprod.clone()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    out["noise"] = noise
    for n in LOOP_N + TIMESTEPS_ONLY_N:
        s = make()
        s.set_timesteps(n)
        p = "n%d." % n
        out[p + "timesteps"] = s.timesteps.clone()
        if hasattr(s, "sigmas") and torch.is_tensor(s.sigmas):
            out[p + "sigmas"] = s.sigmas.clone().float()
        out[p + "init_noise_sigma"] = torch.tensor(float(s.init_noise_sigma), dtype=torch.float32)
        if n not in LOOP_N:
            continue
        kw = {}
        if name == "euler_a":
            kw["generator"] = torch.Generator().manual_seed(EULER_SEED)
        sample = noise * s.init_noise_sigma
        out[p + "sample.0"] = sample.clone()
        for k, t in enumerate(s.timesteps):
            model_input = s.scale_model_input(sample, t)
            eps = 0.1 * model_input + torch.randn(SHAPE, generator=torch.Generator().manual_seed(1000 + k))
            res = s.step(eps, t, sample, **kw)
            out[p + "model_input.%d" % k] = model_input.clone()
            out[p + "model_output.%d" % k] = eps.clone()
            out[p + "prev_sample.%d" % k] = res.prev_sample.clone()
            pos = getattr(res, "pred_original_sample", None)
            if pos is not None:
                out[p + "pred_original_sample.%d" % k] = pos.clone()
            sample = res.prev_sample
    return out, s0


def main():
    modeldir, outdir = sys.argv[1], sys.argv[2]
    hubcfg = sys.argv[3] if len(sys.argv) > 3 else None
    os.makedirs(outdir, exist_ok=True)
    bases = [("", lambda: PNDMScheduler.from_pretrained(modeldir, subfolder="scheduler"))]
    if hubcfg:
        with open(hubcfg) as f:
            hub = json.load(f)
        bases.append(("_hubcfg", lambda: PNDMScheduler.from_config(dict(hub))))
    summary = {}
    for suffix, make_base in bases:
        for name, cls in CLASSES:
            def make(cls=cls, make_base=make_base):
                return cls.from_config(make_base().config)
            tensors, s0 = run_one(make, name)
            path = os.path.join(outdir, "sched_%s%s.safetensors" % (name, suffix))
            cfg = {k: v for k, v in dict(s0.config).items()}
            H.save_tensors(path, tensors, metadata={
                "class": type(s0).__name__, "config": cfg,
                "made_by": "tests/data/sd/make_scheduler_goldens.py"})
            summary[os.path.basename(path)] = {
                "class": type(s0).__name__,
                "timestep_spacing": s0.config.timestep_spacing,
                "init_noise_sigma": {n: round(float(tensors["n%d.init_noise_sigma" % n]), 6) for n in LOOP_N},
                "timesteps": {n: [round(float(x), 4) for x in tensors["n%d.timesteps" % n].tolist()]
                              for n in LOOP_N},
                "final_absmax": {n: float(tensors["n%d.prev_sample.%d" % (n, len(tensors["n%d.timesteps" % n]) - 1)]
                                          .abs().max()) for n in LOOP_N},
                "keys": len(tensors)}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
