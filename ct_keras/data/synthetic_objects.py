"""The 20 VOC object classes of the synthetic PASCAL-MT, each a class-specific assembly
of shaded primitives with its own texture (see `synthetic`).

A recipe draws an object of size `s` (pixels, about its height) centred at (cx, cy),
facing left or right (`f` = ±1), and returns `[(part name or None, primitive)]`. Only
people name their parts (PASCAL-Part names), cars name their wheels: the parts reader
must take people's parts and nothing else.
"""

import numpy as np

from ct_keras.data.synthetic_shapes import box, cylinder, ellipsoid, flat, limb, ring

# (texture kind, colour, second colour, pattern scale in pixels at 256²)
LOOKS = {
    "aeroplane": ("stripes", (210, 210, 220), (40, 60, 160), 9.0),
    "bicycle": ("grain", (30, 30, 35), (160, 20, 20), 3.0),
    "bird": ("fur", (120, 80, 40), (230, 200, 120), 2.0),
    "boat": ("stripes", (240, 240, 240), (200, 30, 30), 4.0),
    "bottle": ("grain", (30, 110, 40), (120, 200, 120), 6.0),
    "bus": ("windows", (240, 190, 20), (40, 50, 60), 5.0),
    "car": ("grain", (170, 20, 30), (230, 230, 240), 12.0),
    "cat": ("stripes", (200, 120, 50), (90, 50, 20), 2.5),
    "chair": ("grain", (120, 70, 30), (60, 30, 10), 2.0),
    "cow": ("spots", (240, 240, 235), (20, 20, 20), 6.0),
    "diningtable": ("stripes", (150, 95, 50), (110, 65, 30), 1.5),
    "dog": ("fur", (150, 110, 70), (60, 40, 25), 3.0),
    "horse": ("fur", (100, 55, 25), (60, 30, 10), 6.0),
    "motorbike": ("checker", (20, 20, 20), (190, 190, 200), 4.0),
    "pottedplant": ("spots", (40, 140, 40), (20, 80, 20), 2.0),
    "sheep": ("grain", (225, 220, 200), (170, 160, 140), 1.5),
    "sofa": ("checker", (60, 60, 140), (90, 90, 180), 6.0),
    "train": ("windows", (60, 90, 170), (20, 20, 30), 4.0),
    "tvmonitor": ("grain", (25, 25, 30), (70, 120, 200), 10.0),
}
SKIN, SHOES = (225, 180, 150), (40, 30, 25)


def _legs(c, xs, y_top, length, radius, f):
    return [(None, limb(c, x, y_top, x + 0.1 * f * length, y_top + length, radius)) for x in xs]


def aeroplane(c, cx, cy, s, f, rng):
    return [
        (None, cylinder(c, cx, cy, 0.16 * s, 1.8 * s, vertical=False)),
        (None, flat(c, [(cx - 0.3 * s, cy), (cx + 0.2 * s, cy), (cx - 0.1 * s, cy + 0.6 * s)], (0, 0.3, 1))),
        (None, flat(c, [(cx - f * 0.9 * s, cy), (cx - f * 0.7 * s, cy), (cx - f * 0.95 * s, cy - 0.5 * s)])),
    ]


def bicycle(c, cx, cy, s, f, rng):
    r = 0.3 * s
    out = [(None, ring(c, cx + d * 0.45 * s, cy + 0.2 * s, r, 0.8 * r)) for d in (-1, 1)]
    out += [(None, limb(c, cx - 0.45 * s, cy + 0.2 * s, cx, cy - 0.1 * s, 0.04 * s)),
            (None, limb(c, cx, cy - 0.1 * s, cx + 0.45 * s, cy + 0.2 * s, 0.04 * s)),
            (None, limb(c, cx + f * 0.35 * s, cy - 0.25 * s, cx + f * 0.45 * s, cy + 0.2 * s, 0.04 * s))]
    return out


def bird(c, cx, cy, s, f, rng):
    return [
        (None, ellipsoid(c, cx, cy, 0.4 * s, 0.25 * s)),
        (None, ellipsoid(c, cx + f * 0.38 * s, cy - 0.22 * s, 0.15 * s, 0.15 * s)),
        (None, flat(c, [(cx + f * 0.5 * s, cy - 0.25 * s), (cx + f * 0.72 * s, cy - 0.2 * s),
                        (cx + f * 0.5 * s, cy - 0.16 * s)], (f * 0.5, 0, 1))),
        (None, flat(c, [(cx - f * 0.35 * s, cy), (cx - f * 0.75 * s, cy - 0.1 * s),
                        (cx - f * 0.75 * s, cy + 0.15 * s)], (0, 0.4, 1))),
    ]


def boat(c, cx, cy, s, f, rng):
    hull = [(cx - 0.8 * s, cy), (cx + 0.8 * s, cy), (cx + 0.55 * s, cy + 0.35 * s), (cx - 0.55 * s, cy + 0.35 * s)]
    return [
        (None, flat(c, hull, (0, -0.4, 1))),
        (None, limb(c, cx, cy, cx, cy - 0.9 * s, 0.03 * s)),
        (None, flat(c, [(cx + f * 0.05 * s, cy - 0.85 * s), (cx + f * 0.05 * s, cy - 0.1 * s),
                        (cx + f * 0.6 * s, cy - 0.1 * s)], (f * 0.3, 0, 1))),
    ]


def bottle(c, cx, cy, s, f, rng):
    return [(None, cylinder(c, cx, cy + 0.15 * s, 0.17 * s, 0.7 * s)),
            (None, cylinder(c, cx, cy - 0.35 * s, 0.06 * s, 0.3 * s))]


def bus(c, cx, cy, s, f, rng):
    out = [(None, box(c, cx, cy, 1.8 * s, 0.9 * s, 0.8 * s, yaw=f * rng.uniform(0.3, 0.8), pitch=0.15))]
    return out + [(None, ring(c, cx + d * 0.6 * s, cy + 0.45 * s, 0.16 * s, 0.08 * s)) for d in (-1, 1)]


def car(c, cx, cy, s, f, rng):
    yaw = f * rng.uniform(0.2, 0.7)
    out = [(None, box(c, cx, cy + 0.1 * s, 1.5 * s, 0.4 * s, 0.7 * s, yaw=yaw, pitch=0.25)),
           (None, box(c, cx, cy - 0.25 * s, 0.8 * s, 0.35 * s, 0.6 * s, yaw=yaw, pitch=0.25))]
    return out + [("wheel", ring(c, cx + d * 0.5 * s, cy + 0.35 * s, 0.17 * s, 0.1 * s)) for d in (-1, 1)]


def cat(c, cx, cy, s, f, rng):
    hx, hy = cx + f * 0.45 * s, cy - 0.3 * s
    return [
        (None, ellipsoid(c, cx, cy, 0.45 * s, 0.25 * s)),
        (None, ellipsoid(c, hx, hy, 0.18 * s, 0.16 * s)),
        (None, flat(c, [(hx - 0.15 * s, hy - 0.08 * s), (hx - 0.1 * s, hy - 0.3 * s), (hx - 0.02 * s, hy - 0.1 * s)])),
        (None, flat(c, [(hx + 0.15 * s, hy - 0.08 * s), (hx + 0.1 * s, hy - 0.3 * s), (hx + 0.02 * s, hy - 0.1 * s)])),
        (None, limb(c, cx - f * 0.4 * s, cy, cx - f * 0.7 * s, cy - 0.4 * s, 0.05 * s)),
    ] + _legs(c, (cx - 0.3 * s, cx + 0.3 * s), cy + 0.1 * s, 0.3 * s, 0.06 * s, f)


def chair(c, cx, cy, s, f, rng):
    yaw = f * rng.uniform(0.2, 0.6)
    return [
        (None, box(c, cx, cy, 0.6 * s, 0.08 * s, 0.6 * s, yaw=yaw, pitch=0.5)),
        (None, box(c, cx - f * 0.25 * s, cy - 0.35 * s, 0.1 * s, 0.6 * s, 0.55 * s, yaw=yaw, pitch=0.1)),
    ] + _legs(c, (cx - 0.25 * s, cx + 0.25 * s), cy, 0.45 * s, 0.035 * s, 0)


def cow(c, cx, cy, s, f, rng):
    return [
        (None, ellipsoid(c, cx, cy, 0.6 * s, 0.3 * s)),
        (None, ellipsoid(c, cx + f * 0.65 * s, cy - 0.2 * s, 0.2 * s, 0.17 * s)),
    ] + _legs(c, (cx - 0.4 * s, cx - 0.25 * s, cx + 0.25 * s, cx + 0.4 * s), cy + 0.1 * s, 0.45 * s, 0.07 * s, 0)


def diningtable(c, cx, cy, s, f, rng):
    return [(None, box(c, cx, cy - 0.2 * s, 1.4 * s, 0.08 * s, 0.8 * s, yaw=rng.uniform(-0.3, 0.3), pitch=0.6))] + \
        _legs(c, (cx - 0.6 * s, cx + 0.6 * s), cy - 0.15 * s, 0.6 * s, 0.05 * s, 0)


def dog(c, cx, cy, s, f, rng):
    hx, hy = cx + f * 0.5 * s, cy - 0.3 * s
    return [
        (None, ellipsoid(c, cx, cy, 0.45 * s, 0.22 * s)),
        (None, ellipsoid(c, hx, hy, 0.17 * s, 0.15 * s)),
        (None, ellipsoid(c, hx + f * 0.17 * s, hy + 0.05 * s, 0.12 * s, 0.07 * s)),
        (None, ellipsoid(c, hx - f * 0.08 * s, hy + 0.1 * s, 0.05 * s, 0.13 * s)),
        (None, limb(c, cx - f * 0.4 * s, cy - 0.05 * s, cx - f * 0.55 * s, cy - 0.3 * s, 0.04 * s)),
    ] + _legs(c, (cx - 0.3 * s, cx + 0.3 * s), cy + 0.1 * s, 0.4 * s, 0.06 * s, 0)


def horse(c, cx, cy, s, f, rng):
    nx, ny = cx + f * 0.6 * s, cy - 0.5 * s
    return [
        (None, ellipsoid(c, cx, cy - 0.1 * s, 0.55 * s, 0.22 * s)),
        (None, limb(c, cx + f * 0.4 * s, cy - 0.15 * s, nx, ny, 0.12 * s)),
        (None, ellipsoid(c, nx + f * 0.12 * s, ny - 0.02 * s, 0.2 * s, 0.09 * s)),
        (None, limb(c, cx - f * 0.5 * s, cy - 0.15 * s, cx - f * 0.65 * s, cy + 0.25 * s, 0.04 * s)),
    ] + _legs(c, (cx - 0.4 * s, cx - 0.3 * s, cx + 0.3 * s, cx + 0.4 * s), cy, 0.6 * s, 0.05 * s, 0)


def motorbike(c, cx, cy, s, f, rng):
    out = [(None, ring(c, cx + d * 0.5 * s, cy + 0.25 * s, 0.27 * s, 0.17 * s)) for d in (-1, 1)]
    return out + [(None, box(c, cx, cy, 0.7 * s, 0.3 * s, 0.3 * s, yaw=f * 0.3, pitch=0.2)),
                  (None, limb(c, cx + f * 0.3 * s, cy, cx + f * 0.4 * s, cy - 0.4 * s, 0.04 * s))]


def pottedplant(c, cx, cy, s, f, rng):
    out = [(None, cylinder(c, cx, cy + 0.3 * s, 0.2 * s, 0.35 * s))]
    for _ in range(4):
        out.append((None, ellipsoid(c, cx + rng.uniform(-0.25, 0.25) * s, cy - rng.uniform(0.0, 0.4) * s,
                                    rng.uniform(0.15, 0.25) * s, rng.uniform(0.15, 0.25) * s)))
    return out


def sheep(c, cx, cy, s, f, rng):
    out = [(None, ellipsoid(c, cx + dx * s, cy + dy * s, 0.25 * s, 0.22 * s))
           for dx, dy in ((-0.25, 0), (0.0, -0.08), (0.25, 0), (0.0, 0.08))]
    return out + [(None, ellipsoid(c, cx + f * 0.5 * s, cy - 0.1 * s, 0.13 * s, 0.1 * s))] + \
        _legs(c, (cx - 0.3 * s, cx + 0.3 * s), cy + 0.15 * s, 0.3 * s, 0.05 * s, 0)


def sofa(c, cx, cy, s, f, rng):
    yaw = rng.uniform(-0.4, 0.4)
    return [
        (None, box(c, cx, cy + 0.15 * s, 1.6 * s, 0.35 * s, 0.7 * s, yaw=yaw, pitch=0.35)),
        (None, box(c, cx, cy - 0.2 * s, 1.6 * s, 0.5 * s, 0.2 * s, yaw=yaw, pitch=0.1)),
        (None, box(c, cx - 0.75 * s, cy, 0.2 * s, 0.5 * s, 0.7 * s, yaw=yaw, pitch=0.35)),
        (None, box(c, cx + 0.75 * s, cy, 0.2 * s, 0.5 * s, 0.7 * s, yaw=yaw, pitch=0.35)),
    ]


def train(c, cx, cy, s, f, rng):
    return [(None, box(c, cx, cy, 2.6 * s, 0.8 * s, 0.7 * s, yaw=f * rng.uniform(0.5, 1.0), pitch=0.1)),
            (None, cylinder(c, cx, cy - 0.55 * s, 0.08 * s, 0.3 * s))]


def tvmonitor(c, cx, cy, s, f, rng):
    return [(None, box(c, cx, cy - 0.1 * s, 1.0 * s, 0.7 * s, 0.1 * s, yaw=rng.uniform(-0.5, 0.5), pitch=0.05)),
            (None, limb(c, cx, cy + 0.25 * s, cx, cy + 0.45 * s, 0.05 * s)),
            (None, box(c, cx, cy + 0.47 * s, 0.5 * s, 0.05 * s, 0.3 * s, yaw=0.0, pitch=0.6))]


def person(c, cx, cy, s, f, rng, build=1.0):
    """A standing person of height `s` from PASCAL-Part's part names; `build` scales the
    widths of torso, limbs and head (1: slim; the `easy` variant draws them broader so
    that at 64² an arm is more than a pixel or two across)."""
    top, w = cy - 0.5 * s, build * s
    head_y, shoulder_y, hip_y = top + 0.1 * s, top + 0.25 * s, top + 0.55 * s
    out = [
        ("head", ellipsoid(c, cx, head_y, 0.075 * w, 0.09 * s)),
        ("hair", ellipsoid(c, cx - f * 0.01 * w, head_y - 0.05 * s, 0.08 * w, 0.05 * s)),
        ("neck", limb(c, cx, head_y + 0.08 * s, cx, shoulder_y, 0.035 * w)),
        ("torso", ellipsoid(c, cx, (shoulder_y + hip_y) / 2, 0.13 * w, 0.17 * s)),
    ]
    for side, name in ((-1, "l"), (1, "r")):
        sx, elbow_a, hand_a = cx + side * 0.13 * w, rng.uniform(-0.5, 0.9), rng.uniform(-1.2, 1.2)
        ex, ey = sx + side * 0.2 * s * np.sin(elbow_a), shoulder_y + 0.04 * s + 0.2 * s * np.cos(elbow_a)
        hx, hy = ex + side * 0.18 * s * np.sin(hand_a), ey + 0.18 * s * np.cos(hand_a)
        out += [(name + "uarm", limb(c, sx, shoulder_y + 0.04 * s, ex, ey, 0.04 * w)),
                (name + "larm", limb(c, ex, ey, hx, hy, 0.033 * w)),
                (name + "hand", ellipsoid(c, hx, hy, 0.035 * w, 0.035 * w))]
        kx, ky = cx + side * 0.08 * w + rng.uniform(-0.05, 0.05) * s, hip_y + 0.2 * s
        fx, fy = kx + rng.uniform(-0.05, 0.05) * s, top + 0.95 * s
        out += [(name + "uleg", limb(c, cx + side * 0.07 * w, hip_y, kx, ky, 0.055 * w)),
                (name + "lleg", limb(c, kx, ky, fx, fy, 0.045 * w)),
                (name + "foot", ellipsoid(c, fx + f * 0.03 * s, fy + 0.02 * s, 0.06 * s, 0.03 * s))]
    return out


RECIPES = {name: globals()[name] for name in list(LOOKS) + ["person"]}


def person_look(part_name, clothes):
    """Skin on head and hands, a shirt on torso and arms, trousers, shoes."""
    if part_name in ("head", "neck", "lhand", "rhand"):
        return ("grain", SKIN, (200, 150, 120), 8.0)
    if part_name == "hair":
        return ("fur", (50, 35, 20), (90, 60, 30), 1.5)
    if part_name.endswith("foot"):
        return ("grain", SHOES, (70, 60, 50), 4.0)
    if part_name.endswith("leg"):
        return clothes[1]
    return clothes[0]
