# SPDX-License-Identifier: LGPL-2.1-or-later
"""The rip-study command line.

  rip-study run SPEC OUT [--jobs N] [--shard i/N] [--retry-failed] [-q]
  rip-study merge OUT SHARD-OUT...
  rip-study report OUT [--images a,b] [--every K]
  rip-study status OUT [OUT...]
  rip-study plan SPEC [--shard i/N]

OUT holds:
  study.json       the resolved spec and the run list (checked on resume)
  runs/ID.csv      one finished run's tidy rows (written atomically)
  runs/ID.failed   a run that failed on its image, with the reason
  frames/ID/       the kept iterations as PNG (iter_00000.png = the seed)
  results.csv      all finished runs' rows, sorted (image, mask, seed, iter)
  failures.csv     the failed runs and why
  report/          figures (PNG, SVG) and index.html, from `report`

A run counts as done once runs/ID.csv exists; it is renamed into place only
after its rows and frames are complete and on disk, so a kill at any instant
(SIGKILL included) loses at most the runs in flight, which the next `run`
redoes from the start (loops are deterministic given the seed).
"""

import argparse
import os
import shutil
import sys
import time

from . import plan, store
from .runner import Runner, fmt_seconds
from .spec import SpecError

PROG = "rip-study"


def cmd_run(args):
    # load_study also checks that GStreamer finds every element of the loop.
    study = plan.load_study(args.spec)
    shard = plan.parse_shard(args.shard) if args.shard else (0, 1)
    store.open_out(args.out, study)
    with store.lock_shard(args.out, shard):
        return run_shard(args, study, shard)


def run_shard(args, study, shard):
    """cmd_run's work, with the shard's lock held."""
    out = args.out
    store.remove_stale_tmp(out)
    mine = plan.shard_runs(study["runs"], shard)
    for r in mine:
        # Half-done runs of a killed process: their loops start over.
        shutil.rmtree(os.path.join(out, "work", r["id"]), ignore_errors=True)
    if args.retry_failed:
        for r in mine:
            if store.run_state(out, r["id"]) == "failed":
                os.remove(os.path.join(out, "runs", r["id"] + ".failed"))
    todo = [r for r in mine if store.run_state(out, r["id"]) is None]
    before = len(mine) - len(todo)
    jobs = args.jobs or study["jobs"] or (
        # cvinpaint is single-threaded per loop: one loop per core. sdinpaint
        # already uses every core in libtorch and shares one model; more
        # loops would only add memory and contention.
        os.cpu_count() or 1 if study["element"] == "cvinpaint" else 1)
    if not args.quiet:
        iters = sum(r["iterations"] for r in todo)
        print(f"{PROG}: {study['name']}: {len(study['runs'])} runs"
              f"{f', shard {shard[0]}/{shard[1]}: {len(mine)}' if shard[1] > 1 else ''}"
              f", {before} already done or failed, {len(todo)} to do "
              f"({iters} iterations), {jobs} at a time -> {out}",
              file=sys.stderr)
    runner = Runner(out, study, todo, jobs, args.quiet)
    if todo:
        runner.run()
    done, failed = store.assemble(out, study)
    if runner.batches and not args.quiet:
        # "unet batches: 3 x 12, 2 x 4; vae-encode batches: ..." (loops per
        # batch x batches)
        print(f"{PROG}: " + "; ".join(
            part.replace(":", " batches:", 1)
            for part in runner.batches.split("; ")), file=sys.stderr)
    if not args.quiet:
        print(f"{PROG}: {done} runs done, {failed} failed of "
              f"{len(study['runs'])} in {fmt_seconds(time.monotonic() - runner.start)}"
              f"; rows in {os.path.join(out, 'results.csv')}", file=sys.stderr)
    if runner.fatal:
        print(f"{PROG}: stopped: {runner.fatal}", file=sys.stderr)
        return 1
    if runner.interrupted:
        print(f"{PROG}: interrupted; run again to continue", file=sys.stderr)
        return 130
    return 0


def cmd_merge(args):
    """Join shard OUT folders (or any partial outputs of one study)."""
    study, copied, done, failed = store.merge(args.out, args.shards)
    print(f"{PROG}: merged {len(args.shards)} outputs ({copied} runs "
          f"copied): {done} done, {failed} failed, "
          f"{len(study['runs']) - done - failed} missing of "
          f"{len(study['runs'])} -> {os.path.join(args.out, 'results.csv')}")
    return 0


def cmd_plan(args):
    """Check a spec and list its runs without running anything."""
    study = plan.load_study(args.spec)
    runs = study["runs"]
    if args.shard:
        runs = plan.shard_runs(runs, plan.parse_shard(args.shard))
    for r in runs:
        print(f"{r['id']}\t{r['iterations']} iterations\t"
              f"keep {len(r['kept'])}\t{r['path']}")
    print(f"{study['name']}: {len(study['images'])} images, "
          f"{len(runs)} runs, {sum(r['iterations'] for r in runs)} "
          f"iterations, {sum(len(r['kept']) for r in runs)} kept frames; "
          f"inpainter: {study['runs'][0]['inpainter'] if runs else '-'}")
    return 0


def out_status(out, study, title):
    """One OUT's line, headed `title`: its shard's runs done, failed, to do;
    whether a process runs it now, and when it should end at its pace so
    far."""
    locks = store.shard_locks(out)
    runs = study["runs"]
    # An OUT that ran exactly one shard is that shard; several shards in one
    # OUT (a shared disk) or none (never run) count every run.
    shards = {shard for shard, _ in locks}
    label = ""
    if len(shards) == 1 and next(iter(shards))[1] > 1:
        shard = next(iter(shards))
        runs = plan.shard_runs(runs, shard)
        label = f" (shard {shard[0]}/{shard[1]})"
    running = sum(1 for _, r in locks if r)
    states = {r["id"]: store.run_state(out, r["id"]) for r in runs}
    done = sum(1 for s in states.values() if s == "done")
    failed = sum(1 for s in states.values() if s == "failed")
    todo = len(runs) - done - failed
    line = (f"{title}{label}: {done} done, {failed} failed, {todo} to do of "
            f"{len(runs)} runs")
    if running:
        line += ", running"
        times = sorted(t for t in (store.run_finished_at(out, i)
                                   for i, s in states.items() if s) if t)
        if len(times) >= 2 and todo:
            per_run = (times[-1] - times[0]) / (len(times) - 1)
            line += f", ETA {fmt_seconds(per_run * todo)} at its pace so far"
    elif todo and locks:
        line += ", stopped"
    return line, states


def cmd_status(args):
    outs = args.out
    studies = [store.load_out(out)["study"] for out in outs]
    first = studies[0]
    for out, study in zip(outs[1:], studies[1:]):
        if store.study_record(study) != store.study_record(first):
            raise SpecError(f"'{out}' holds another study than '{outs[0]}': "
                            "give the OUT folders of one study's shards")
    merged = {}
    for out, study in zip(outs, studies):
        # One OUT is the study; several are named by their folders.
        line, states = out_status(out, study,
                                  first["name"] if len(outs) == 1 else out)
        print(line)
        for run_id, s in states.items():
            if s or run_id not in merged:
                merged[run_id] = (s, out)
    if len(outs) > 1:
        total = [s for s, _ in (merged.get(r["id"], (None, None))
                                for r in first["runs"])]
        print(f"{first['name']}: {total.count('done')} done, "
              f"{total.count('failed')} failed, {total.count(None)} to do of "
              f"{len(total)} runs in all")
    for r in first["runs"]:
        s, out = merged.get(r["id"], (None, None))
        if s == "failed":
            print(f"  failed {r['id']}: "
                  f"{store.read_failure(out, r['id'])['reason']}")
    return 0


def cmd_report(args):
    rec = store.load_out(args.out)
    store.assemble(args.out, rec["study"])
    from . import report  # matplotlib: only for this command
    path = report.write_report(args.out, rec["study"], args, PROG)
    print(f"{PROG}: report: {os.path.abspath(path)}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(
        prog=PROG, description="Run, resume, shard and report a whole RIP "
        "study from one spec file (docs/study.md).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run (or continue) a study")
    r.add_argument("spec", help="the study's TOML or JSON spec")
    r.add_argument("out", help="output folder (created; reused to resume)")
    r.add_argument("--jobs", "-j", type=int, default=0,
                   help="loops at a time (default: the spec's jobs, else one "
                        "per core for cvinpaint, 1 for sdinpaint)")
    r.add_argument("--shard", default=None,
                   help="i/N: run only the runs whose index modulo N is i")
    r.add_argument("--retry-failed", action="store_true",
                   help="run again the runs recorded as failed")
    r.add_argument("-q", "--quiet", action="store_true")
    m = sub.add_parser("merge", help="join shard outputs into OUT")
    m.add_argument("out")
    m.add_argument("shards", nargs="+", help="the shards' OUT folders")
    pl = sub.add_parser("plan", help="check a spec and list its runs")
    pl.add_argument("spec")
    pl.add_argument("--shard", default=None, help="only shard i/N's runs")
    s = sub.add_parser("status", help="runs done, failed, to do and "
                       "running, per OUT (several: a study's shards)")
    s.add_argument("out", nargs="+")
    rp = sub.add_parser("report", help="figures and an HTML page")
    rp.add_argument("out")
    rp.add_argument("--images", default=None,
                    help="comma-separated image names for the per-image "
                         "curves and strips (default: the spec's, else the "
                         "first three)")
    rp.add_argument("--every", type=int, default=0,
                    help="strips: the seed, then every k-th kept iteration")
    args = p.parse_args(argv)
    if getattr(args, "jobs", 0) < 0:
        p.error("--jobs must not be negative")
    outs = getattr(args, "out", [])
    for out in (outs if isinstance(outs, list) else [outs]) + \
            getattr(args, "shards", []):
        if os.path.exists(out) and not os.path.isdir(out):
            print(f"{PROG}: OUT '{out}' is a file, not a folder: give the "
                  "study's output folder (rip-study run creates it)",
                  file=sys.stderr)
            return 2
    try:
        return {"run": cmd_run, "merge": cmd_merge, "status": cmd_status,
                "plan": cmd_plan, "report": cmd_report}[args.command](args)
    except SpecError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
