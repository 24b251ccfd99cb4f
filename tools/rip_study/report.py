# SPDX-License-Identifier: LGPL-2.1-or-later
"""The figures and HTML page of a rip-study output (`rip-study report`).

Reads OUT/results.csv (the tidy rows) and OUT/frames/, writes OUT/report/:

  drift-mean.png/.svg     mean ± standard deviation of each metric against
                          % inpainted, one line per mask size
  drift-scatter.png/.svg  every image's value at every iteration
  curves-IMAGE.png/.svg   one image's curves, one line per mask size
  seeds.png/.svg          the spread over seeds, per image with several
  strip-IMAGE.png/.svg    the seed, then every k-th kept iteration, one row
                          per mask size
  index.html              all of it in one self-contained page (figures
                          embedded as PNG data URIs)

matplotlib only (Debian's python3-matplotlib), no network at view time.
"""

import base64
import csv
import html
import math
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import rip_common  # noqa: E402

# Strips wider than this many tiles get thinned so they stay readable.
MAX_STRIP_TILES = 12


def read_rows(out, metrics):
    """results.csv as {(image, mask, seed): {"x": %, metric: array}}."""
    runs = {}
    with open(os.path.join(out, "results.csv"), newline="") as f:
        for r in csv.DictReader(f):
            key = (r["image"], int(r["mask_size"]), int(r["seed"]))
            run = runs.setdefault(key, {"it": [], "x": [],
                                        **{m: [] for m in metrics}})
            run["it"].append(int(r["iteration"]))
            run["x"].append(100 * float(r["inpainted_fraction"]))
            for m in metrics:
                v = float(r[m])
                # PSNR of the seed against itself is +inf: leave it out of
                # means and plots rather than breaking the axes.
                run[m].append(v if math.isfinite(v) else np.nan)
    return {k: {c: np.array(v) for c, v in run.items()}
            for k, run in runs.items()}


def nan_mean_sd(ys):
    """Mean and population sd over runs (axis 0), ignoring NaN; a column
    that is all NaN (PSNR of the seeds) stays NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(ys, axis=0), np.nanstd(ys, axis=0)


def save(fig, folder, name):
    fig.tight_layout()
    png = os.path.join(folder, name + ".png")
    fig.savefig(png, dpi=100)
    fig.savefig(os.path.join(folder, name + ".svg"))
    plt.close(fig)
    return png


def metric_axes(metrics, rows=1, height=3.4):
    fig, axes = plt.subplots(rows, len(metrics),
                             figsize=(4.2 * len(metrics), height * rows),
                             squeeze=False)
    for row in axes:
        for ax, m in zip(row, metrics):
            ax.set_xlabel("inpainted so far (%)")
            ax.set_ylabel(rip_common.METRIC_LABELS.get(m, m))
            ax.grid(True, alpha=0.3)
    return fig, axes


def main_groups(runs, study):
    """(mask size, runs of the top-level seeds) for each size with runs:
    the images compared on an equal footing (the seed-spread extras would
    weigh their images more)."""
    main_seeds = set(study["seeds"])
    for size in study["mask_sizes"]:
        group = [r for (i, s, seed), r in runs.items()
                 if s == size and seed in main_seeds]
        if group:
            yield size, group


def band(ax, group, m, label, linewidth):
    """The mean of metric m over the runs of a group ± the sd, as a line
    with a shaded band; runs are cut to the shortest."""
    n = min(len(r["x"]) for r in group)
    x = group[0]["x"][:n]
    mean, sd = nan_mean_sd(np.stack([r[m][:n] for r in group]))
    line, = ax.plot(x, mean, linewidth=linewidth, label=label)
    ax.fill_between(x, mean - sd, mean + sd, alpha=0.2,
                    color=line.get_color(), linewidth=0)


def fig_mean(runs, study, metrics, folder):
    """Mean ± sd over images per mask size: the study's main figure."""
    fig, axes = metric_axes(metrics)
    for size, group in main_groups(runs, study):
        for ax, m in zip(axes[0], metrics):
            band(ax, group, m, f"{size} px (n={len(group)})", 1.4)
    axes[0][-1].legend(fontsize="small", title="mask size")
    fig.suptitle("mean ± standard deviation over images")
    return save(fig, folder, "drift-mean")


def fig_scatter(runs, study, metrics, folder):
    fig, axes = metric_axes(metrics)
    for size, group in main_groups(runs, study):
        for ax, m in zip(axes[0], metrics):
            x = np.concatenate([r["x"] for r in group])
            y = np.concatenate([r[m] for r in group])
            # Rasterised points keep the SVG small with 100 images.
            ax.scatter(x, y, s=4, alpha=0.35, label=f"{size} px",
                       rasterized=True)
    axes[0][-1].legend(fontsize="small", title="mask size", markerscale=3)
    fig.suptitle("every image at every iteration")
    return save(fig, folder, "drift-scatter")


def first_seed_run(runs, image, size):
    seeds = sorted(seed for (i, s, seed) in runs if i == image and s == size)
    return (seeds[0], runs[(image, size, seeds[0])]) if seeds else (None, None)


def fig_image(runs, study, metrics, image, folder):
    fig, axes = metric_axes(metrics)
    for size in study["mask_sizes"]:
        seed, run = first_seed_run(runs, image, size)
        if run is None:
            continue
        for ax, m in zip(axes[0], metrics):
            ax.plot(run["x"], run[m], marker=".", markersize=3,
                    linewidth=1.2, label=f"{size} px, seed {seed}")
    axes[0][-1].legend(fontsize="small")
    fig.suptitle(image)
    return save(fig, folder, "curves-" + image)


def fig_seeds(runs, study, metrics, folder):
    """Per image with several seeds: mean over seeds ± sd, per mask size."""
    sizes = study["mask_sizes"]
    multi = sorted({i for (i, s, seed) in runs
                    if sum(1 for k in runs if k[0] == i and k[1] == s) > 1})
    if not multi:
        return None
    fig, axes = metric_axes(metrics, rows=len(sizes), height=3.0)
    for row, size in zip(axes, sizes):
        for image in multi:
            group = [r for (i, s, seed), r in runs.items()
                     if i == image and s == size]
            if len(group) < 2:
                continue
            for ax, m in zip(row, metrics):
                band(ax, group, m, f"{image} ({len(group)} seeds)", 1.2)
        row[0].set_title(f"{size} px masks", fontsize="medium", loc="left")
        row[-1].legend(fontsize="x-small")
    fig.suptitle("spread over seeds (mean ± standard deviation)")
    return save(fig, folder, "seeds")


def strip_iterations(available, every):
    """The seed, then every k-th iteration among the kept ones, and the
    last; thinned to MAX_STRIP_TILES."""
    chosen = [k for k in available if k % every == 0]
    if available and chosen[-1:] != [available[-1]]:
        chosen.append(available[-1])
    if len(chosen) > MAX_STRIP_TILES:
        step = math.ceil(len(chosen) / MAX_STRIP_TILES)
        chosen = chosen[::step] + ([chosen[-1]] if chosen[-1] not in
                                   chosen[::step] else [])
    return chosen


def strip_words(every):
    return ("every kept iteration" if every == 1 else
            f"every kept iteration divisible by {every}")


def fig_strip(out, runs, study, metrics, image, every, folder):
    rows = []
    for size in study["mask_sizes"]:
        seed, run = first_seed_run(runs, image, size)
        if run is None:
            continue
        fdir = os.path.join(out, "frames", f"{image}__m{size}__s{seed}")
        if not os.path.isdir(fdir):
            continue
        kept = sorted(int(n[5:10]) for n in os.listdir(fdir)
                      if n.startswith("iter_") and n.endswith(".png"))
        if kept:
            rows.append((size, seed, run, fdir,
                         strip_iterations(kept, every)))
    if not rows:
        return None
    cols = max(len(r[4]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols,
                             figsize=(1.9 * cols, 2.2 * len(rows)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    m = metrics[0]
    for axrow, (size, seed, run, fdir, its) in zip(axes, rows):
        for ax, k in zip(axrow, its):
            ax.imshow(mpimg.imread(os.path.join(fdir, f"iter_{k:05d}.png")))
            idx = list(run["it"]).index(k)
            cap = "seed" if k == 0 else f"iteration {k}"
            cap += f"\n{run['x'][idx]:.0f}%"
            if k:
                cap += f", {m} {run[m][idx]:.3f}"
            ax.set_title(cap, fontsize=7)
        axrow[0].text(-0.08, 0.5, f"{size} px", transform=axrow[0].transAxes,
                      rotation=90, va="center", ha="right", fontsize=9)
    fig.suptitle(f"{image}: the seed, then {strip_words(every)} "
                 f"(at most {MAX_STRIP_TILES} per row)")
    return save(fig, folder, "strip-" + image)


def data_uri(png):
    with open(png, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #222; }}
figure {{ margin: 1.5em 0; }} figure img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
.failed {{ color: #a00; }}
</style></head>
<body data-figures="{count}">
<h1>{title}</h1>
{summary}
{sections}
<script>
// Marks the page once every figure has decoded, so a headless browser (the
// tests) can tell that the figures show.
window.addEventListener("load", function () {{
  var imgs = document.querySelectorAll("figure img"), ok = 0;
  imgs.forEach(function (i) {{ if (i.complete && i.naturalWidth > 0) ok++; }});
  document.body.setAttribute("data-figures-loaded", String(ok));
}});
</script>
</body></html>
"""


def write_report(out, study, args, prog):
    metrics = study["metrics"]
    if study["report"]["metrics"]:
        metrics = study["report"]["metrics"]
    runs = read_rows(out, metrics)
    folder = os.path.join(out, "report")
    os.makedirs(folder, exist_ok=True)
    if args.images:
        chosen = [i.strip() for i in args.images.split(",") if i.strip()]
    else:
        chosen = study["report"]["images"] or \
            sorted({i for (i, s, seed) in runs})[:3]
    # Strips show the kept frames; strip_every thins them further.
    every = args.every or study["report"]["strip_every"] or 1

    figures = []  # (section, caption, png)
    if runs:
        figures.append(("Drift", "Mean ± standard deviation of each metric "
                        "over the images (main seeds), against the share "
                        "inpainted, per mask size.",
                        fig_mean(runs, study, metrics, folder)))
        figures.append(("Drift", "Every image at every iteration, coloured "
                        "by mask size.",
                        fig_scatter(runs, study, metrics, folder)))
        png = fig_seeds(runs, study, metrics, folder)
        if png:
            figures.append(("Spread over seeds", "Images run with several "
                            "seeds: mean over seeds ± standard deviation.",
                            png))
        for image in chosen:
            if not any(k[0] == image for k in runs):
                continue
            figures.append((f"Image: {image}", "Each metric against the "
                            "share inpainted, one line per mask size.",
                            fig_image(runs, study, metrics, image, folder)))
            png = fig_strip(out, runs, study, metrics, image, every, folder)
            if png:
                figures.append((f"Image: {image}", f"The seed, then "
                                f"{strip_words(every)}, one row per mask "
                                "size, captioned with the share inpainted "
                                "and the first metric.", png))

    failures = []
    with open(os.path.join(out, "failures.csv"), newline="") as f:
        failures = list(csv.DictReader(f))
    esc = html.escape
    total = len(study["runs"])
    summary = [
        "<table>",
        f"<tr><th>runs</th><td>{len(runs)} done, {len(failures)} failed, "
        f"{total - len(runs) - len(failures)} not run, of {total}</td></tr>",
        f"<tr><th>images</th><td>{len(study['images'])}, "
        f"{study['width']}x{study['height']}, fit {esc(study['fit'])}</td></tr>",
        f"<tr><th>inpainter</th><td><code>"
        f"{esc(study['runs'][0]['inpainter']) if total else ''}</code></td></tr>",
        f"<tr><th>masks</th><td>{esc(study['mask_mode'])}, "
        f"{', '.join(map(str, study['mask_sizes']))} px, "
        f"{100 * study['inpaint']:.0f}% inpainted</td></tr>",
        f"<tr><th>seeds</th><td>{', '.join(map(str, study['seeds']))}"
        + (f"; {', '.join(map(esc, study['spread_images']))} also "
           f"{', '.join(map(str, study['spread_seeds']))}"
           if study["spread_seeds"] else "") + "</td></tr>",
        "<tr><th>rows</th><td><a href=\"../results.csv\">results.csv</a> "
        "(one per image × mask size × seed × iteration)</td></tr>",
        "</table>"]
    if failures:
        summary.append("<h2>Failed runs</h2><ul>")
        summary += [f"<li class=\"failed\"><b>{esc(r['run'])}</b> "
                    f"({esc(r['path'])}): {esc(r['reason'])}</li>"
                    for r in failures]
        summary.append("</ul>")
    if not runs:
        summary.append("<p>No finished runs yet.</p>")

    sections, current = [], None
    for section, caption, png in figures:
        if section != current:
            sections.append(f"<h2>{esc(section)}</h2>")
            current = section
        name = os.path.basename(png)
        svg = os.path.splitext(name)[0] + ".svg"
        sections.append(
            f"<figure><img src=\"{data_uri(png)}\" alt=\"{esc(name)}\">"
            f"<figcaption>{esc(caption)} "
            f"(<a href=\"{esc(name)}\">PNG</a>, <a href=\"{esc(svg)}\">SVG"
            f"</a>)</figcaption></figure>")
    page = PAGE.format(title=esc(f"RIP study: {study['name']}"),
                       count=len(figures), summary="\n".join(summary),
                       sections="\n".join(sections))
    path = os.path.join(folder, "index.html")
    with open(path, "w") as f:
        f.write(page)
    return path
