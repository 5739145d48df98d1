"""The reference's own packaging, `PASCAL_MT.zip` (nikola3794/composite-tasking).

Semseg and parts are RGB colour-coded PNGs; the colour of each class is a row of
`colourmaps/colourmap_seg21.txt` / `colourmap_parts7.txt`, in the reference's class
order. Colours are mapped to our ids by class *name*, never by row number.
"""

import os

import numpy as np

from ct_keras.data.errors import BadSampleError
from ct_keras.data.file_io import read_gray_png, read_jpeg, read_rgb_png, resize_nearest
from ct_keras.data.pascal_context import normals_valid_ids, normals_validity, read_label_map
from ct_keras.data.pascal_mt import CONTEXT_DIR, IMAGES_DIR, PascalMTReader
from ct_keras.data.thinning import semantic_edges
from ct_keras.tasks import CLASS_NAMES, PARTS, SEMSEG, anchors_from_colourmap

SEMSEG_DIR = "semantic_segmentation"
PARTS_DIR = "human_parts"
NORMALS_DIR = "normals_distilled"
SALIENCY_DIR = "saliency_distilled"
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
    required_dirs = (SEMSEG_DIR, PARTS_DIR, NORMALS_DIR, SALIENCY_DIR, COLOURMAP_DIR)

    def __init__(self, data_dir, split, skip_bad_samples=False):
        super().__init__(data_dir, split, skip_bad_samples=skip_bad_samples)
        self.decoders = {
            task: ColourDecoder(os.path.join(self.data_dir, COLOURMAP_DIR, name), task)
            for task, name in COLOURMAP_FILES.items()
        }
        self.normals_valid_ids = normals_valid_ids(self.data_dir)

    def files(self, image_id):
        root = self.data_dir
        return {
            "image": os.path.join(root, IMAGES_DIR, f"{image_id}.jpg"),
            "semseg": os.path.join(root, SEMSEG_DIR, f"{image_id}.png"),
            "parts": os.path.join(root, PARTS_DIR, f"{image_id}.png"),
            "context": os.path.join(root, CONTEXT_DIR, f"{image_id}.mat"),
            "normals": os.path.join(root, NORMALS_DIR, f"{image_id}.png"),
            "saliency": os.path.join(root, SALIENCY_DIR, f"{image_id}.png"),
        }

    def read(self, index):
        files = self.files(self.ids[index])
        image = read_jpeg(files["image"])
        h, w = image.shape[:2]
        label_map = resize_nearest(read_label_map(files["context"]), h, w)
        semseg = self.decoders[SEMSEG](resize_nearest(read_rgb_png(files["semseg"]), h, w), files["semseg"])
        parts = self.decoders[PARTS](resize_nearest(read_rgb_png(files["parts"]), h, w), files["parts"])
        if not parts.any():
            parts = np.full_like(parts, 255)
        return {
            "image": image,
            "semseg": semseg,
            "parts": parts,
            "edges": semantic_edges(label_map),
            "saliency": (resize_nearest(read_gray_png(files["saliency"]), h, w) > 127).astype(np.uint8),
            "normals": resize_nearest(read_rgb_png(files["normals"]), h, w),
            "normals_valid": normals_validity(label_map, self.normals_valid_ids),
        }
