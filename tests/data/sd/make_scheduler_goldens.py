#!/usr/bin/env python3
"""Scheduler goldens made by diffusers' own schedulers (the reference).

Run inside the harness environment:
    tests/data/sd/harness_python.sh tests/data/sd/make_scheduler_goldens.py \
        tests/data/sd/tiny-sd2 tests/data/sd/goldens [HUB_SCHEDULER_CONFIG.json]
    tests/data/sd/harness_python.sh tests/data/sd/make_scheduler_goldens.py --extra \
        tests/data/sd/tiny-sd2 tests/data/sd/goldens HUB_SCHEDULER_CONFIG.json
(the --extra form writes sched_variants.safetensors and sched_strength.safetensors,
described at the end of this docstring, and prints their summary).

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

--extra: sched_variants.safetensors, non-default configs, one run each
    Every variant V is Class.from_config(CONFIG) with CONFIG = tiny-sd2's
    scheduler_config.json updated with a few keys; metadata "variants" =
    json {V: {"class", "config" (exactly the dict passed to from_config),
    "steps" [N...], "eta" (DDIM only), "seed"}} so that a port can rebuild it.
    Keys (float32 unless noted; shape VSHAPE = [1,4,4,4]):
      V.alphas_cumprod              [1000]  (only variants that change the betas)
      V.n{N}.timesteps / .sigmas / .init_noise_sigma   as above
      V.n{N}.sample.0, .model_input.{k}, .model_output.{k}, .prev_sample.{k},
      .pred_original_sample.{k}     the step loop as above (noise = randn(VSHAPE, seed 0)
                                    * init_noise_sigma, model_output = 0.1 * model_input
                                    + randn(VSHAPE, seed 1000 + k)); the step kwargs
                                    are eta + generator(seed) for DDIM variants with
                                    eta, generator(seed) for Euler ancestral.
  sched_strength.safetensors, the pipeline's strength < 1 path (get_timesteps,
    set_begin_index, add_noise, then the loop), for each run R of metadata "runs" =
    json {R: {"class", "config": "tiny"|"hub", "steps", "strength", "eta",
    "t_start", "seed"}}: the scheduler is Class.from_config(base.config) as in
    the main files; then exactly StableDiffusionInpaintPipeline's code:
      set_timesteps(N); init_timestep = min(int(N * strength), N);
      t_start = max(N - init_timestep, 0); timesteps = scheduler.timesteps[t_start * order:];
      set_begin_index(t_start * order) if the scheduler has it;
      latent_timestep = timesteps[:1].repeat(1);
      latents = add_noise(image_latents, noise, latent_timestep)   (no init_noise_sigma);
      per step k: model_input = scale_model_input(cat([latents] * 2), t)  (batch 2, as CFG);
      model_output = 0.1 * model_input[:1] + randn(VSHAPE, seed 1000 + k);
      latents = step(model_output, t, latents, **extra)  with extra = prepare_extra_step_kwargs
      (eta where step() accepts eta, generator where it accepts a generator; one
      Generator().manual_seed(seed) made after set_timesteps).
    Keys: R.timesteps (the sliced list), R.latent_timestep, R.image_latents (randn seed 7),
      R.noise (randn seed 8), R.sample.0 (= add_noise output), R.model_input.{k} [2,4,4,4],
      R.model_output.{k}, R.prev_sample.{k}, R.pred_original_sample.{k} (DDIM, Euler A).
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
        step_loop(s, noise * s.init_noise_sigma, s.timesteps, kw, p, out)
    return out, s0


def step_loop(s, sample, timesteps, kw, p, out, cfg_batch=False):
    """The step loop of every file: sample.0, then per timestep model_input,
    model_output = 0.1 * model_input + randn(seed 1000 + k), prev_sample and
    pred_original_sample. cfg_batch: scale_model_input gets cat([sample] * 2)
    as in the pipeline with classifier-free guidance (model_output from the
    first half)."""
    out[p + "sample.0"] = sample.clone()
    for k, t in enumerate(timesteps):
        model_input = s.scale_model_input(torch.cat([sample] * 2) if cfg_batch else sample, t)
        eps = 0.1 * (model_input[:1] if cfg_batch else model_input) + torch.randn(
            sample.shape, generator=torch.Generator().manual_seed(1000 + k))
        res = s.step(eps, t, sample, **kw)
        out[p + "model_input.%d" % k] = model_input.clone()
        out[p + "model_output.%d" % k] = eps.clone()
        out[p + "prev_sample.%d" % k] = res.prev_sample.clone()
        pos = getattr(res, "pred_original_sample", None)
        if pos is not None:
            out[p + "pred_original_sample.%d" % k] = pos.clone()
        sample = res.prev_sample


VSHAPE = (1, 4, 4, 4)
VARIANT_SEED = 4321
BY_NAME = dict(CLASSES)

# name -> (class short name, config keys to change, steps, extra)
VARIANTS = [
    ("pndm_prk", "pndm", {"skip_prk_steps": False}, (10,), {}),
    ("pndm_linspace", "pndm", {"timestep_spacing": "linspace"}, (10,), {}),
    ("pndm_trailing", "pndm", {"timestep_spacing": "trailing"}, (10, 7), {}),
    ("pndm_vpred", "pndm", {"prediction_type": "v_prediction"}, (10,), {}),
    ("pndm_alpha1", "pndm", {"set_alpha_to_one": True}, (5,), {}),
    ("ddim_clip", "ddim", {"clip_sample": True, "clip_sample_range": 1.5}, (10,), {}),
    ("ddim_linspace", "ddim", {"timestep_spacing": "linspace"}, (10,), {}),
    ("ddim_trailing", "ddim", {"timestep_spacing": "trailing"}, (10, 7), {}),
    ("ddim_vpred", "ddim", {"prediction_type": "v_prediction"}, (10,), {}),
    ("ddim_sample", "ddim", {"prediction_type": "sample"}, (10,), {}),
    ("ddim_alpha1", "ddim", {"set_alpha_to_one": True}, (5,), {}),
    ("ddim_eta", "ddim", {}, (10,), {"eta": 0.5}),
    ("ddim_linear", "ddim", {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}, (10,), {}),
    ("ddim_cosine", "ddim", {"beta_schedule": "squaredcos_cap_v2"}, (10,), {}),
    ("ddim_zsnr", "ddim", {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                           "prediction_type": "v_prediction"}, (10,), {}),
    ("euler_a_trailing", "euler_a", {"timestep_spacing": "trailing"}, (10, 7), {}),
    ("euler_a_linspace", "euler_a", {"timestep_spacing": "linspace"}, (10, 7), {}),
    ("euler_a_vpred", "euler_a", {"prediction_type": "v_prediction"}, (10,), {}),
    ("euler_a_zsnr", "euler_a", {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                                 "prediction_type": "v_prediction"}, (10,), {}),
    ("dpmpp2m_order1", "dpmpp2m", {"solver_order": 1}, (10,), {}),
    ("dpmpp2m_heun", "dpmpp2m", {"solver_type": "heun"}, (10,), {}),
    ("dpmpp2m_sigma_min", "dpmpp2m", {"final_sigmas_type": "sigma_min"}, (10,), {}),
    ("dpmpp2m_no_lower_final", "dpmpp2m", {"lower_order_final": False,
                                           "final_sigmas_type": "sigma_min"}, (10,), {}),
    ("dpmpp2m_euler_final", "dpmpp2m", {"euler_at_final": True, "lower_order_final": False,
                                        "final_sigmas_type": "sigma_min"}, (10,), {}),
    ("dpmpp2m_many_steps", "dpmpp2m", {"final_sigmas_type": "sigma_min"}, (20,), {}),
    ("dpmpp2m_linspace", "dpmpp2m", {"timestep_spacing": "linspace"}, (10, 7), {}),
    ("dpmpp2m_trailing", "dpmpp2m", {"timestep_spacing": "trailing"}, (10, 7), {}),
    ("dpmpp2m_vpred", "dpmpp2m", {"prediction_type": "v_prediction"}, (10,), {}),
    ("dpmpp2m_sample", "dpmpp2m", {"prediction_type": "sample"}, (10,), {}),
    ("dpmpp2m_lambda_clip", "dpmpp2m", {"lambda_min_clipped": -5.1, "timestep_spacing": "linspace"},
     (10,), {}),
    ("dpmpp2m_zsnr", "dpmpp2m", {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                                 "prediction_type": "v_prediction"}, (10,), {}),
    ("dpmpp2m_legacy_names", "dpmpp2m", {"algorithm_type": "deis", "solver_type": "bh2",
                                           "final_sigmas_type": "sigma_min"}, (10,), {}),
]

STRENGTH_RUNS = [
    ("pndm_tiny_s075", "pndm", "tiny", 10, 0.75, 0.0),
    ("ddim_tiny_s075", "ddim", "tiny", 10, 0.75, 0.0),
    ("ddim_tiny_s06_eta", "ddim", "tiny", 10, 0.6, 0.3),
    ("euler_a_tiny_s075", "euler_a", "tiny", 10, 0.75, 0.0),
    ("euler_a_hub_s075", "euler_a", "hub", 10, 0.75, 0.0),
    ("euler_a_hub_s05", "euler_a", "hub", 7, 0.5, 0.0),
    ("dpmpp2m_tiny_s075", "dpmpp2m", "tiny", 10, 0.75, 0.0),
    ("dpmpp2m_hub_s075", "dpmpp2m", "hub", 10, 0.75, 0.0),
    ("dpmpp2m_hub_s05", "dpmpp2m", "hub", 7, 0.5, 0.0),
    ("pndm_hub_s1", "pndm", "hub", 5, 1.0, 0.0),
]

CHANGES_BETAS = ("beta_schedule", "beta_start", "beta_end", "rescale_betas_zero_snr")


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def run_variants(modeldir):
    with open(os.path.join(modeldir, "scheduler", "scheduler_config.json")) as f:
        tiny = json.load(f)
    out, meta = {}, {}
    for vname, short, changes, steps, extra in VARIANTS:
        cls = BY_NAME[short]
        config = dict(tiny)
        config.update(changes)
        meta[vname] = {"class": cls.__name__, "config": config, "steps": list(steps),
                       "seed": VARIANT_SEED}
        if "eta" in extra:
            meta[vname]["eta"] = extra["eta"]
        if any(k in changes for k in CHANGES_BETAS):
            out[vname + ".alphas_cumprod"] = cls.from_config(config).alphas_cumprod.clone()
        for n in steps:
            s = cls.from_config(config)
            s.set_timesteps(n)
            p = "%s.n%d." % (vname, n)
            out[p + "timesteps"] = s.timesteps.clone()
            if hasattr(s, "sigmas") and torch.is_tensor(s.sigmas):
                out[p + "sigmas"] = s.sigmas.clone().float()
            out[p + "init_noise_sigma"] = torch.tensor(float(s.init_noise_sigma), dtype=torch.float32)
            kw = {}
            if short == "euler_a" or "eta" in extra:
                kw["generator"] = torch.Generator().manual_seed(VARIANT_SEED)
            if "eta" in extra:
                kw["eta"] = extra["eta"]
            step_loop(s, randn(VSHAPE, 0) * s.init_noise_sigma, s.timesteps, kw, p, out)
    return out, meta


def run_strength(modeldir, hubcfg):
    import inspect
    with open(hubcfg) as f:
        hub = json.load(f)
    bases = {"tiny": lambda: PNDMScheduler.from_pretrained(modeldir, subfolder="scheduler"),
             "hub": lambda: PNDMScheduler.from_config(dict(hub))}
    out, meta = {}, {}
    for rname, short, base, n, strength, eta in STRENGTH_RUNS:
        s = BY_NAME[short].from_config(bases[base]().config)
        s.set_timesteps(n)
        generator = torch.Generator().manual_seed(VARIANT_SEED)
        # StableDiffusionInpaintPipeline.get_timesteps
        init_timestep = min(int(n * strength), n)
        t_start = max(n - init_timestep, 0)
        timesteps = s.timesteps[t_start * s.order:]
        if hasattr(s, "set_begin_index"):
            s.set_begin_index(t_start * s.order)
        # prepare_extra_step_kwargs
        params = set(inspect.signature(s.step).parameters.keys())
        kw = {}
        if "eta" in params:
            kw["eta"] = eta
        if "generator" in params:
            kw["generator"] = generator
        latent_timestep = timesteps[:1].repeat(1)
        image_latents, noise = randn(VSHAPE, 7), randn(VSHAPE, 8)
        latents = s.add_noise(image_latents, noise, latent_timestep)
        p = rname + "."
        out[p + "timesteps"] = timesteps.clone()
        out[p + "latent_timestep"] = latent_timestep.clone()
        out[p + "image_latents"] = image_latents
        out[p + "noise"] = noise
        step_loop(s, latents, timesteps, kw, p, out, cfg_batch=True)
        meta[rname] = {"class": type(s).__name__, "config": base, "steps": n, "strength": strength,
                       "eta": eta, "t_start": t_start, "seed": VARIANT_SEED}
    return out, meta


def main_extra(modeldir, outdir, hubcfg):
    summary = {}
    tensors, meta = run_variants(modeldir)
    path = os.path.join(outdir, "sched_variants.safetensors")
    H.save_tensors(path, tensors, metadata={"variants": meta,
                                            "made_by": "tests/data/sd/make_scheduler_goldens.py --extra"})
    summary["sched_variants.safetensors"] = {
        v: {"timesteps": {n: [round(float(x), 4) for x in tensors["%s.n%d.timesteps" % (v, n)].tolist()]
                          for n in m["steps"]}} for v, m in meta.items()}
    tensors, meta = run_strength(modeldir, hubcfg)
    path = os.path.join(outdir, "sched_strength.safetensors")
    H.save_tensors(path, tensors, metadata={"runs": meta,
                                            "made_by": "tests/data/sd/make_scheduler_goldens.py --extra"})
    summary["sched_strength.safetensors"] = {
        r: {"timesteps": [round(float(x), 4) for x in tensors[r + ".timesteps"].tolist()],
            "final_absmax": float(tensors["%s.prev_sample.%d" % (r, len(tensors[r + ".timesteps"]) - 1)]
                                  .abs().max())} for r in meta}
    print(json.dumps(summary, indent=1))


def main():
    if sys.argv[1] == "--extra":
        main_extra(sys.argv[2], sys.argv[3], sys.argv[4])
        return
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
