"""The paper's figures for one image (Figs. 8–9): panels side by side over a legend.

    prediction_figure   image | Task Palette | composite prediction
    editing_figure      image | palette | prediction | edited palette | prediction

The legend lists the tasks of the palettes in their legend colours and the classes
present in the semseg / parts predictions in their class colours.
"""

import numpy as np

from ct_keras.deploy.pictures import composite_picture
from ct_keras.tasks import (
    CLASS_NAMES, NUM_CLASSES, PARTS, SEMSEG, TASK_COLOURS, TASK_NAMES, class_colours, colourise_palette,
)


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def legend_items(palettes, outputs_list, anchors=None):
    """`[(heading, [(colour, label), …]), …]`: the tasks used, then the classes predicted
    (in their class colours: the model's `anchors`, None → the paper's)."""
    used = sorted({int(k) for p in palettes for k in np.unique(p)})
    items = [("Tasks", [(tuple(int(c) for c in TASK_COLOURS[k]), TASK_NAMES[k]) for k in used])]
    for task in (SEMSEG, PARTS):
        present = set()
        for outputs in outputs_list:
            value = outputs.get(TASK_NAMES[task])
            if value is not None:
                present |= {int(c) for c in np.unique(value) if c < NUM_CLASSES[task]}
        if present:
            colours = class_colours(task, anchors)
            items.append((TASK_NAMES[task], [(tuple(int(c) for c in colours[c]), CLASS_NAMES[task][c])
                                             for c in sorted(present)]))
    return items


def figure(panels, titles, legend):
    """RGB uint8: `panels` (equal-size `[H, W, 3]`) with `titles` above and `legend` below."""
    from PIL import Image, ImageDraw

    height, width = panels[0].shape[:2]
    size = int(np.clip(round(min(height, width) / 16), 11, 28))
    font, gap, swatch = _font(size), max(4, size // 2), size
    line = int(size * 1.5)
    total = len(panels) * width + (len(panels) - 1) * gap
    # Lay the legend out first to know its height: rows of "[swatch] label" wrapped at `total`.
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    placed, y = [], line + height + gap
    for heading, entries in legend:
        x = 0
        placed.append(("text", (x, y), f"{heading}:", None))
        x += int(draw.textlength(f"{heading}: ", font=font))
        for colour, label in entries:
            advance = swatch + gap // 2 + int(draw.textlength(label, font=font)) + gap
            if x + advance > total and x > 0:
                x, y = int(draw.textlength("    ", font=font)), y + line
            placed.append(("swatch", (x, y + (line - swatch) // 2 - size // 6), None, colour))
            placed.append(("text", (x + swatch + gap // 2, y), label, None))
            x += advance
        y += line
    canvas = Image.new("RGB", (total, y + gap), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (panel, title) in enumerate(zip(panels, titles)):
        x = i * (width + gap)
        canvas.paste(Image.fromarray(np.asarray(panel, np.uint8)), (x, line))
        draw.text((x + width // 2, line // 2), title, fill=(0, 0, 0), font=font, anchor="mm")
    for kind, (x, y0), text, colour in placed:
        if kind == "swatch":
            draw.rectangle([x, y0, x + swatch, y0 + swatch], fill=colour, outline=(0, 0, 0))
        else:
            draw.text((x, y0), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def prediction_figure(image, palette, outputs, anchors=None):
    """image | Task Palette | composite prediction, with the legend (paper Fig. 8)."""
    return figure([image, colourise_palette(palette), composite_picture(outputs, palette, anchors)],
                  ["Image", "Task Palette", "Prediction"], legend_items([palette], [outputs], anchors))


def editing_figure(image, palette, outputs, edited, edited_outputs, anchors=None):
    """image | palette | prediction | edited palette | prediction (paper Fig. 9)."""
    return figure(
        [image, colourise_palette(palette), composite_picture(outputs, palette, anchors),
         colourise_palette(edited), composite_picture(edited_outputs, edited, anchors)],
        ["Image", "Task Palette", "Prediction", "Edited palette", "Prediction"],
        legend_items([palette, edited], [outputs, edited_outputs], anchors))
