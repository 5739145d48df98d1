"""The reference's own packaging, `PASCAL_MT.zip` (nikola3794/composite-tasking).

Semseg and parts are RGB colour-coded PNGs; the colour of each class is a row of
`colourmaps/colourmap_seg21.txt` / `colourmap_parts7.txt`, in the reference's class
order. Colours are mapped to our ids by class *name*, never by row number.
"""

import os

import numpy as np

from ct_keras.data.errors import BadSampleError
from ct_keras.data.file_io import read_rgb_png, resize_nearest
from ct_keras.data.pascal_mt import PascalMTReader
from ct_keras.tasks import CLASS_NAMES, PARTS, SEMSEG, anchors_from_colourmap

COLOURMAP_DIR = "colourmaps"
COLOURMAP_FILES = {SEMSEG: "colourmap_seg21.txt", PARTS: "colourmap_parts7.txt"}


def _pack(rgb):
    rgb = np.asarray(rgb, np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


class ColourDecoder:
    """Exact colour → class id lookup for one task's colour map."""

    def __init__(self, colourmap_path, task):
        colours = anchors_from_colourmap(colourmap_path, task)
        names = CLASS_NAMES[task]
        codes = _pack([colours[name] for name in names])
        if len(set(codes.tolist())) != len(names):
            raise BadSampleError(colourmap_path, "Colour map gives two classes the same colour")
        order = np.argsort(codes)
        self.codes = codes[order]
        self.ids = np.arange(len(names), dtype=np.uint8)[order]

    def __call__(self, rgb, path):
        codes = _pack(rgb)
        position = np.clip(np.searchsorted(self.codes, codes), 0, len(self.codes) - 1)
        known = self.codes[position] == codes
        if not known.all():
            y, x = np.argwhere(~known)[0]
            raise BadSampleError(
                path,
                f"Label colour {tuple(int(v) for v in rgb[y, x])} at (row {y}, col {x}) is not in "
                f"the colour map ({int((~known).sum())} pixels have unknown colours)",
            )
        return self.ids[position]


class ZipLayoutReader(PascalMTReader):
    """Reads the reference's PASCAL_MT.zip layout.

    An image whose parts label is all background holds no person: its parts label is
    all 255, as in the ASTMT layout (the reference flags it out of the parts metric).
    """

    layout = "PASCAL_MT.zip"
    semseg_dir, parts_dir = "semantic_segmentation", "human_parts"
    normals_dir, saliency_dir = "normals_distilled", "saliency_distilled"
    required_dirs = (semseg_dir, parts_dir, normals_dir, saliency_dir, COLOURMAP_DIR)

    def __init__(self, data_dir, split, skip_bad_samples=False):
        super().__init__(data_dir, split, skip_bad_samples=skip_bad_samples)
        self.decoders = {
            task: ColourDecoder(os.path.join(self.data_dir, COLOURMAP_DIR, name), task)
            for task, name in COLOURMAP_FILES.items()
        }

    def _decode(self, task, path, height, width):
        return self.decoders[task](resize_nearest(read_rgb_png(path), height, width), path)

    def read_semseg(self, path, height, width):
        return self._decode(SEMSEG, path, height, width)

    def read_parts(self, path, height, width):
        parts = self._decode(PARTS, path, height, width)
        return np.full_like(parts, 255) if not parts.any() else parts
