#!/usr/bin/env python3
"""`ref inpaint` with another scheduler swapped in the way users do it:
    pipe = StableDiffusionInpaintPipeline.from_pretrained(MODELDIR)
    pipe.scheduler = <SCHEDULER_CLASS>.from_config(pipe.scheduler.config)
Everything else (image/mask loading, generator, outputs, --dump recording) is the
harness's own `inpaint` subcommand (ref.cmd_inpaint), so the files have the same
layout as plain `ref inpaint` results.

With --hub-scheduler-config FILE the pipeline's scheduler is first rebuilt as
    type(pipe.scheduler).from_config(json.load(FILE))
i.e. as if the model folder held that scheduler_config.json (the real SD2
inpainting file has no timestep_spacing key), and the swap then follows.

Run: tests/data/sd/harness_python.sh tests/data/sd/run_inpaint_swapped.py \
        SCHEDULER_CLASS [--hub-scheduler-config FILE] <ref inpaint arguments...>

Harness workaround (needed for EulerAncestralDiscreteScheduler with --dump): the harness's
Recorder replaces pipe.scheduler.step by a wrapper `sched_step(model_output, timestep, sample,
*a, **kw)`.  The pipeline's prepare_extra_step_kwargs decides whether to pass `generator` /
`eta` by looking for those names in inspect.signature(scheduler.step), so with the wrapper
it passes neither: Euler ancestral then draws its per-step noise from torch's unseeded global
RNG (results change from run to run) and DDIM would ignore --eta.  Here the wrapper gets the
original step's signature (__signature__), so the pipeline passes exactly what it passes
without --dump; the wrapper itself forwards **kw unchanged.
"""
import inspect
import json
import sys

import ref as H


def main():
    argv = sys.argv[1:]
    cls_name = argv.pop(0)
    hubcfg = None
    if argv and argv[0] == "--hub-scheduler-config":
        hubcfg = argv[1]
        argv = argv[2:]
    orig = H.load_pipeline

    def load_pipeline(modeldir):
        import diffusers
        pipe = orig(modeldir)
        if hubcfg:
            with open(hubcfg) as f:
                pipe.scheduler = type(pipe.scheduler).from_config(json.load(f))
        pipe.scheduler = getattr(diffusers, cls_name).from_config(pipe.scheduler.config)
        H.log("scheduler swapped to %s, timestep_spacing=%s" % (cls_name, pipe.scheduler.config.timestep_spacing))
        return pipe

    H.load_pipeline = load_pipeline  # cmd_inpaint looks it up in the module globals

    orig_install = H.Recorder.install

    def install(self, pipe):
        sig = inspect.signature(pipe.scheduler.step)
        orig_install(self, pipe)
        pipe.scheduler.step.__signature__ = sig  # keep prepare_extra_step_kwargs' view unchanged
    H.Recorder.install = install
    H.main(["inpaint"] + argv)


if __name__ == "__main__":
    main()
