"""Files a person drops on the page, read by the library's own readers.

The bytes are written to a private temporary folder under the upload's own file name and
read with `load_image`, `read_palette_file` or `read_edits`, so an upload is read exactly as
the same file given to tools/predict.py; error messages name the upload, not the folder.
Pictures are capped (`MAX_BYTES`, `MAX_SIDE`) before they are decoded.
"""

import os
import re
import tempfile

from ct_keras.deploy.user_inputs import load_image
from ct_keras.palettes.edits import read_edits
from ct_keras.palettes.files import ARRAY_SUFFIXES, IMAGE_SUFFIXES, read_palette_file

MAX_BYTES = 20 * 1024 * 1024
MAX_SIDE = 4096
LIMITS_TEXT = f"at most {MAX_BYTES // (1024 * 1024)} MB and {MAX_SIDE} × {MAX_SIDE} pixels"


class TooLarge(ValueError):
    """An upload over the size caps (the server answers 413)."""


def safe_name(name, default="upload"):
    """The base name of an uploaded file, reduced to characters safe in a path."""
    base = os.path.basename(str(name or "").replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or default
    return base[-100:]


def check_size(data, name):
    if len(data) > MAX_BYTES:
        raise TooLarge(f"{name} is {len(data) / 1e6:.1f} MB: pictures must be {LIMITS_TEXT}")
    if not data:
        raise ValueError(f"{name} is empty")


def _read(data, name, reader):
    name = safe_name(name)
    with tempfile.TemporaryDirectory(prefix="ct_studio_") as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        try:
            return reader(path, name)
        except (ValueError, FileNotFoundError) as e:
            raise type(e)(str(e).replace(path, name).replace(folder + os.sep, "")) from None


def _check_pixels(path, name):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ValueError(f"{name} is not an image (PIL cannot read it): use a JPEG, PNG, BMP, "
                         "TIFF or WebP picture") from None
    if max(width, height) > MAX_SIDE:
        raise TooLarge(f"{name} is {width} × {height} pixels: pictures must be {LIMITS_TEXT}")


def read_image_upload(data, name):
    """RGB uint8 `[H, W, 3]` of an uploaded picture (`load_image`: EXIF-upright, any mode)."""
    check_size(data, name)

    def reader(path, shown):
        _check_pixels(path, shown)
        return load_image(path)

    return _read(data, name, reader)


def read_palette_upload(data, name):
    """Task ids `[H, W]` of an uploaded palette file (`read_palette_file`: ids or legend colours)."""
    check_size(data, name)
    if not safe_name(name).lower().endswith(ARRAY_SUFFIXES + IMAGE_SUFFIXES):
        raise ValueError(f"{name} is not a palette file: use a .png of task ids or legend colours, "
                         "or a .npy of task ids")

    def reader(path, shown):
        if not path.lower().endswith(ARRAY_SUFFIXES):
            _check_pixels(path, shown)
        return read_palette_file(path)

    return _read(data, name, reader)


def read_edits_upload(data, name):
    """An uploaded edit file (`read_edits`: the JSON of tools/predict.py --edits)."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"{name} is {len(data) / 1e6:.1f} MB: edit files must be at most "
                       f"{MAX_BYTES // (1024 * 1024)} MB")
    return _read(data, safe_name(name, "edits.json"), lambda path, shown: read_edits(path))
