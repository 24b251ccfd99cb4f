# SPDX-License-Identifier: LGPL-2.1-or-later
"""The OUT folder: durable files, run states, results and merging.

A run counts as done once runs/ID.csv exists. Every file is written to a
temporary name, flushed to disk and renamed into place, the CSV last, so a
kill at any instant (SIGKILL included) leaves each run either done, failed
or to do, never half-written.
"""

import csv
import fcntl
import glob
import io
import json
import os
import shutil
import socket

import rip_common

from .spec import SpecError

ID_COLUMNS = ["image", "mask_size", "seed"]


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, text):
    """Write, fsync and rename into place: readers see all or nothing."""
    tmp = f"{path}.tmp-{socket.gethostname()}-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


def remove_stale_tmp(out):
    """Delete temporary files that a killed rip-study on this host left.

    Only files of processes that no longer exist go: shards on other nodes
    (or still running here) may be writing theirs into the same OUT.
    """
    host = socket.gethostname()
    for path in glob.glob(os.path.join(out, "*.tmp-*")) + \
            glob.glob(os.path.join(out, "runs", "*.tmp-*")):
        owner = path.rsplit(".tmp-", 1)[1]
        owner_host, _, pid = owner.rpartition("-")
        if owner_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            os.remove(path)
        except PermissionError:
            pass  # alive, another user's


def tidy_header(metrics):
    return ID_COLUMNS + rip_common.FIXED_COLUMNS + list(metrics)


def run_state(out, run_id):
    """'done', 'failed' or None (to do)."""
    if os.path.exists(os.path.join(out, "runs", run_id + ".csv")):
        return "done"
    if os.path.exists(os.path.join(out, "runs", run_id + ".failed")):
        return "failed"
    return None


def read_failure(out, run_id):
    with open(os.path.join(out, "runs", run_id + ".failed")) as f:
        return json.load(f)


def record_failure(out, run, reason):
    record = {"run": run["id"], "image": run["image"], "path": run["path"],
              "reason": reason}
    write_atomic(os.path.join(out, "runs", run["id"] + ".failed"),
                 json.dumps(record) + "\n")


def commit_run(out, run, work, metrics, kept):
    """Turn a finished loop's files in `work` into a done run, atomically:
    rows checked and tidied, kept frames renamed to their iteration and
    moved to frames/ID/, then the CSV renamed into place."""
    with open(os.path.join(work, "metrics.csv"), newline="") as f:
        rows = list(csv.reader(f))
    expected = rip_common.FIXED_COLUMNS + metrics
    if not rows or rows[0] != expected or \
            len(rows) != run["iterations"] + 2:
        raise RuntimeError(f"lpipsmeter wrote {len(rows) - 1} rows, "
                           f"expected {run['iterations'] + 1}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(tidy_header(metrics))
    prefix = [run["image"], run["mask_size"], run["seed"]]
    for r in rows[1:]:
        w.writerow(prefix + r)
    # Kept frames: multifilesink numbered them 0, 1, ... in order.
    fdir = os.path.join(work, "frames")
    files = sorted(os.listdir(fdir))
    if len(files) != len(kept):
        raise RuntimeError(f"{len(files)} frames saved, expected "
                           f"{len(kept)}")
    for name, k in zip(files, kept):
        dst = os.path.join(fdir, f"iter_{k:05d}.png")
        os.rename(os.path.join(fdir, name), dst)
        with open(dst, "rb") as f:
            os.fsync(f.fileno())
    fsync_dir(fdir)
    final = os.path.join(out, "frames", run["id"])
    shutil.rmtree(final, ignore_errors=True)  # a killed earlier attempt
    os.rename(fdir, final)
    fsync_dir(os.path.join(out, "frames"))
    # The rename of the CSV is the commit point.
    write_atomic(os.path.join(out, "runs", run["id"] + ".csv"),
                 buf.getvalue())
    shutil.rmtree(work, ignore_errors=True)


def assemble(out, study):
    """Rewrite results.csv and failures.csv from runs/, in run-list order
    (image, mask size, seed; rows in iteration order). Returns counts."""
    header = tidy_header(study["metrics"])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(header)
    fails = io.StringIO()
    fw = csv.writer(fails, lineterminator="\n")
    fw.writerow(["run", "image", "path", "mask_size", "seed", "reason"])
    done = failed = 0
    for run in study["runs"]:
        state = run_state(out, run["id"])
        if state == "done":
            with open(os.path.join(out, "runs", run["id"] + ".csv")) as f:
                lines = f.read().splitlines(keepends=True)
            if lines[0].rstrip("\n").split(",") != header:
                raise SpecError(f"{out}/runs/{run['id']}.csv has other "
                                "columns than this study")
            buf.writelines(lines[1:])
            done += 1
        elif state == "failed":
            rec = read_failure(out, run["id"])
            fw.writerow([run["id"], run["image"], run["path"],
                         run["mask_size"], run["seed"], rec["reason"]])
            failed += 1
    write_atomic(os.path.join(out, "results.csv"), buf.getvalue())
    write_atomic(os.path.join(out, "failures.csv"), fails.getvalue())
    return done, failed


def row_settings(study):
    """The settings every row depends on besides its run: a resumed or
    merged study must have the same ones, or its rows would not compare."""
    return {k: study[k] for k in ("width", "height", "fit", "mask_mode",
                                  "inpaint", "metrics", "keep")} | {
        # how long an iteration may take changes no row
        "inpainter": {k: v for k, v in study["inpainter"].items()
                      if k != "timeout"}}


def study_record(study):
    return {"name": study["name"], "spec_file": study["spec_file"],
            "settings": row_settings(study), "study": study}


def open_out(out, study):
    """Create OUT or check that it belongs to this study's settings."""
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    os.makedirs(os.path.join(out, "frames"), exist_ok=True)
    path = os.path.join(out, "study.json")
    record = study_record(study)
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        diff = [k for k in record["settings"]
                if old["settings"].get(k) != record["settings"][k]]
        if diff:
            raise SpecError(
                f"'{out}' holds a study run with other settings "
                f"({', '.join(diff)}): its rows would not compare with "
                "these. Use a new OUT folder (changing images, mask sizes "
                "and seeds is fine: new runs are added).")
    write_atomic(path, json.dumps(record, indent=1))


def load_out(out):
    path = os.path.join(out, "study.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise SpecError(f"'{out}' is not a rip-study output (no study.json)")\
            from None


def shard_locks(out):
    """The shards that ever ran in OUT, each with whether a process holds it
    now: [((i, N), running)], from the lock files lock_shard leaves."""
    found = []
    for path in sorted(glob.glob(os.path.join(out, "work", "shard-*-of-*.lock"))):
        name = os.path.basename(path)[len("shard-"):-len(".lock")]
        try:
            i, n = (int(x) for x in name.split("-of-"))
        except ValueError:
            continue
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                running = False
            except BlockingIOError:
                running = True
        found.append(((i, n), running))
    return found


def run_finished_at(out, run_id):
    """When a finished run was committed (its file's mtime), or None."""
    for ext in (".csv", ".failed"):
        try:
            return os.path.getmtime(os.path.join(out, "runs", run_id + ext))
        except FileNotFoundError:
            pass
    return None


def lock_shard(out, shard):
    """Hold shard i/N of OUT for this process (until it exits).

    One lock per shard: two processes on the same runs would redo each
    other's work; different shards may share an OUT on a shared disk.
    """
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    lock = open(os.path.join(work, f"shard-{shard[0]}-of-{shard[1]}.lock"),
                "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SpecError(f"another rip-study is running shard "
                        f"{shard[0]}/{shard[1]} in '{out}'") from None
    return lock


def merge(out, shards):
    """Copy the finished and failed runs of shard OUT folders (or any
    partial outputs of one study) into OUT and rebuild its results.

    Returns (study, runs copied, done, failed).
    """
    records = [load_out(s) for s in shards]
    first = records[0]
    for s, rec in zip(shards[1:], records[1:]):
        if rec["settings"] != first["settings"]:
            raise SpecError(f"'{s}' was run with other settings than "
                            f"'{shards[0]}'")
        if [r["id"] for r in rec["study"]["runs"]] != \
                [r["id"] for r in first["study"]["runs"]]:
            raise SpecError(f"'{s}' has another run list than "
                            f"'{shards[0]}' (other images, sizes or "
                            "seeds): shards must use the same spec and "
                            "images")
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    os.makedirs(os.path.join(out, "frames"), exist_ok=True)
    if os.path.exists(os.path.join(out, "study.json")):
        if load_out(out)["settings"] != first["settings"]:
            raise SpecError(f"'{out}' holds a study with other settings")
    write_atomic(os.path.join(out, "study.json"), json.dumps(first, indent=1))
    study = first["study"]
    copied = 0
    for src in shards:
        if os.path.realpath(src) == os.path.realpath(out):
            continue
        for run in study["runs"]:
            state = run_state(src, run["id"])
            if state is None or run_state(out, run["id"]) == "done":
                continue
            if state == "failed":
                if run_state(out, run["id"]) is None:
                    shutil.copyfile(
                        os.path.join(src, "runs", run["id"] + ".failed"),
                        os.path.join(out, "runs", run["id"] + ".failed"))
                continue
            # Frames first, then the CSV: the same commit order as `run`.
            fsrc = os.path.join(src, "frames", run["id"])
            if os.path.isdir(fsrc):
                tmp = os.path.join(out, "frames", run["id"] + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(fsrc, tmp)
                final = os.path.join(out, "frames", run["id"])
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
            with open(os.path.join(src, "runs", run["id"] + ".csv")) as f:
                write_atomic(os.path.join(out, "runs", run["id"] + ".csv"),
                             f.read())
            failed = os.path.join(out, "runs", run["id"] + ".failed")
            if os.path.exists(failed):
                os.remove(failed)  # a shard that succeeded later wins
            copied += 1
    done, failed = assemble(out, study)
    return study, copied, done, failed
