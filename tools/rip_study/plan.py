# SPDX-License-Identifier: LGPL-2.1-or-later
"""A study's runs: every image x mask size x seed, in one fixed order, the
iterations each keeps as PNG, and the shards that split them."""

import rip_common

from . import spec
from .spec import SpecError


def kept_iterations(keep, iterations, cells):
    """The iterations saved as PNG: the seed, every k-th, every share_every
    of the image (the same % columns for every mask size), listed, last.
    `cells` is how many masks make 100 %."""
    kept = {i for i in keep["iterations"] if i <= iterations}
    if keep["every"]:
        kept |= set(range(0, iterations + 1, keep["every"]))
    if keep["share_every"]:
        step = max(1, round(keep["share_every"] * cells))
        kept |= set(range(0, iterations + 1, step))
    if keep["last"]:
        kept.add(iterations)
    if kept:
        kept.add(0)  # strips start at the seed
    return sorted(kept)


def make_runs(study, inpainter):
    """The run list, sorted by image, mask size and seed: its order is what
    shards split and results.csv follows."""
    w, h = study["width"], study["height"]
    runs = []
    for iid, ipath in study["images"]:
        img_seeds = sorted(set(study["seeds"]) | (
            set(study["spread_seeds"]) if iid in study["spread_images"]
            else set()))
        for size in study["mask_sizes"]:
            iterations = rip_common.iteration_count(study["inpaint"], w, h,
                                                    size)
            for seed in img_seeds:
                runs.append({
                    "id": f"{iid}__m{size}__s{seed}", "image": iid,
                    "path": ipath, "mask_size": size, "seed": seed,
                    "iterations": iterations,
                    "kept": kept_iterations(study["keep"], iterations,
                                            w * h / size ** 2),
                    "inpainter": inpainter.description(seed)})
    return runs


def load_study(path):
    """The checked spec with its runs: what `run` and `plan` work from and
    study.json records."""
    study, inpainter = spec.load_spec(path)
    study["runs"] = make_runs(study, inpainter)
    return study


def parse_shard(text):
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SpecError(f"--shard wants i/N (e.g. 0/4), not '{text}'") \
            from None
    if n < 1 or not 0 <= i < n:
        raise SpecError(f"--shard {text}: need 0 <= i < N")
    return i, n


def shard_runs(runs, shard):
    """Shard i/N's runs: those whose index in the run list modulo N is i,
    the same split on every node, balanced over sizes and seeds."""
    i, n = shard
    return [r for k, r in enumerate(runs) if k % n == i]
