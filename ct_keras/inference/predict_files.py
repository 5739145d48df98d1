"""CompositeTasking on a user's image files: palettes, batches, figures and arrays.

For each image `DIR/<stem>.png` (the figure) and `DIR/<stem>.npz`: `palette` (`[H, W]`
task ids) and one array per task the palette asks for, at the image's own size (see
`outputs_at_size`). With edits, the figure is the before/after one (paper Fig. 9) and the
npz also holds the palette before editing and its outputs as `base_palette`, `base_<task>`.
"""

import os

import numpy as np

from ct_keras.deploy.pictures import save_png
from ct_keras.deploy.user_inputs import load_image, resize_image
from ct_keras.inference.figure import editing_figure, prediction_figure
from ct_keras.inference.outputs import outputs_at_size
from ct_keras.palettes.resize import resize_nearest
from ct_keras.palettes.specs import PREDICTED_NEEDS_MODEL

LABEL_SUFFIXES = (".png", ".npy")


def check_label(label, spec, num_images):
    """Checks `label` (a file for one image, or a folder) against `spec` before any work."""
    if spec.needs_label and label is None:
        raise ValueError(f"--palette={spec.spec} follows the semseg classes of each image: give "
                         "--label=FILE (one image) or --label=FOLDER (of <image stem>.png)")
    if label is None:
        return
    if not spec.needs_label:
        raise ValueError(f"--label is for --palette=r2 or r3. Received --palette={spec.spec}")
    if not os.path.exists(label):
        raise FileNotFoundError(f"--label {label} does not exist")
    if not os.path.isdir(label) and num_images > 1:
        raise ValueError(f"--label {label} is one file for {num_images} images: give a folder "
                         "of <image stem>.png labels")


def label_for(image_path, label):
    """The semseg label of `image_path`: `label` itself (a file), or `<label>/<stem>.png`
    (or .npy) when `label` is a folder."""
    if label is None:
        return None
    if os.path.isdir(label):
        stem = os.path.splitext(os.path.basename(image_path))[0]
        for suffix in LABEL_SUFFIXES:
            path = os.path.join(label, stem + suffix)
            if os.path.isfile(path):
                return path
        raise FileNotFoundError(f"No label {stem}.png (or .npy) in --label folder {label}")
    return label


def _check_names(paths):
    stems = {}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise ValueError(f"Images {stems[stem]} and {path} would both write {stem}.png: "
                             "rename one or run them separately")
        stems[stem] = path


def check_request(paths, spec, label=None, palette_model=None):
    """What can be wrong before any image is read: output names, the label, the palette network."""
    if not paths:
        raise ValueError("No image files given")
    _check_names(paths)
    check_label(label, spec, len(paths))
    if spec.needs_palette_model and palette_model is None:
        raise ValueError(PREDICTED_NEEDS_MODEL)


class _Item:
    def __init__(self, path, image, palettes):
        self.path, self.image, self.palettes = path, image, palettes
        self.stem = os.path.splitext(os.path.basename(path))[0]


def _prepare(path, spec, label, palette_model):
    image = load_image(path)
    hw = image.shape[:2]
    kwargs = {"label": label_for(path, label),
              "image": image, "palette_model": palette_model}
    palettes = [spec.palette(hw, edited=False, **kwargs)]
    if spec.edits is not None:
        palettes.append(spec.edits.apply(palettes[0]))
    return _Item(path, image, palettes)


def _write(item, all_outputs, out_dir, anchors):
    arrays = {"palette": item.palettes[-1], **all_outputs[-1]}
    if len(all_outputs) > 1:
        picture = editing_figure(item.image, item.palettes[0], all_outputs[0],
                                 item.palettes[1], all_outputs[1], anchors)
        arrays["base_palette"] = item.palettes[0]
        arrays.update({f"base_{name}": value for name, value in all_outputs[0].items()})
    else:
        picture = prediction_figure(item.image, item.palettes[0], all_outputs[0], anchors)
    save_png(picture, os.path.join(out_dir, f"{item.stem}.png"))
    np.savez_compressed(os.path.join(out_dir, f"{item.stem}.npz"), **arrays)


def predict_files(predictor, paths, spec, out_dir, batch_size=4, label=None, palette_model=None,
                  progress=True):
    """Runs `predictor` on every image of `paths` with the palettes of `spec`.

    Args:
        predictor: from `load_predictor` (`image_hw`, `anchors`, `raw`).
        paths: image files (JPEG, PNG, … any size or mode).
        spec: a `PaletteSpec` (with its `edits`, if any).
        out_dir: where `<stem>.png` and `<stem>.npz` go (created).
        batch_size: images per call of the network.
        label: semseg label file (one image) or folder (`<stem>.png`) for r2 / r3.
        palette_model: for the spec `predicted`.
        progress: show a progress bar.

    Returns:
        `[(path, error message)]` of the images that could not be done; the others are written.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be at least 1. Received {batch_size}")
    check_request(paths, spec, label, palette_model)
    os.makedirs(out_dir, exist_ok=True)
    failures = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths), unit="img", desc="predict")
    for start in range(0, len(paths), batch_size):
        items = []
        for path in paths[start:start + batch_size]:
            try:
                items.append(_prepare(path, spec, label, palette_model))
            except (ValueError, FileNotFoundError) as e:
                failures.append((path, str(e)))
                if bar is not None:
                    bar.update(1)
        if not items:
            continue
        hw = predictor.image_hw
        images = np.stack([resize_image(item.image, hw) for item in items for _ in item.palettes])
        palettes = np.stack([resize_nearest(p, hw) for item in items for p in item.palettes])
        raws = iter(predictor.raw(images.astype(np.float32), palettes.astype(np.int32)))
        for item in items:
            outputs = [outputs_at_size(next(raws), p, predictor.anchors) for p in item.palettes]
            _write(item, outputs, out_dir, predictor.anchors)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return failures
