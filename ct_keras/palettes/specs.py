"""One parser for every way a user says which task goes where (paper §6.2–6.3).

    s:<task>, <task>        one task over the whole image (a name or an id 0–4)
    r1r[:seed], rrnd[:seed] the training rules (seed 0 by default)
    r2, r3                  the task of each pixel follows its semseg class: needs `label`
    quadrants[:T1,T2,T3,T4] four quadrants (default semseg, parts / saliency, normals)
    halves[:T1,T2]          left | right (default semseg | normals)
    FILE.png, FILE.npy      a palette file (`ct_keras.palettes.files`)
    FILE.json               an edit file with a "base" (`ct_keras.palettes.edits`)
    predicted               from a palette network (`palette_model`)

Palettes are made at the image's own size; a file or label of another size is resized
(nearest) with a warning. The rules reuse `ct_keras.data.palettes`.
"""

import numpy as np

from ct_keras.palettes.edits import read_edits
from ct_keras.palettes.files import (
    ARRAY_SUFFIXES, IMAGE_SUFFIXES, LEGEND_TEXT, read_label, read_palette_file,
)
from ct_keras.palettes.resize import fit_to_image
from ct_keras.tasks import TASK_IDS, check_task_ids, task_id

SPEC_HELP = (
    "s:<task> or <task> (semseg, parts, edges, saliency, normals or 0-4: the whole image); "
    "r1r[:seed]; rrnd[:seed]; r2 / r3 (with a semseg label); quadrants[:T1,T2,T3,T4]; "
    "halves[:T1,T2]; a palette file (.png of task ids or painted in the legend colours "
    f"[{LEGEND_TEXT}], .npy of ids); an edit file (.json); or 'predicted' (a palette network)"
)
PREDICTED_NEEDS_MODEL = ("The palette 'predicted' comes from a palette network: it needs "
                         "--palette_model (a network that predicts the Task Palette), or an export "
                         "that holds one (tools/export.py --palette_model)")
SEEDED_RULES = ("r1r", "rrnd")
SEMANTIC_RULES = ("r2", "r3")


def _tasks_list(text, count, default):
    if not text:
        return list(default)
    tasks = [task_id(t) for t in text.split(",")]
    if len(tasks) != count:
        raise ValueError(f"Expected {count} tasks separated by commas. Received {text!r}")
    return tasks


def _quadrants(tasks, image_hw):
    height, width = image_hw
    palette = np.empty((height, width), np.int32)
    h, w = height // 2, width // 2
    palette[:h, :w], palette[:h, w:], palette[h:, :w], palette[h:, w:] = tasks
    return palette


def _halves(tasks, image_hw):
    height, width = image_hw
    palette = np.full((height, width), tasks[0], np.int32)
    palette[:, width // 2:] = tasks[1]
    return palette


def _seed(text, spec):
    if not text:
        return 0
    if not text.lstrip("-").isdigit():
        raise ValueError(f"The seed of palette {spec!r} must be an integer. Received {text!r}")
    return int(text)


class PaletteSpec:
    """A parsed palette spec: what can be checked without the image (files read, edit
    files parsed) is checked on construction; `palette(...)` makes one image's palette.

    Args:
        spec: see the module docstring.
        edits: an `Edits` (or the path of an edit file) painted over the palette of `spec`.

    Example:
    >>> PaletteSpec("r1r:3").palette((300, 451)).shape
    (300, 451)
    """

    def __init__(self, spec, edits=None, _seen=()):
        self.spec = str(spec).strip()
        self.base = None  # an edit file's base spec
        if isinstance(edits, str):
            edits = read_edits(edits)
        self.edits = edits
        text = self.spec
        lower = text.lower()
        if lower.endswith(".json"):
            if text in _seen:
                raise ValueError(f"Edit file {text} names itself as its base (via {list(_seen)})")
            file_edits = read_edits(text)
            if not file_edits.base:
                raise ValueError(f"Edit file {text} has no 'base' palette: add one, or give the "
                                 "base as --palette=<base> --edits=FILE.json")
            self.kind, self.base = "edits", PaletteSpec(file_edits.base, _seen=_seen + (text,))
            self.file_edits = file_edits
            return
        if lower.endswith(ARRAY_SUFFIXES + IMAGE_SUFFIXES):
            self.kind, self.file = "file", read_palette_file(text)
            return
        kind, _, arg = text.partition(":")
        kind = kind.lower()
        self.kind, self.arg = kind, arg
        if kind == "s":
            if not arg:
                raise ValueError(f"Palette {text!r}: rule s needs a task, e.g. s:semseg")
            self.kind, self.task = "task", task_id(arg)
        elif text in TASK_IDS or text.lstrip("-").isdigit():
            self.kind, self.task = "task", task_id(text)
        elif kind in SEEDED_RULES:
            self.seed = _seed(arg, text)
        elif kind in SEMANTIC_RULES + ("predicted",):
            if arg:
                raise ValueError(f"Palette {text!r}: {kind} takes no argument "
                                 f"({'give the label with --label' if kind != 'predicted' else ''})")
        elif kind == "quadrants":
            self.tasks = _tasks_list(arg, 4, (TASK_IDS["semseg"], TASK_IDS["parts"],
                                              TASK_IDS["saliency"], TASK_IDS["normals"]))
        elif kind == "halves":
            self.tasks = _tasks_list(arg, 2, (TASK_IDS["semseg"], TASK_IDS["normals"]))
        else:
            raise ValueError(f"Cannot read the palette {text!r}: use {SPEC_HELP}")

    def _root(self):
        return self.base._root() if self.kind == "edits" else self

    @property
    def needs_label(self):
        """True for r2 / r3 (also as the base of an edit file): a semseg label per image."""
        return self._root().kind in SEMANTIC_RULES

    @property
    def needs_palette_model(self):
        """True for `predicted` (also as the base of an edit file)."""
        return self._root().kind == "predicted"

    def palette(self, image_hw, label=None, image=None, palette_model=None, edited=True):
        """The `[H, W]` int32 palette of one image of size `image_hw`.

        Args:
            image_hw: the image's own (H, W).
            label: a semseg label (array or file) for r2 / r3.
            image: the RGB image, for `predicted`.
            palette_model: a callable `image [H, W, 3] uint8 → [H, W] task ids` for `predicted`.
            edited: paint `edits` (if any) over it; False gives the palette before editing.
        """
        image_hw = tuple(int(s) for s in image_hw)
        palette = self._palette(image_hw, label, image, palette_model)
        if edited and self.edits is not None:
            palette = self.edits.apply(palette)
        return palette

    def _palette(self, image_hw, label, image, palette_model):
        kind = self.kind
        if kind == "edits":
            return self.file_edits.apply(self.base.palette(image_hw, label, image, palette_model))
        if kind == "file":
            return fit_to_image(self.file, image_hw, f"Palette file {self.spec}")
        if kind == "task":
            return np.full(image_hw, self.task, np.int32)
        if kind == "quadrants":
            return _quadrants(self.tasks, image_hw)
        if kind == "halves":
            return _halves(self.tasks, image_hw)
        if kind in SEEDED_RULES:
            from ct_keras.data.palettes import task_palette

            return task_palette(kind, seed=[self.seed, 0], shape=image_hw).numpy().astype(np.int32)
        if kind in SEMANTIC_RULES:
            return self._semantic(image_hw, label)
        if palette_model is None:  # predicted
            raise ValueError(PREDICTED_NEEDS_MODEL)
        if image is None:
            raise ValueError("The palette 'predicted' needs the image")
        return fit_to_image(check_task_ids(palette_model(image), "predicted palette"),
                            image_hw, "The predicted palette")

    def _semantic(self, image_hw, label):
        from ct_keras.data.palettes import class_to_task

        if label is None:
            raise ValueError(f"Palette {self.kind!r} follows the semseg classes of the image: "
                             "it needs a semseg label (--label=FILE, or a folder of <stem>.png)")
        name = "The semseg label"
        if isinstance(label, str):
            name, label = f"Label file {label}", read_label(label)
        label = fit_to_image(np.asarray(label), image_hw, name)
        return np.asarray(class_to_task(self.kind), np.int32)[np.clip(label, 0, 255)]


def palette_from_spec(spec, image_hw, edits=None, **kwargs):
    """`PaletteSpec(spec, edits).palette(image_hw, **kwargs)`: one palette from a spec."""
    return PaletteSpec(spec, edits).palette(image_hw, **kwargs)
