"""ASTMT's `PASCAL_MT` packaging (also used by MTI-Net, ATRC, InvPT)."""

import os

import numpy as np

from ct_keras.data.file_io import read_gray_png, read_index_png, read_jpeg, read_rgb_png, resize_nearest
from ct_keras.data.pascal_context import normals_valid_ids, normals_validity, read_label_map
from ct_keras.data.pascal_mt import CONTEXT_DIR, IMAGES_DIR, PascalMTReader
from ct_keras.data.pascal_part import parts_from_mat
from ct_keras.data.thinning import semantic_edges

SEMSEG_DIRS = (os.path.join("semseg", "VOC12"), os.path.join("semseg", "pascal-context"))
PARTS_DIR = "human_parts"
NORMALS_DIR = "normals_distill"
SALIENCY_DIR = "sal_distill"


class AstmtReader(PascalMTReader):
    """Class-index semseg PNGs, PASCAL-Part `.mat` parts, distilled normals and saliency.

    Semseg comes from `semseg/VOC12/<id>.png`, or from `semseg/pascal-context/` for the
    images VOC12 does not cover, as in ASTMT.
    """

    layout = "ASTMT"
    required_dirs = ("semseg", PARTS_DIR, NORMALS_DIR, SALIENCY_DIR)

    def __init__(self, data_dir, split, skip_bad_samples=False):
        super().__init__(data_dir, split, skip_bad_samples=skip_bad_samples)
        self.normals_valid_ids = normals_valid_ids(self.data_dir)

    def _semseg_path(self, image_id):
        candidates = [os.path.join(self.data_dir, d, f"{image_id}.png") for d in SEMSEG_DIRS]
        return next((p for p in candidates if os.path.isfile(p)), candidates[0])

    def files(self, image_id):
        root = self.data_dir
        return {
            "image": os.path.join(root, IMAGES_DIR, f"{image_id}.jpg"),
            "semseg": self._semseg_path(image_id),
            "parts": os.path.join(root, PARTS_DIR, f"{image_id}.mat"),
            "context": os.path.join(root, CONTEXT_DIR, f"{image_id}.mat"),
            "normals": os.path.join(root, NORMALS_DIR, f"{image_id}.png"),
            "saliency": os.path.join(root, SALIENCY_DIR, f"{image_id}.png"),
        }

    def read(self, index):
        files = self.files(self.ids[index])
        image = read_jpeg(files["image"])
        h, w = image.shape[:2]
        label_map = resize_nearest(read_label_map(files["context"]), h, w)
        normals = resize_nearest(read_rgb_png(files["normals"]), h, w)
        saliency = resize_nearest(read_gray_png(files["saliency"]), h, w)
        return {
            "image": image,
            "semseg": resize_nearest(read_index_png(files["semseg"]), h, w),
            "parts": parts_from_mat(files["parts"], h, w),
            "edges": semantic_edges(label_map),
            # ASTMT: saliency = v / 255 > 0.5.
            "saliency": (saliency > 127).astype(np.uint8),
            "normals": normals,
            "normals_valid": normals_validity(label_map, self.normals_valid_ids),
        }
