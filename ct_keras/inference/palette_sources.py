"""One picture of every way to say which task goes where (paper §6.2–6.3), on one image:
a task over the whole image, a training rule, R2 from the semseg label, a palette file, an
edit file, and the palette network's palette with an edit on top (Fig. 9's before/after).
"""

import json
import os

import numpy as np

from ct_keras.deploy.user_inputs import load_image


def _caption(picture, text, height=34):
    from PIL import Image, ImageDraw

    from ct_keras.inference.figure import _font

    strip = Image.new("RGB", (picture.shape[1], height), "white")
    ImageDraw.Draw(strip).text((8, 7), text, fill=(0, 0, 0), font=_font(18))
    return np.concatenate([np.asarray(strip), picture], axis=0)


def example_sources(work_dir, image_hw, with_predicted):
    """`[(caption, spec, edits)]` of the picture, writing the palette and edit files it
    uses into `work_dir` (a quadrant palette; a circle of normals over R2, or over the
    predicted palette)."""
    from ct_keras.palettes import PaletteSpec
    from ct_keras.palettes.files import write_palette_png

    height, width = image_hw
    palette_png = os.path.join(work_dir, "my_palette.png")
    write_palette_png(PaletteSpec("quadrants:semseg,saliency,parts,edges").palette(image_hw), palette_png)
    circle = {"shape": "circle", "task": "normals", "cx": width // 2, "cy": height // 2, "r": min(image_hw) // 4}
    edits = os.path.join(work_dir, "my_edits.json")
    with open(edits, "w") as f:
        json.dump({"base": "r2", "shapes": [circle]}, f)
    sources = [
        ("s:normals: one task over the whole image", "s:normals", None),
        ("r1r: a training rule (four rectangles, four different tasks)", "r1r", None),
        ("r2: from the semseg label (parts on people, semseg on animals, ...)", "r2", None),
        ("my_palette.png: a palette file (ids or the legend's colours)", palette_png, None),
        ("my_edits.json: an edit file (r2, then a circle of normals)", edits, None),
    ]
    if with_predicted:
        on_top = os.path.join(work_dir, "circle.json")
        with open(on_top, "w") as f:
            json.dump([circle], f)
        sources.append(("predicted, then edited: the palette network's palette, a circle of normals on top",
                        "predicted", on_top))
    return sources


def palette_sources_figure(predictor, image_path, label_path, work_dir, palette_model=None):
    """Each source of `example_sources` predicted by `predictor` on `image_path` (with
    its semseg label for r2), one captioned row each, stacked: RGB uint8."""
    from ct_keras.inference.predict_files import predict_files
    from ct_keras.palettes import PaletteSpec

    image_hw = load_image(image_path).shape[:2]
    rows = []
    for k, (caption, spec, edits) in enumerate(example_sources(work_dir, image_hw, palette_model is not None)):
        out = os.path.join(work_dir, f"row{k}")
        spec = PaletteSpec(spec, edits=edits)
        failures = predict_files(predictor, [image_path], spec, out, label=label_path if spec.needs_label else None,
                                 palette_model=palette_model, progress=False)
        if failures:
            raise ValueError(f"{caption}: {failures[0][1]}")
        stem = os.path.splitext(os.path.basename(image_path))[0]
        rows.append(_caption(load_image(os.path.join(out, f"{stem}.png")), caption))
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 10), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                           for r in rows], axis=0)
