"""PASCAL-MT on disk: the reader interface both packagings share (`layout` picks one).

A reader turns one image id into a *sample*: numpy arrays at the image's own
resolution, in the compact form that `ct_keras.data.example` turns into training
targets (and that TFRecords store losslessly):

    image          uint8 [H, W, 3]  RGB
    semseg         uint8 [H, W]     VOC class ids, 255 void
    parts          uint8 [H, W]     0 background, 1..6 parts, 255 when there is no person
    edges          uint8 [H, W]     0 / 1
    saliency       uint8 [H, W]     0 / 1
    normals        uint8 [H, W, 3]  the distilled PNG values, n = 2·v/255 − 1
    normals_valid  uint8 [H, W]     0 / 1 (the PASCAL-Context class is one NYUD knows)
"""

import os

import numpy as np

from ct_keras.data.errors import BadSampleError, SkipCounter
from ct_keras.data.file_io import read_gray_png, read_jpeg, read_rgb_png, resize_nearest
from ct_keras.data.pascal_context import normals_valid_ids, normals_validity, read_label_map
from ct_keras.data.thinning import semantic_edges

SAMPLE_KEYS = ("image", "semseg", "parts", "edges", "saliency", "normals", "normals_valid")
SPLITS_DIR = os.path.join("ImageSets", "Context")
IMAGES_DIR = "JPEGImages"
CONTEXT_DIR = os.path.join("pascal-context", "trainval")


class PascalMTReader:
    """Reads one split of a PASCAL-MT folder; subclasses know the packaging.

    Construction checks the folders and that every image the split file names has
    all its files, so that a wrong path fails at once rather than hours into a run.
    Files that exist but cannot be decoded are found by `read`.

    Args:
        data_dir: the PASCAL-MT root folder.
        split: `"train"` or `"val"` (any `ImageSets/Context/<split>.txt`).
        skip_bad_samples: drop images with missing files here, and let `samples`
            drop unreadable ones, with a counted warning instead of an error.
    """

    layout = None
    # Folders (relative to data_dir) this packaging needs.
    required_dirs = ()
    # Where its labels are: folders relative to data_dir, and the parts files' type.
    semseg_dir = parts_dir = normals_dir = saliency_dir = None
    parts_extension = ".png"

    def __init__(self, data_dir, split, skip_bad_samples=False):
        self.data_dir = str(data_dir)
        self.split = split
        self.skip_bad_samples = skip_bad_samples
        self.skipped = SkipCounter(f"{split} sample")
        if not os.path.isdir(self.data_dir):
            raise BadSampleError(self.data_dir, "PASCAL-MT folder not found")
        for folder in (SPLITS_DIR, IMAGES_DIR, CONTEXT_DIR) + tuple(self.required_dirs):
            path = os.path.join(self.data_dir, folder)
            if not os.path.isdir(path):
                raise BadSampleError(path, f"Missing folder of the {self.layout} layout")
        self.ids = self._checked_ids(self._read_split_file())
        self.normals_valid_ids = normals_valid_ids(self.data_dir)

    def _read_split_file(self):
        path = os.path.join(self.data_dir, SPLITS_DIR, f"{self.split}.txt")
        if not os.path.isfile(path):
            available = sorted(
                f[:-4] for f in os.listdir(os.path.join(self.data_dir, SPLITS_DIR)) if f.endswith(".txt")
            )
            raise BadSampleError(path, f"Missing split file (splits found: {available})")
        with open(path) as f:
            ids = [line.strip() for line in f if line.strip()]
        if not ids:
            raise BadSampleError(path, "Split file lists no images")
        return ids

    def _checked_ids(self, ids):
        split_file = os.path.join(self.data_dir, SPLITS_DIR, f"{self.split}.txt")
        listings = {}
        kept = []
        for image_id in ids:
            missing = []
            for path in self.files(image_id).values():
                folder, name = os.path.split(path)
                if folder not in listings:
                    listings[folder] = set(os.listdir(folder)) if os.path.isdir(folder) else set()
                if name not in listings[folder]:
                    missing.append(path)
            if not missing:
                kept.append(image_id)
                continue
            error = BadSampleError(missing[0], f"{split_file} names image {image_id!r}, but a file is missing")
            if not self.skip_bad_samples:
                raise error
            self.skipped.skip(error)
        if not kept:
            raise BadSampleError(split_file, "No image of the split has all its files")
        return kept

    def __len__(self):
        return len(self.ids)

    def semseg_path(self, image_id):
        return os.path.join(self.data_dir, self.semseg_dir, f"{image_id}.png")

    def files(self, image_id):
        """`{role: path}` of every file that sample `image_id` is made from."""
        def path(folder, extension):
            return os.path.join(self.data_dir, folder, image_id + extension)

        return {
            "image": path(IMAGES_DIR, ".jpg"),
            "semseg": self.semseg_path(image_id),
            "parts": path(self.parts_dir, self.parts_extension),
            "context": path(CONTEXT_DIR, ".mat"),
            "normals": path(self.normals_dir, ".png"),
            "saliency": path(self.saliency_dir, ".png"),
        }

    def read_semseg(self, path, height, width):
        """uint8 VOC class ids at (height, width); the packaging's own format."""
        raise NotImplementedError

    def read_parts(self, path, height, width):
        """uint8 part ids at (height, width), all 255 without a person."""
        raise NotImplementedError

    def read(self, index):
        """The sample (see the module docstring) of `self.ids[index]`; `BadSampleError` if broken."""
        files = self.files(self.ids[index])
        image = read_jpeg(files["image"])
        h, w = image.shape[:2]
        label_map = resize_nearest(read_label_map(files["context"]), h, w)
        return {
            "image": image,
            "semseg": self.read_semseg(files["semseg"], h, w),
            "parts": self.read_parts(files["parts"], h, w),
            "edges": semantic_edges(label_map),
            # ASTMT: saliency = v / 255 > 0.5.
            "saliency": (resize_nearest(read_gray_png(files["saliency"]), h, w) > 127).astype(np.uint8),
            "normals": resize_nearest(read_rgb_png(files["normals"]), h, w),
            "normals_valid": normals_validity(label_map, self.normals_valid_ids),
        }

    def samples(self):
        """Yields `(index, sample)`, skipping broken samples if `skip_bad_samples`."""
        for index in range(len(self.ids)):
            try:
                yield index, self.read(index)
            except BadSampleError as e:
                if not self.skip_bad_samples:
                    raise
                self.skipped.skip(e)
