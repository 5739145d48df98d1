"""The studio's state on the server: pictures, starting palettes and one model (paper §6.3).

A person's work is an image, a starting palette (`base`: a rule, `predicted`, or an
uploaded palette file) and the shapes painted over it in order — exactly an edit file
(`ct_keras.palettes.edits`), so the palette the model sees is always
`Edits(shapes).apply(base)`, rasterised here, never by the page.

Pictures and bases are kept in memory (the newest `max_items` of each); the model runs one
request at a time behind a lock, while decoding and palettes run concurrently.
"""

import json
import threading
import time
import uuid
from collections import OrderedDict

import numpy as np

from ct_keras.deploy.user_inputs import resize_image
from ct_keras.inference.outputs import outputs_at_size
from ct_keras.palettes.edits import Edits
from ct_keras.palettes.files import ARRAY_SUFFIXES, IMAGE_SUFFIXES
from ct_keras.palettes.resize import resize_nearest
from ct_keras.palettes.specs import PaletteSpec
from ct_keras.studio.uploads import read_image_upload, read_palette_upload
from ct_keras.tasks import TASK_NAMES

RULES = ("s:semseg", "s:parts", "s:edges", "s:saliency", "s:normals", "quadrants", "halves",
         "r1r", "rrnd", "r2", "r3")
SAMPLE_SIZE = 256


class Picture:
    """An image in the studio: RGB `[H, W, 3]` uint8, its name and (samples) a semseg label."""

    def __init__(self, image, name, label=None):
        self.image, self.name, self.label = image, name, label
        self.small = None  # the image at the model's size, made once


class Base:
    """A starting palette of one picture: `spec` (what an edit file names as its base)."""

    def __init__(self, image_id, spec, palette):
        self.image_id, self.spec, self.palette = image_id, spec, palette
        self.outputs = None  # its prediction, made when a figure needs it
        self.note = None  # what the page should say about it (a resized file)
        self.cache = ([], palette)  # (shapes as JSON, their palette): strokes add to the end


class _Store(OrderedDict):
    def __init__(self, what, max_items):
        super().__init__()
        self.what, self.max_items = what, max_items

    def add(self, item):
        key = uuid.uuid4().hex[:16]
        self[key] = item
        while len(self) > self.max_items:
            self.popitem(last=False)
        return key

    def get_item(self, key):
        if not isinstance(key, str) or key not in self:
            raise FileNotFoundError(f"Unknown {self.what} {key!r}: it may have been dropped "
                                    f"(the studio keeps the last {self.max_items}); start again from "
                                    "the image")
        self.move_to_end(key)
        return self[key]


def _check_rule(spec):
    text = str(spec).strip()
    if text.lower().endswith((".json",) + ARRAY_SUFFIXES + IMAGE_SUFFIXES):
        raise ValueError(f"Palette {text!r} names a file: upload the palette or edit file instead")
    return PaletteSpec(text)


class Studio:
    """One model and the pictures being worked on.

    Args:
        predictor: from `ct_keras.inference.load_predictor` (`image_hw`, `anchors`, `raw`).
        palette_model: a `PalettePredictor` for the starting palette `predicted`, or None.
        max_items: pictures (and starting palettes) kept in memory.
    """

    def __init__(self, predictor, palette_model=None, max_items=32):
        self.predictor, self.palette_model = predictor, palette_model
        self._model_lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._pictures = _Store("image", max_items)
        self._bases = _Store("starting palette", max_items)

    @property
    def rules(self):
        return RULES + (("predicted",) if self.palette_model is not None else ())

    def _add(self, store, item):
        with self._store_lock:
            return store.add(item)

    def picture(self, image_id):
        with self._store_lock:
            return self._pictures.get_item(image_id)

    def base(self, base_id, image_id=None):
        with self._store_lock:
            base = self._bases.get_item(base_id)
        if image_id is not None and base.image_id != image_id:
            raise ValueError(f"Starting palette {base_id} belongs to another image")
        return base

    def add_picture(self, image, name, label=None):
        """Keeps an RGB image; returns its id."""
        return self._add(self._pictures, Picture(np.asarray(image, np.uint8), name, label))

    def add_upload(self, data, name):
        """Decodes an uploaded picture (capped; see `uploads`) and keeps it; returns its id."""
        return self.add_picture(read_image_upload(data, name), name)

    def add_sample(self, seed=0, variant="easy", size=SAMPLE_SIZE):
        """A synthetic scene (`ct_keras.data.synthetic`) with its semseg label, for r2 / r3."""
        from ct_keras.data.synthetic import render_scene

        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
            raise ValueError(f"The sample seed must be an integer in [0, 2^31). Received {seed!r}")
        scene = render_scene(np.random.default_rng(seed), size, size, variant)
        return self.add_picture(scene["image"], f"sample-{seed}.png", scene["semseg"])

    def add_base_rule(self, image_id, spec):
        """The palette of a rule (or `predicted`) for a picture; returns the base id."""
        picture = self.picture(image_id)
        parsed = _check_rule(spec)
        if parsed.needs_label and picture.label is None:
            raise ValueError(f"Palette {parsed.spec!r} follows the semseg classes of the image: only "
                             "the synthetic samples come with a label here (tools/predict.py --label "
                             "takes your own)")
        if parsed.needs_palette_model and self.palette_model is None:
            raise ValueError("The palette 'predicted' needs a palette network: start the studio "
                             "with --palette_model=RUN")
        with self._model_lock:  # `predicted` runs a network
            palette = parsed.palette(picture.image.shape[:2], label=picture.label, image=picture.image,
                                     palette_model=self.palette_model)
        return self._add(self._bases, Base(image_id, parsed.spec, palette))

    def add_base_upload(self, image_id, data, name):
        """An uploaded palette file (resized, nearest, to the picture) as a base; its id."""
        picture = self.picture(image_id)
        palette = read_palette_upload(data, name)
        hw = picture.image.shape[:2]
        note = None
        if palette.shape != hw:
            note = (f"Palette file {name} is {palette.shape[1]} × {palette.shape[0]}, the image "
                    f"{hw[1]} × {hw[0]}: resized (nearest)")
        base = Base(image_id, name, resize_nearest(palette, hw))
        base.note = note
        return self._add(self._bases, base)

    def palette(self, image_id, base_id, shapes):
        """`[H, W]` task ids: the shapes (edit-file shapes, in order) over the base."""
        base = self.base(base_id, image_id)
        if not isinstance(shapes, list):
            raise ValueError(f"'shapes' must be a list of edit-file shapes. Received {type(shapes).__name__}")
        keys = [json.dumps(s, sort_keys=True) for s in shapes]
        done, palette = base.cache
        if keys[:len(done)] != done:  # undone or changed: from the base again
            done, palette = [], base.palette
        palette = Edits(shapes[len(done):], source="the painted shapes").apply(palette) \
            if len(keys) > len(done) else palette
        base.cache = (keys, palette)
        return palette

    def edit_file(self, image_id, base_id, shapes):
        """The edit file of the work so far (tools/predict.py --edits): `{"base", "shapes"}`."""
        base = self.base(base_id, image_id)
        Edits(shapes, source="the painted shapes")  # checked
        return {"base": base.spec, "shapes": shapes}

    def predict(self, image_id, palette):
        """`(outputs, seconds)`: the outputs at the picture's size for a palette of it."""
        picture = self.picture(image_id)
        hw = self.predictor.image_hw
        if picture.small is None:
            picture.small = resize_image(picture.image, hw).astype(np.float32)
        small = resize_nearest(palette, hw).astype(np.int32)
        with self._model_lock:
            start = time.perf_counter()
            raw = self.predictor.raw(picture.small[None], small[None])[0]
            seconds = time.perf_counter() - start
        return outputs_at_size(raw, palette, self.predictor.anchors), seconds

    def base_outputs(self, base):
        if base.outputs is None:
            base.outputs = self.predict(base.image_id, base.palette)[0]
        return base.outputs

    def info(self):
        """What the page needs to know about the model and the studio."""
        from ct_keras.studio.uploads import LIMITS_TEXT, MAX_BYTES, MAX_SIDE
        from ct_keras.tasks import TASK_COLOURS

        return {
            "model": str(getattr(self.predictor, "source", "")),
            "model_size": list(self.predictor.image_hw),
            "palette_model": str(getattr(self.palette_model, "source", "")) or None,
            "rules": list(self.rules),
            # Rules that follow a semseg label: a photo without one starts from another.
            "label_rules": [r for r in self.rules if _check_rule(r).needs_label],
            "tasks": [{"id": k, "name": name, "colour": [int(c) for c in TASK_COLOURS[k]]}
                      for k, name in enumerate(TASK_NAMES)],
            "limits": {"bytes": MAX_BYTES, "side": MAX_SIDE, "text": LIMITS_TEXT},
        }
