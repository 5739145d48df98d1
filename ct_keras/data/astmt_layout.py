"""ASTMT's `PASCAL_MT` packaging (also used by MTI-Net, ATRC, InvPT)."""

import os

from ct_keras.data.file_io import read_index_png, resize_nearest
from ct_keras.data.pascal_mt import PascalMTReader
from ct_keras.data.pascal_part import parts_from_mat

SEMSEG_DIRS = (os.path.join("semseg", "VOC12"), os.path.join("semseg", "pascal-context"))


class AstmtReader(PascalMTReader):
    """Class-index semseg PNGs, PASCAL-Part `.mat` parts, distilled normals and saliency.

    Semseg comes from `semseg/VOC12/<id>.png`, or from `semseg/pascal-context/` for the
    images VOC12 does not cover, as in ASTMT.
    """

    layout = "ASTMT"
    parts_dir, parts_extension = "human_parts", ".mat"
    normals_dir, saliency_dir = "normals_distill", "sal_distill"
    required_dirs = ("semseg", parts_dir, normals_dir, saliency_dir)

    def semseg_path(self, image_id):
        candidates = [os.path.join(self.data_dir, d, f"{image_id}.png") for d in SEMSEG_DIRS]
        return next((p for p in candidates if os.path.isfile(p)), candidates[0])

    def read_semseg(self, path, height, width):
        return resize_nearest(read_index_png(path), height, width)

    def read_parts(self, path, height, width):
        return parts_from_mat(path, height, width)
