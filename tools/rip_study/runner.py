# SPDX-License-Identifier: LGPL-2.1-or-later
"""Running a study's loops: several pipelines in one process, one GLib main
loop watching their buses, progress on stderr."""

import os
import shutil
import signal
import sys
import time

import rip_common
import rip_pipeline

from . import store


def fmt_seconds(s):
    if s != s or s == float("inf"):
        return "?"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Runner:
    """Runs loops, `jobs` at a time, each its own pipeline in this process.

    One GLib main loop watches every pipeline's bus. Pipelines in one
    process share the inpainting model (sdinpaint keeps one copy per
    model/device/dtype) and need different feedback channel names.
    """

    def __init__(self, out, study, todo, jobs, quiet):
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import GLib, Gst
        Gst.init(None)
        self.GLib, self.Gst = GLib, Gst
        self.out, self.study, self.quiet = out, study, quiet
        self.pending = list(todo)
        self.jobs = jobs
        self.active = {}
        self.total = len(todo)
        self.done = self.failed = 0
        self.iterations_left = sum(r["iterations"] for r in todo)
        self.iterations_done = 0
        self.start = time.monotonic()
        self.fatal = None
        self.interrupted = False
        self.serial = 0
        self.tty = sys.stderr.isatty()
        self.last_line = 0.0
        self.loop = GLib.MainLoop()
        self.batches = ""  # how sdinpaint's model calls ran (its property)

    # -- one run ----------------------------------------------------------

    def work_dir(self, run):
        return os.path.join(self.out, "work", run["id"])

    def inpainter(self, run):
        """The run's inpainter; sdinpaint loops running side by side batch
        their model calls (max-batch = jobs) unless the spec sets it. The
        images are the same either way, so it is not a study setting."""
        inpainter = run["inpainter"]
        if self.study["element"] == "sdinpaint" and self.jobs > 1 and \
                "max_batch" not in self.study["inpainter"] and \
                "max-batch" not in self.study["inpainter"]:
            inpainter += f" max-batch={self.jobs}"
        return inpainter

    def describe(self, run, channel, work, kept):
        study = self.study
        return rip_pipeline.loop_description(
            channel=channel, image=run["path"], width=study["width"],
            height=study["height"], fit=study["fit"],
            iterations=run["iterations"], timeout_ms=study["timeout_ms"],
            mask_mode=study["mask_mode"], mask_size=run["mask_size"],
            seed=run["seed"], inpainter=self.inpainter(run),
            metrics=study["metrics"],
            csv=os.path.join(work, "metrics.csv"),
            # on_error tells the seed image's errors by this name
            source_name="feedbacksrc",
            lpips_weights=study["lpips_weights"],
            frames=os.path.join(work, "frames", "k_%05d.png") if kept
            else None, frames_queue="keep")

    def start_run(self, run):
        Gst = self.Gst
        work = self.work_dir(run)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.join(work, "frames"))
        kept = run["kept"]
        self.serial += 1
        channel = f"rip-study-{os.getpid()}-{self.serial}"
        pipeline = Gst.parse_launch(self.describe(run, channel, work, kept))
        state = {"run": run, "pipeline": pipeline, "work": work,
                 "kept": kept, "measured": 0, "frame": 0}
        if kept:
            # Only the kept iterations reach pngenc: frames come in order,
            # so counting them gives the iteration.
            keep_set = set(kept)

            def probe(pad, info, st=state):
                k = st["frame"]
                st["frame"] += 1
                return (Gst.PadProbeReturn.OK if k in keep_set
                        else Gst.PadProbeReturn.DROP)
            pipeline.get_by_name("keep").get_static_pad("sink").add_probe(
                Gst.PadProbeType.BUFFER, probe)
        bus = pipeline.get_bus()
        bus.add_watch(self.GLib.PRIORITY_DEFAULT, self.on_message, state)
        self.active[run["id"]] = state
        if pipeline.set_state(Gst.State.PLAYING) == \
                Gst.StateChangeReturn.FAILURE:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            self.on_error(state, msg)

    def stop(self, state):
        state["pipeline"].get_bus().remove_watch()
        state["pipeline"].set_state(self.Gst.State.NULL)
        self.active.pop(state["run"]["id"], None)

    def on_message(self, bus, msg, state):
        Gst = self.Gst
        if state["run"]["id"] not in self.active:
            return False
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s is not None and s.get_name() == "lpipsmeter":
                state["measured"] += 1
                if s.get_value("iteration") > 0:
                    self.iterations_done += 1
                    self.iterations_left -= 1
        elif msg.type == Gst.MessageType.EOS:
            self.stop(state)
            try:
                self.commit(state)
            except (RuntimeError, OSError) as e:  # e.g. a full disk
                self.fatal = f"{state['run']['id']}: {e}"
            self.next()
            self.report_line(None)
        elif msg.type == Gst.MessageType.ERROR:
            self.on_error(state, msg)
        return True

    def on_error(self, state, msg):
        run = state["run"]
        reason = (rip_common.bus_error_text(msg) if msg is not None
                  else "the pipeline did not start")
        self.stop(state)
        shutil.rmtree(state["work"], ignore_errors=True)
        self.iterations_left -= run["iterations"]
        # An error of feedbacksrc before the first frame is about the seed
        # image (missing, unreadable, corrupt): that run fails, the study
        # goes on. Anything else (inpainter, weights, a loop timing out)
        # would fail every run: stop, record nothing, so a fixed re-run
        # does them.
        if msg is not None and msg.src.get_name() == "feedbacksrc" and \
                state["measured"] == 0:
            store.record_failure(self.out, run, reason)
            self.failed += 1
            self.report_line(f"FAILED {run['id']}: {reason}")
            self.next()
        else:
            self.fatal = f"{run['id']}: {reason}"
            self.quit()

    def commit(self, state):
        """Turn a finished loop's files into a done run, atomically."""
        store.commit_run(self.out, state["run"], state["work"],
                         self.study["metrics"], state["kept"])
        self.done += 1

    # -- the loop ---------------------------------------------------------

    def next(self):
        if self.fatal or self.interrupted:
            self.quit()
            return
        while self.pending and len(self.active) < self.jobs:
            run = self.pending.pop(0)
            try:
                self.start_run(run)
            except (self.GLib.Error, OSError) as e:
                # e.g. a property value the element refuses at parse time:
                # it would refuse it in every run.
                self.fatal = f"{run['id']}: {e}"
            if self.fatal:
                self.quit()
                return
        if not self.active:
            self.quit()

    def quit(self):
        for state in list(self.active.values()):
            self.stop(state)
            shutil.rmtree(state["work"], ignore_errors=True)
        self.loop.quit()

    def status(self):
        elapsed = time.monotonic() - self.start
        rate = self.iterations_done / elapsed if elapsed > 0 else 0.0
        eta = self.iterations_left / rate if rate > 0 else float("nan")
        return (f"runs {self.done + self.failed}/{self.total} done "
                f"({self.failed} failed, {len(self.active)} running)  "
                f"{rate:5.1f} it/s  ETA {fmt_seconds(eta)}")

    def report_line(self, extra):
        """Progress on stderr: one rewritten line on a terminal, a line per
        finished run in a log (Slurm's output file)."""
        if self.quiet:
            return
        if extra:
            print(("\n" if self.tty else "") + extra, file=sys.stderr)
        if self.tty:
            print("\r" + self.status() + " ", end="", file=sys.stderr,
                  flush=True)
        elif extra is None:
            print(self.status(), file=sys.stderr, flush=True)

    def tick(self):
        if self.tty:
            self.report_line(False)
        return True

    def on_signal(self):
        self.interrupted = True
        self.quit()
        return False

    def hold_model(self):
        """Keep one inpainter element in PAUSED for the whole study.

        sdinpaint shares its weights between the elements alive in the
        process, and frees them with the last one: without a holder every
        run, one after the other, would load the model again. A failure
        here is left to the runs, whose pipelines report it with context.
        """
        if self.study["element"] != "sdinpaint" or not self.pending:
            return None
        try:
            holder = self.Gst.parse_launch(self.pending[0]["inpainter"])
        except self.GLib.Error:
            return None
        holder.set_state(self.Gst.State.PAUSED)
        return holder

    def run(self):
        GLib = self.GLib
        holder = self.hold_model()
        for sig in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, self.on_signal)
        GLib.timeout_add(500, self.tick)
        GLib.idle_add(lambda: self.next() and False)
        self.loop.run()
        if holder is not None:
            self.batches = holder.get_property("batches")
            holder.set_state(self.Gst.State.NULL)
        if self.tty and not self.quiet:
            print(file=sys.stderr)
