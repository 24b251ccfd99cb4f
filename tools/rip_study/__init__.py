# SPDX-License-Identifier: LGPL-2.1-or-later
"""rip-study: run, resume, shard and report a whole RIP study (docs/study.md).

The modules (each uses only those listed before it):

  spec    reading and checking the spec, the images, the inpainter's
          properties (checked against the element itself); SpecError
  plan    the runs (image x mask size x seed), the kept iterations, shards
  store   the OUT folder: atomic writes, run states, results.csv and
          failures.csv, merging shards
  runner  the Runner: loops as GStreamer pipelines, several at a time in one
          process (the pipeline description comes from tools/rip_pipeline.py,
          shared with rip-run)
  report  the figures and the HTML page (`rip-study report`)
  cli     the command line (tools/rip-study calls cli.main)

The package sits next to tools/rip-study and imports rip_common and
rip_pipeline, which sit there too: the script puts its own folder first on
sys.path, in the source tree and where meson installs it.
"""
