#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compares two Chrome traces of one UNet call, op by op (self time).

  bench/profile_summary.py OURS.json DIFFUSERS.json [N]
  bench/profile_summary.py --categories OURS.json DIFFUSERS.json

The traces come from `RIP_BENCH_PROFILE=FILE build/bench/bench-sd MODEL unet1`
and `RIP_BENCH_PROFILE=FILE .../bench_sd_diffusers.py MODEL unet1`. For each
ATen op it prints the calls and the self time (time not spent in nested ops)
on each side, largest difference first: where the gap between gst-rip and
diffusers is. --categories sums the self times into the kinds of work
(convolutions, attention, norms, linear layers, copies and layout changes,
element-wise ops) as a Markdown table with each side's share.
"""
import collections
import json
import sys


def self_times(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_thread[e.get("tid")].append(
                (float(e["ts"]), float(e["dur"]), e["name"]))
    total = collections.Counter()
    calls = collections.Counter()
    for evs in by_thread.values():
        # Sort by start, longest first; a stack gives each event its children.
        evs.sort(key=lambda v: (v[0], -v[1]))
        stack = []  # [end, name, time in children, start]
        for ts, dur, name in evs:
            while stack and stack[-1][0] <= ts:
                end, nm, child, beg = stack.pop()
                total[nm] += (end - beg) - child
            if stack:
                stack[-1][2] += dur
            stack.append([ts + dur, name, 0.0, ts])
            calls[name] += 1
        while stack:
            end, nm, child, beg = stack.pop()
            total[nm] += (end - beg) - child
    return total, calls


# Kinds of work, by ATen op (self time, so a wrapper such as aten::conv2d
# only counts what it does itself). First match wins.
CATEGORIES = [
    ("convolutions", ("convolution", "conv2d", "conv_", "mkldnn_conv", "thnn_conv",
                      "slow_conv", "_nnpack")),
    ("attention: q·k and ·v (bmm)", ("baddbmm", "bmm")),
    ("attention: softmax", ("softmax",)),
    ("GroupNorm", ("group_norm",)),
    ("LayerNorm", ("layer_norm",)),
    ("linear layers (addmm, mm)", ("addmm", "aten::mm", "linear", "matmul")),
    ("copies and layout changes", ("copy_", "contiguous", "clone", "_to_copy",
                                   "aten::to", "cat", "reshape", "permute",
                                   "transpose", "view", "as_strided", "narrow",
                                   "chunk", "split", "unsqueeze", "expand")),
    ("fills and allocations", ("zeros", "zero_", "fill_", "empty", "ones")),
    ("element-wise (add, mul, SiLU, GELU...)", ("add", "mul", "div", "silu", "gelu",
                                               "sigmoid", "sub", "exp", "sin",
                                               "cos", "neg")),
]


def category(name):
    for label, keys in CATEGORIES:
        if any(k in name for k in keys):
            return label
    return "other"


def categories(ours_path, ref_path):
    sides = [self_times(ours_path)[0], self_times(ref_path)[0]]
    sums = [collections.Counter(), collections.Counter()]
    for side, out in zip(sides, sums):
        for name, t in side.items():
            if name.startswith("aten::") or name.startswith("mkldnn"):
                out[category(name)] += t
    totals = [sum(x.values()) for x in sums]
    print("| work | gst-rip s | share | diffusers s | share |")
    print("|---|---|---|---|---|")
    for label in [c for c, _ in CATEGORIES] + ["other"]:
        a, b = sums[0][label], sums[1][label]
        if a == 0 and b == 0:
            continue
        print(f"| {label} | {a / 1e6:.3f} | {100 * a / totals[0]:.0f} % | "
              f"{b / 1e6:.3f} | {100 * b / totals[1]:.0f} % |")
    print(f"| all ATen ops | {totals[0] / 1e6:.3f} | | {totals[1] / 1e6:.3f} | |")


def main():
    if sys.argv[1] == "--categories":
        return categories(sys.argv[2], sys.argv[3])
    ours, ours_calls = self_times(sys.argv[1])
    ref, ref_calls = self_times(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    names = set(ours) | set(ref)
    rows = sorted(names, key=lambda k: -abs(ours[k] - ref[k]))
    print(f"{'op':40s} {'calls':>13s} {'gst-rip s':>10s} {'diffusers s':>11s} {'diff s':>8s}")
    for k in rows[:n]:
        print(f"{k[:40]:40s} {ours_calls[k]:6d}/{ref_calls[k]:<6d} "
              f"{ours[k] / 1e6:10.3f} {ref[k] / 1e6:11.3f} "
              f"{(ours[k] - ref[k]) / 1e6:8.3f}")
    print(f"{'all ops':40s} {'':13s} {sum(ours.values()) / 1e6:10.3f} "
          f"{sum(ref.values()) / 1e6:11.3f}")


if __name__ == "__main__":
    main()
