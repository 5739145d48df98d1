"""A synthetic PASCAL-MT written in the ASTMT layout, file format by file format.

JPEG images, class-index (palette) PNG semseg with a void band around objects as in
VOC, PASCAL-Part `anno` structs, PASCAL-Context `LabelMap`s, distilled-style normals
and soft saliency PNGs. The real reader is what demos and tests run on it.

Scenes are indoor (wall, floor, windows, pictures) or outdoor (sky, grass or road,
buildings, trees); 1–4 objects of the 20 VOC classes are built from shaded 3-D
primitives (`synthetic_objects`), with class-specific shapes and textures, people from
PASCAL-Part's parts; later objects occlude earlier ones. The normal labels are the
true normals of the primitives, the image is shaded with them under a random light,
and saliency marks the dominant object(s). Each image is a function of (seed, split,
index) only.
"""

import json
import os

import numpy as np
import scipy.io
from PIL import Image

import cv2

from ct_keras.data.pascal_context import VOC_TO_CONTEXT
from ct_keras.data.synthetic_objects import LOOKS, RECIPES, person_look
from ct_keras.data.synthetic_shapes import Canvas, box, ellipsoid, texture
from ct_keras.tasks import VOC_CLASSES, voc_colours

# PASCAL-Context ids of the stuff classes drawn (from its 459-class list).
STUFF = {"sky": 360, "grass": 187, "road": 324, "building": 44, "tree": 420,
         "wall": 440, "floor": 158, "window": 454, "picture": 287}
STUFF_LOOKS = {
    "sky": ("grain", (120, 170, 230), (200, 220, 245), 40.0),
    "grass": ("fur", (60, 140, 50), (40, 100, 30), 1.2),
    "road": ("grain", (90, 90, 95), (130, 130, 130), 2.0),
    "building": ("windows", (170, 120, 100), (60, 60, 80), 4.0),
    "tree": ("spots", (30, 100, 30), (70, 140, 50), 1.5),
    "wall": ("grain", (215, 205, 180), (190, 180, 160), 30.0),
    "floor": ("checker", (160, 120, 80), (120, 85, 55), 10.0),
    "window": ("grain", (170, 200, 230), (220, 235, 250), 8.0),
    "picture": ("stripes", (180, 60, 60), (60, 60, 160), 3.0),
}
SPLIT_CODES = {"train": 0, "val": 1}
# What scenes hold. "voc": all 20 VOC classes at the sizes of the tests and benchmarks;
# "easy": five classes of distinct looks, objects twice as large, people in most images,
# for a net trained from scratch in minutes (the demo). `object_size` is the object
# height as a fraction of the shorter image side, drawn uniformly in that range.
VARIANTS = {
    "voc": {"classes": VOC_CLASSES[1:], "object_size": (0.25, 0.5), "person_probability": 0.35},
    "easy": {"classes": ("person", "car", "bus", "cow", "pottedplant"), "object_size": (0.45, 0.85),
             "person_probability": 0.5},
}


def _image_id(split, index):
    return f"{2008 + 2 * SPLIT_CODES.get(split, 1)}_{index:06d}"


def _background(c, rng, albedo, normals, label_map):
    indoor = rng.uniform() < 0.5
    horizon = c.height * rng.uniform(0.35, 0.6) + 0.03 * c.height * np.sin(c.x / rng.uniform(15, 40))
    upper, lower = ("wall", "floor") if indoor else ("sky", rng.choice(["grass", "road"]))
    below = c.y > horizon
    for name, region, normal in ((upper, ~below, (0, 0, 1)), (lower, below, (0, 0.85, 0.5))):
        label_map[region] = STUFF[name]
        albedo[region] = texture(c, *STUFF_LOOKS[name], rng)[region]
        normals[region] = normal
    scale = c.height / 256.0
    for _ in range(rng.integers(0, 3)):
        name = rng.choice(["window", "picture"] if indoor else ["building", "tree"])
        cx, w = rng.uniform(0, c.width), rng.uniform(20, 60) * scale
        if name == "tree":
            mask, n, _ = ellipsoid(c, cx, horizon.mean() - w, w * 0.6, w)
        else:
            cy = horizon.mean() - (w if name == "building" else rng.uniform(0.3, 0.7) * horizon.mean())
            mask, n, _ = box(c, cx, cy, w, w * rng.uniform(0.6, 2), 4 * scale, yaw=0.0, pitch=0.0)
        mask &= ~below
        label_map[mask] = STUFF[name]
        albedo[mask] = texture(c, *STUFF_LOOKS[name], rng)[mask]
        normals[mask] = n[mask]
    return indoor


def _draw_object(c, rng, name, size, object_size):
    """One object: its pixel mask, normals, albedo and (for people) part names per pixel."""
    s = size * rng.uniform(*object_size)
    cx, cy = rng.uniform(0.15, 0.85) * c.width, rng.uniform(0.35, 0.7) * c.height
    f = float(rng.choice([-1.0, 1.0]))
    primitives = RECIPES[name](c, cx, cy, s, f, rng)
    mask = np.zeros((c.height, c.width), bool)
    top = np.full((c.height, c.width), -np.inf, np.float32)
    normals = np.zeros((c.height, c.width, 3), np.float32)
    part = np.full((c.height, c.width), -1, np.int32)
    albedo = np.zeros((c.height, c.width, 3), np.float32)
    if name == "person":
        clothes = [("stripes", rng.uniform(0, 255, 3), rng.uniform(0, 255, 3), rng.uniform(1.5, 4)),
                   ("grain", rng.uniform(0, 120, 3), rng.uniform(0, 120, 3), 6.0)]
        looks = {}
    else:
        base = texture(c, *LOOKS[name], rng)
    for i, (part_name, (m, n, h)) in enumerate(primitives):
        # Primitives later in a recipe sit in front at equal height, so joints overlap cleanly.
        h = h + 1e-3 * i
        front = m & (h > top)
        mask |= m
        top[front], normals[front], part[front] = h[front], n[front], i
        if name == "person":
            look = person_look(part_name, clothes)
            if look[0] not in looks or looks[look[0]][0] is not look:
                looks[look[0]] = (look, texture(c, *look, rng))
            albedo[front] = looks[look[0]][1][front]
        else:
            albedo[front] = base[front] * (0.45 if part_name == "wheel" else 1.0)
    names = [p for p, _ in primitives]
    return mask, normals, albedo, part, names


def scene_variant(variant):
    """The settings of a `VARIANTS` entry; a `ValueError` naming the choices otherwise."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown synthetic variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return VARIANTS[variant]


def render_scene(rng, height, width, variant="voc"):
    """Numpy arrays of one synthetic image and its labels (see `write_scene` and `VARIANTS`)."""
    settings = scene_variant(variant)
    c = Canvas(height, width)
    albedo = np.zeros((height, width, 3), np.float32)
    normals = np.zeros((height, width, 3), np.float32)
    label_map = np.zeros((height, width), np.uint16)
    _background(c, rng, albedo, normals, label_map)
    instance = np.full((height, width), -1, np.int32)
    part_index = np.full((height, width), -1, np.int32)
    objects = []
    things = [n for n in settings["classes"] if n != "person"]
    for k in range(rng.integers(1, 5)):
        name = "person" if rng.uniform() < settings["person_probability"] else str(rng.choice(things))
        mask, n, a, part, names = _draw_object(c, rng, name, min(height, width), settings["object_size"])
        instance[mask], normals[mask], albedo[mask], part_index[mask] = k, n[mask], a[mask], part[mask]
        label_map[mask] = VOC_TO_CONTEXT[VOC_CLASSES.index(name)]
        objects.append((name, names))

    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.2, 0.8), 1.0])
    shade = 0.35 + 0.65 * np.clip(normals @ (light / np.linalg.norm(light)), 0.0, 1.0)
    sky = label_map == STUFF["sky"]
    shade[sky] = 1.0
    image = albedo * shade[..., None] * rng.uniform(0.8, 1.2, 3)
    image += rng.normal(0.0, rng.uniform(2, 8), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.uniform() < 0.5:
        image = cv2.GaussianBlur(image, (3, 3), 0)

    semseg = np.zeros((height, width), np.uint8)
    visible = []
    for k, (name, names) in enumerate(objects):
        mask = instance == k
        semseg[mask] = VOC_CLASSES.index(name)
        parts = {n: (mask & (part_index == i)) for i, n in enumerate(names) if n is not None}
        visible.append((name, mask, parts))
    # VOC marks a void band along object outlines (5 px at ~500 px).
    outline = np.zeros((height, width), bool)
    outline[:, 1:] |= instance[:, 1:] != instance[:, :-1]
    outline[1:, :] |= instance[1:, :] != instance[:-1, :]
    band = max(1, round(min(height, width) / 128))
    outline = cv2.dilate(outline.astype(np.uint8), np.ones((band + 1, band + 1), np.uint8)) > 0
    semseg[outline] = 255

    areas = np.array([m.sum() for _, m, _ in visible], np.float32)
    dominant = (areas >= 0.5 * areas.max()) & (areas > 0.01 * height * width)
    salient = np.isin(instance, np.flatnonzero(dominant)).astype(np.float32)
    saliency = cv2.GaussianBlur(salient * rng.uniform(200, 255), (5, 5), 0)
    noisy = normals + rng.normal(0.0, 0.02, normals.shape)
    noisy /= np.maximum(np.linalg.norm(noisy, axis=-1, keepdims=True), 1e-6)
    return {
        "image": image,
        "semseg": semseg,
        "label_map": label_map,
        "objects": visible,
        "normals_png": np.round((noisy + 1.0) * 127.5).astype(np.uint8),
        "saliency_png": np.clip(np.round(saliency), 0, 255).astype(np.uint8),
    }


def _anno(image_id, objects):
    """PASCAL-Part's `anno` struct; `loadmat` gives it back in the real nesting."""
    obj_dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    objs = np.zeros((1, len(objects)), obj_dtype)
    for i, (name, mask, parts) in enumerate(objects):
        part_array = np.zeros((1, len(parts)), [("part_name", "O"), ("mask", "O")])
        for j, (part_name, part_mask) in enumerate(parts.items()):
            part_array[0, j] = (part_name, part_mask.astype(np.uint8))
        if not parts:
            part_array = np.zeros((0, 0))
        objs[0, i] = (name, np.array([[float(VOC_CLASSES.index(name))]]), mask.astype(np.uint8), part_array)
    anno = np.zeros((1, 1), [("imname", "O"), ("objects", "O")])
    anno[0, 0] = (image_id, objs)
    return anno


def write_scene(out_dir, image_id, scene):
    """Writes one rendered scene into the ASTMT folders under `out_dir`."""
    def path(*parts):
        return os.path.join(out_dir, *parts)

    cv2.imwrite(path("JPEGImages", f"{image_id}.jpg"), cv2.cvtColor(scene["image"], cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    semseg = Image.fromarray(scene["semseg"], mode="P")
    semseg.putpalette(voc_colours(256).reshape(-1).tolist())
    semseg.save(path("semseg", "VOC12", f"{image_id}.png"))
    scipy.io.savemat(path("human_parts", f"{image_id}.mat"),
                     {"anno": _anno(image_id, scene["objects"])}, do_compression=True)
    scipy.io.savemat(path("pascal-context", "trainval", f"{image_id}.mat"),
                     {"LabelMap": scene["label_map"]}, do_compression=True)
    Image.fromarray(scene["normals_png"], mode="RGB").save(path("normals_distill", f"{image_id}.png"))
    Image.fromarray(scene["saliency_png"], mode="L").save(path("sal_distill", f"{image_id}.png"))


DESCRIPTION = "synthetic.json"  # written last: how the folder was generated
ASTMT_DIRS = (("ImageSets", "Context"), ("JPEGImages",), ("semseg", "VOC12"), ("human_parts",),
              ("pascal-context", "trainval"), ("normals_distill",), ("sal_distill",))


def generate_pascal_mt(out_dir, num_train, num_val, seed=0, size=256, progress=False, variant="voc"):
    """Writes a synthetic PASCAL-MT (ASTMT layout) with `num_train` + `num_val` images.

    Images are `size` wide and `size` or 3/4 `size` high; `variant` is a `VARIANTS` key.
    Returns `{split: [ids]}`.
    """
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ValueError(f"Need a positive number of images. Received num_train={num_train}, num_val={num_val}")
    if size < 32:
        raise ValueError(f"`size` must be at least 32. Received {size}")
    scene_variant(variant)
    for parts in ASTMT_DIRS:
        os.makedirs(os.path.join(out_dir, *parts), exist_ok=True)
    ids = {}
    for split, count in (("train", num_train), ("val", num_val)):
        ids[split] = [_image_id(split, i) for i in range(count)]
        iterator = range(count)
        if progress:
            from tqdm import tqdm
            iterator = tqdm(iterator, desc=split, unit="img")
        for i in iterator:
            rng = np.random.default_rng([seed, SPLIT_CODES[split], i])
            height = size if rng.uniform() < 0.5 else round(0.75 * size)
            write_scene(out_dir, ids[split][i], render_scene(rng, height, size, variant))
        with open(os.path.join(out_dir, "ImageSets", "Context", f"{split}.txt"), "w") as f:
            f.write("".join(f"{image_id}\n" for image_id in ids[split]))
    with open(os.path.join(out_dir, DESCRIPTION), "w") as f:
        json.dump({"variant": variant, "seed": seed, "size": size, "num_train": num_train,
                   "num_val": num_val}, f, indent=2)
    return ids


def read_description(data_dir):
    """What `generate_pascal_mt` wrote into `data_dir/synthetic.json`; None for other folders."""
    path = os.path.join(data_dir, DESCRIPTION)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
