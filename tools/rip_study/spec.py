# SPDX-License-Identifier: LGPL-2.1-or-later
"""The study spec: reading it, checking it and resolving it (docs/study.md).

Everything a spec can get wrong is refused here, before anything runs, with
a message naming the key, so that a typo costs a second and not a cluster
allocation. `[inpainter]` keys other than rip-study's own are the element's
properties by name (underscores for dashes) and are checked against the
element itself through GStreamer, so a new property of sdinpaint is usable
from a spec without touching this file.
"""

import glob
import json
import os

import rip_common
import rip_pipeline

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
METRICS = tuple(rip_common.METRIC_LABELS)
MASK_MODES = ("random", "sweep", "free")
FITS = ("pad", "crop", "stretch", "none")
INPAINTERS = ("cvinpaint", "sdinpaint")
# The elements every loop needs besides its inpainter.
LOOP_ELEMENTS = ("feedbacksrc", "masksampler", "lpipsmeter")


class SpecError(Exception):
    """A spec (or OUT folder) problem the user has to fix; printed as is."""


# Every key a spec may have: table -> {key: (accepted types, default)}. A
# default of None means "unset". [inpainter] is checked apart: besides the
# keys of INPAINTER_KEYS it holds the element's properties.
SCHEMA = {
    "": {"name": ((str,), ""), "mask_sizes": ((list,), [64, 128, 256]),
         "inpaint": ((int, float), 4.0), "seeds": ((list,), None),
         "repeats": ((int,), None),
         "metrics": ((list,), ["ssim", "ms-ssim", "psnr"]),
         "lpips_weights": ((str,), ""), "jobs": ((int,), 0),
         "images": ((dict,), None), "inpainter": ((dict,), {}),
         "mask": ((dict,), {}), "seed_spread": ((dict,), None),
         "keep": ((dict,), {}), "report": ((dict,), {})},
    "images": {"folder": ((str,), ""), "glob": ((str, list), None),
               "files": ((list,), None), "list": ((str,), None),
               "limit": ((int,), 0), "width": ((int,), 512),
               "height": ((int,), 512), "fit": ((str,), "pad")},
    "mask": {"mode": ((str,), "random")},
    "seed_spread": {"images": ((int, list), 10), "seeds": ((list,), None),
                    "repeats": ((int,), None)},
    "keep": {"every": ((int,), 0), "share_every": ((int, float), 0),
             "iterations": ((list,), []), "last": ((bool,), True)},
    "report": {"images": ((list,), []), "strip_every": ((int,), 0),
               "metrics": ((list,), [])},
}

# [inpainter] keys that are rip-study's own, not the element's properties.
INPAINTER_KEYS = {"element": ((str,), "cvinpaint"),
                  "timeout": ((int, float), None)}
# rip-study's defaults for cvinpaint's properties, written into every
# cvinpaint run's description.
CV_DEFAULTS = {"method": "telea", "radius": 3.0}
# Python types a spec value may have, by the property's fundamental GType.
PROPERTY_TYPES = {"gboolean": (bool,), "gchararray": (str,),
                  "GEnum": (str,), "GFlags": (str,),
                  "gfloat": (int, float), "gdouble": (int, float)} | {
    t: (int,) for t in ("gchar", "guchar", "gint", "guint", "glong",
                        "gulong", "gint64", "guint64")}


def check_type(where, key, value, types):
    # bool is an int in Python; only accept it where a bool is meant.
    if not isinstance(value, types) or (
            isinstance(value, bool) and bool not in types):
        names = " or ".join(t.__name__.replace("dict", "table")
                            for t in types)
        raise SpecError(f"{where} '{key}' must be a {names}, not {value!r}")


def check_table(table, where, data):
    """Fill defaults and reject unknown keys and wrong types in one table."""
    schema = SCHEMA[table]
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a table")
    out = {}
    for key, value in data.items():
        if key not in schema:
            raise SpecError(f"unknown key '{key}' in {where} (known: "
                            f"{', '.join(sorted(schema))})")
        check_type(where, key, value, schema[key][0])
        out[key] = value
    for key, (_, default) in schema.items():
        out.setdefault(key, default)
    return out


def int_list(value, what, minimum=0):
    if not value or not all(isinstance(v, int) and not isinstance(v, bool)
                            and v >= minimum for v in value):
        raise SpecError(f"{what} must be a non-empty list of integers "
                        f">= {minimum}, not {value!r}")
    return sorted(set(value))


def seed_list(table, where):
    """`seeds = [...]` or `repeats = N` (seeds 0..N-1); default seed 0."""
    if table.get("seeds") is not None and table.get("repeats") is not None:
        raise SpecError(f"{where}: give 'seeds' or 'repeats', not both")
    if table.get("repeats") is not None:
        if table["repeats"] < 1:
            raise SpecError(f"{where} 'repeats' must be at least 1")
        return list(range(table["repeats"]))
    if table.get("seeds") is not None:
        return int_list(table["seeds"], f"{where} 'seeds'")
    return [0]


# --------------------------------------------------------------------------
# Images


def image_id(path, base):
    """A run-id-safe name: the path below the folder, without extension."""
    rel = os.path.relpath(path, base) if base else os.path.basename(path)
    if rel.startswith(".."):
        rel = os.path.basename(path)
    stem = os.path.splitext(rel)[0]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)


def resolve_images(images, spec_dir):
    """The sorted (id, path) list from folder + glob / files / list."""
    folder = images["folder"]
    folder = os.path.normpath(os.path.join(spec_dir, folder)) if folder \
        else spec_dir
    given = [k for k in ("glob", "files", "list") if images[k] is not None]
    if len(given) > 1:
        raise SpecError(f"[images]: give one of glob, files, list, not "
                        f"{' and '.join(given)}")
    paths = []
    if images["files"] is not None or images["list"] is not None:
        if images["list"] is not None:
            listing = os.path.join(folder, images["list"])
            try:
                with open(listing) as f:
                    names = [line.split("\t")[0].strip() for line in f]
            except OSError as e:
                raise SpecError(f"[images] list: cannot read '{listing}': "
                                f"{e.strerror}") from None
            # A TSV manifest (e.g. paintings/MANIFEST.tsv) starts with a
            # header naming its first column 'file'.
            names = [n for n in names if n and not n.startswith("#")]
            if names and names[0] == "file":
                names = names[1:]
        else:
            names = images["files"]
            if not all(isinstance(n, str) for n in names):
                raise SpecError("[images] 'files' must be a list of paths")
        # Listed files are taken as they are: one that is missing or broken
        # becomes a failed run with its reason, the study goes on.
        paths = [os.path.join(folder, n) for n in names]
    else:
        if not os.path.isdir(folder):
            raise SpecError(f"[images] folder '{folder}' does not exist")
        patterns = images["glob"] or "*"
        patterns = [patterns] if isinstance(patterns, str) else patterns
        for pattern in patterns:
            for p in glob.glob(os.path.join(folder, pattern)):
                if os.path.isfile(p) and (
                        images["glob"] is not None or
                        p.lower().endswith(IMAGE_EXTENSIONS)):
                    paths.append(p)
        if not paths:
            raise SpecError(f"[images]: no image files match "
                            f"{patterns} in '{folder}'")
    found = sorted({image_id(p, folder): p for p in paths}.items())
    if len(found) != len(set(paths)):
        raise SpecError("[images]: two files give the same image name "
                        "(names are the paths without extension)")
    if images["limit"] and images["limit"] < 0:
        raise SpecError("[images] 'limit' must not be negative")
    if images["limit"]:
        found = found[:images["limit"]]
    return found


# --------------------------------------------------------------------------
# The inpainter


def gstreamer():
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import GObject, Gst
    Gst.init(None)
    return Gst, GObject


def require_elements(element):
    """Refuse a study whose elements GStreamer cannot find: its [inpainter]
    cannot be checked, and no loop could run."""
    Gst, _ = gstreamer()
    missing = rip_common.missing_elements(Gst, LOOP_ELEMENTS + (element,))
    if missing:
        extra = (" (sdinpaint is built only when libtorch is found)"
                 if "sdinpaint" in missing else "")
        raise SpecError(f"GStreamer cannot find {', '.join(missing)}{extra}. "
                        + rip_common.PLUGIN_HINT)


def element_properties(name):
    """The element's own writable properties as spec keys (dashes become
    underscores) -> GParamSpec, in the element's order; None if GStreamer
    cannot find it.

    Only the properties the element class itself installs: the inherited
    ones (GstObject's name, GstBaseTransform's qos) are the pipeline's.
    """
    Gst, GObject = gstreamer()
    factory = Gst.ElementFactory.find(name)
    factory = factory and factory.load()
    if factory is None:
        return None
    gtype = factory.get_element_type()
    return {p.name.replace("-", "_"): p
            for p in GObject.list_properties(gtype)
            if p.owner_type == gtype and p.flags & GObject.ParamFlags.WRITABLE}


def check_property(key, value, pspec):
    """A spec value against the property's type, range and choices."""
    fundamental = pspec.value_type.fundamental.name
    types = PROPERTY_TYPES.get(fundamental)
    if types is None:
        raise SpecError(f"[inpainter] '{key}' is a {pspec.value_type.name} "
                        "property, which a spec cannot set")
    check_type("[inpainter]", key, value, types)
    # Enums by nick only: what the element's documentation and gst-inspect
    # show, and safe to write unquoted.
    nicks = rip_common.enum_nicks(pspec)
    if nicks is not None and value not in nicks:
        raise SpecError(f"[inpainter] {key} '{value}' is not one of "
                        f"{', '.join(nicks)}")
    lo, hi = getattr(pspec, "minimum", None), getattr(pspec, "maximum", None)
    if lo is not None and not isinstance(value, (bool, str)) and \
            not lo <= value <= hi:
        raise SpecError(f"[inpainter] '{key}' must be between {lo} and {hi}, "
                        f"not {value!r}")


# [inpainter] keys that are paths (sdinpaint's model, config, tokenizer).
PATH_KEYS = ("model", "config", "tokenizer")


class Inpainter:
    """The [inpainter] table, checked against its element's properties."""

    def __init__(self, data, spec_dir):
        for key, (types, _) in INPAINTER_KEYS.items():
            if key in data:
                check_type("[inpainter]", key, data[key], types)
        self.element = data.get("element", INPAINTER_KEYS["element"][1])
        if self.element not in INPAINTERS:
            raise SpecError(f"[inpainter] element '{self.element}' is not "
                            f"{' or '.join(INPAINTERS)}")
        require_elements(self.element)
        self.props = element_properties(self.element)
        self.given = {k: v for k, v in data.items()
                      if k not in INPAINTER_KEYS}
        self.data = data
        # model, config and tokenizer are paths: relative to the spec, like
        # every path in it.
        for key in PATH_KEYS:
            if key in self.given:
                self.given[key] = os.path.normpath(
                    os.path.join(spec_dir, self.given[key]))
        self.elsewhere = {}  # key -> the other inpainter that has it
        for key, value in self.given.items():
            if key in self.props:
                check_property(key, value, self.props[key])
                continue
            for other in INPAINTERS:
                props = other != self.element and element_properties(other)
                if props and key in props:
                    self.elsewhere[key] = other
                    break
            else:
                raise SpecError(
                    f"unknown key '{key}' in [inpainter]: {self.element} "
                    f"has no property '{key.replace('_', '-')}' (known: "
                    f"{', '.join(INPAINTER_KEYS)} and {self.element}'s "
                    f"properties {', '.join(sorted(self.props))})")

    def check(self, width, height):
        """The checks of one element's settings (after the key checks)."""
        if self.element == "sdinpaint":
            if not self.data.get("model"):
                raise SpecError("[inpainter] sdinpaint needs 'model' (a "
                                "diffusers folder or a single-file "
                                "checkpoint; see docs/models.md)")
            if width % 8 or height % 8:
                raise SpecError("sdinpaint needs width and height that are "
                                "multiples of 8")
        if self.elsewhere:
            other = next(iter(self.elsewhere.values()))
            raise SpecError(f"[inpainter] {', '.join(self.elsewhere)} belong "
                            f"to {other}; set element = \"{other}\"")

    def timeout(self):
        if "timeout" in self.data:
            return self.data["timeout"]
        # A Stable Diffusion step on a CPU can take minutes at 512x512.
        return 300 if self.element == "cvinpaint" else 3600

    def record(self):
        """The table as study.json records it (the settings a resumed study
        must match): the keys given, then element, cvinpaint's method and
        radius and timeout. study.json has always held those two defaults,
        whatever the element; they stay so that earlier OUT folders resume.
        """
        record = dict(self.data)
        for key in PATH_KEYS:
            if key in record:
                record[key] = self.given[key]
        for key, value in (("element", self.element),
                           *CV_DEFAULTS.items(),
                           ("timeout", self.timeout())):
            record.setdefault(key, value)
        return record

    def description(self, run_seed):
        """The element as a gst_parse_launch fragment, for one run."""
        values = (CV_DEFAULTS if self.element == "cvinpaint" else {}) | \
            self.given
        if "seed" in self.props and "seed" not in values:
            values["seed"] = run_seed  # each study seed draws its own noise
        # cvinpaint's values have always been written bare
        # (`cvinpaint method=telea radius=3.0`), sdinpaint's quoted; the
        # descriptions in plans and study.json stay as they were.
        bare = self.element == "cvinpaint"
        pairs = []
        for key, pspec in self.props.items():
            if key not in values:
                continue
            value = values[key]
            kind = pspec.value_type.fundamental.name
            if bare and kind in ("gfloat", "gdouble"):
                value = float(value)
            elif bare and kind == "gchararray":
                value = rip_common.quote(value)  # any text, safely
            pairs.append((pspec.name, value))
        return rip_pipeline.element(self.element, pairs, quoted=not bare)


# --------------------------------------------------------------------------
# The spec


def read(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SpecError(f"cannot read the spec '{path}': {e.strerror}") \
            from None
    try:
        if path.endswith(".json"):
            return json.loads(raw)
        import tomllib
        return tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise SpecError(f"'{path}' is not valid "
                        f"{'JSON' if path.endswith('.json') else 'TOML'}: "
                        f"{e}") from None


def load_spec(path):
    """Read and check a spec: (the study without its runs, its Inpainter).

    plan.load_study adds the runs.
    """
    top = check_table("", "the spec", read(path))
    if top["images"] is None:
        raise SpecError("the spec has no [images] table")
    images = check_table("images", "[images]", top["images"])
    mask = check_table("mask", "[mask]", top["mask"])
    keep = check_table("keep", "[keep]", top["keep"])
    report = check_table("report", "[report]", top["report"])
    spec_dir = os.path.dirname(os.path.abspath(path))

    w, h = images["width"], images["height"]
    if w < 1 or h < 1:
        raise SpecError("[images] width and height must be positive (a study "
                        "compares runs, so every frame has one size)")
    if images["fit"] not in FITS:
        raise SpecError(f"[images] fit '{images['fit']}' is not one of "
                        f"{', '.join(FITS)}")
    if mask["mode"] not in MASK_MODES:
        raise SpecError(f"[mask] mode '{mask['mode']}' is not one of "
                        f"{', '.join(MASK_MODES)}")
    sizes = int_list(top["mask_sizes"], "'mask_sizes'", 1)
    for s in sizes:
        if s > min(w, h):
            raise SpecError(f"mask size {s} is larger than the {w}x{h} "
                            "frame")
        if mask["mode"] != "free" and (w % s or h % s):
            raise SpecError(f"mask size {s} does not divide the {w}x{h} "
                            f"frame into cells (mode '{mask['mode']}'): use "
                            "sizes that divide both sides, another width/"
                            "height, or [mask] mode = \"free\"")
    if top["inpaint"] <= 0:
        raise SpecError("'inpaint' (the share to inpaint, 4.0 = 400 %) must "
                        "be positive")
    metrics = top["metrics"]
    for m in metrics:
        if m not in METRICS:
            raise SpecError(f"unknown metric '{m}' (known: "
                            f"{', '.join(METRICS)})")
    if not metrics or len(set(metrics)) != len(metrics):
        raise SpecError("'metrics' must list at least one metric, each once")
    if "ms-ssim" in metrics and min(w, h) < 161:
        raise SpecError("ms-ssim needs frames of at least 161x161")

    inpainter = Inpainter(top["inpainter"], spec_dir)
    inpainter.check(w, h)

    if keep["every"] < 0 or keep["share_every"] < 0 or not all(
            isinstance(i, int) and i >= 0 for i in keep["iterations"]):
        raise SpecError("[keep] 'every', 'share_every' and 'iterations' "
                        "must be >= 0")

    image_list = resolve_images(images, spec_dir)
    seeds = seed_list(top, "the spec")
    spread_seeds, spread_images = [], []
    if top["seed_spread"] is not None:
        spread = check_table("seed_spread", "[seed_spread]",
                             top["seed_spread"])
        spread_seeds = seed_list(spread, "[seed_spread]")
        ids = [i for i, _ in image_list]
        if isinstance(spread["images"], int):
            spread_images = ids[:spread["images"]]
        else:
            spread_images = [str(i) for i in spread["images"]]
            unknown = [i for i in spread_images if i not in ids]
            if unknown:
                raise SpecError(f"[seed_spread] images {unknown} are not in "
                                "the study's images")
    ids = [i for i, _ in image_list]
    unknown = [i for i in report["images"] if i not in ids]
    if unknown:
        raise SpecError(f"[report] images {unknown} are not in the study's "
                        f"images ({', '.join(ids[:8])}...)")
    for m in report["metrics"]:
        if m not in metrics:
            raise SpecError(f"[report] metric '{m}' is not measured")

    study = {"spec_file": os.path.abspath(path), "name": top["name"] or
             os.path.splitext(os.path.basename(path))[0],
             "images": image_list, "width": w, "height": h,
             "fit": images["fit"], "mask_mode": mask["mode"],
             "mask_sizes": sizes, "inpaint": top["inpaint"], "seeds": seeds,
             "spread_seeds": spread_seeds, "spread_images": spread_images,
             "metrics": metrics, "lpips_weights": top["lpips_weights"] and
             os.path.normpath(os.path.join(spec_dir, top["lpips_weights"])),
             "jobs": top["jobs"], "element": inpainter.element,
             "inpainter": inpainter.record(),
             "timeout_ms": int(1000 * inpainter.timeout()),
             "keep": keep, "report": report}
    return study, inpainter
