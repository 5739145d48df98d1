"""Shaded 3-D primitives and textures for the synthetic PASCAL-MT (see `synthetic`).

Orthographic view, camera looking down −z; normals are (x right, y up, z towards
the viewer), the convention of the distilled normals. Every primitive returns
`(mask, normals, height)` on the full image grid, `height` being the distance of the
surface in front of the object's base plane (for occlusion inside an object).
"""

import numpy as np

import cv2


class Canvas:
    """The pixel grid of one image, shared by every primitive drawn on it."""

    def __init__(self, height, width):
        self.height, self.width = height, width
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)


def _normalise(n):
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)


def ellipsoid(c, cx, cy, rx, ry):
    u, v = (c.x - cx) / rx, (c.y - cy) / ry
    r2 = u * u + v * v
    mask = r2 < 1.0
    w = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    rz = min(rx, ry)
    normals = _normalise(np.stack([u / rx, -v / ry, w / rz], -1))
    return mask, normals, w * rz


def limb(c, x0, y0, x1, y1, radius):
    """A capsule (cylinder with round ends) from (x0, y0) to (x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((c.x - x0) * dx + (c.y - y0) * dy) / max(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    px, py = (c.x - x0 - t * dx) / radius, (c.y - y0 - t * dy) / radius
    r2 = px * px + py * py
    mask = r2 < 1.0
    w = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    return mask, _normalise(np.stack([px, -py, w], -1)), w * radius


def _rotation(yaw, pitch):
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return r_pitch @ r_yaw


def box(c, cx, cy, w, h, d, yaw=0.4, pitch=0.3):
    """A box of size (w, h, d) turned by `yaw` and tilted towards the viewer by `pitch`."""
    rot = _rotation(yaw, pitch)
    mask = np.zeros((c.height, c.width), bool)
    normals = np.zeros((c.height, c.width, 3), np.float32)
    height = np.zeros((c.height, c.width), np.float32)
    half = np.array([w, h, d]) / 2.0
    for axis in range(3):
        for side in (-1.0, 1.0):
            n = rot[:, axis] * side
            if n[2] <= 0.05:  # faces turned away are hidden by the visible ones
                continue
            a, b = [i for i in range(3) if i != axis]
            corners = []
            for sa, sb in ((-1, -1), (-1, 1), (1, 1), (1, -1)):
                p = np.zeros(3)
                p[axis], p[a], p[b] = side * half[axis], sa * half[a], sb * half[b]
                q = rot @ p
                corners.append((cx + q[0], cy - q[1]))
            face = np.zeros((c.height, c.width), np.uint8)
            cv2.fillConvexPoly(face, np.round(np.array(corners) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
            face = face.astype(bool)
            mask |= face
            normals[face] = n
            height[face] = half.max()
    return mask, normals, height


def cylinder(c, cx, cy, r, length, vertical=True):
    """A cylinder seen from slightly above (vertical) or from the side (horizontal)."""
    along, across = (c.y - cy, c.x - cx) if vertical else (c.x - cx, c.y - cy)
    u = across / r
    body = (np.abs(u) < 1.0) & (np.abs(along) < length / 2)
    w = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
    if vertical:
        n = np.stack([u, np.zeros_like(u), w], -1)
        cap_axis = np.array([0.0, 0.95, 0.31])
        cap = ((c.x - cx) / r) ** 2 + ((c.y - cy + length / 2) / (0.3 * r)) ** 2 < 1.0
    else:
        n = np.stack([np.zeros_like(u), -u, w], -1)
        cap_axis = np.array([0.95, 0.0, 0.31])
        cap = ((c.x - cx - length / 2) / (0.3 * r)) ** 2 + ((c.y - cy) / r) ** 2 < 1.0
    normals = np.where(cap[..., None], cap_axis, n).astype(np.float32)
    return body | cap, _normalise(normals), np.where(cap, r, w * r)


def flat(c, points, normal=(0.0, 0.0, 1.0)):
    """A flat polygon (wings, sails, ears) facing `normal`."""
    mask = np.zeros((c.height, c.width), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    mask = mask.astype(bool)
    normals = np.broadcast_to(_normalise(np.asarray(normal, np.float32)), mask.shape + (3,))
    return mask, normals, np.zeros(mask.shape, np.float32)


def ring(c, cx, cy, r_out, r_in):
    """A wheel seen from the side: a torus-like tyre around a hub."""
    d = np.hypot(c.x - cx, c.y - cy)
    mask = (d < r_out) & ((d > r_in) | (d < 0.25 * r_in))
    t = np.clip((d - (r_out + r_in) / 2) / max((r_out - r_in) / 2, 1e-3), -1.0, 1.0)
    radial_x, radial_y = (c.x - cx) / np.maximum(d, 1e-3), -(c.y - cy) / np.maximum(d, 1e-3)
    w = np.sqrt(1.0 - t * t)
    return mask, _normalise(np.stack([t * radial_x, t * radial_y, w], -1)), w


# Textures: `(kind, colour, second colour, scale)`, a pattern in [0, 1] blends the two.
def texture(c, kind, colour, second, scale, rng):
    phase, angle = rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)
    u = c.x * np.cos(angle) + c.y * np.sin(angle)
    v = -c.x * np.sin(angle) + c.y * np.cos(angle)
    if kind == "stripes":
        p = 0.5 + 0.5 * np.sin(u / scale + phase) > 0.5
    elif kind == "checker":
        p = (np.floor(u / scale + phase) + np.floor(v / scale)) % 2
    elif kind == "spots":
        p = (np.sin(u / scale + phase) * np.sin(v / scale * 1.3 + phase)) > 0.55
    elif kind == "windows":
        p = (np.sin(c.x / scale + phase) > 0.2) & (np.sin(c.y / scale) > 0.0)
    elif kind == "fur":
        p = 0.5 + 0.5 * np.sin(u / scale + 3 * np.sin(v / (3 * scale) + phase))
    else:  # "grain"
        small = rng.uniform(0, 1, (max(2, int(c.height / scale)), max(2, int(c.width / scale))))
        p = cv2.resize(small.astype(np.float32), (c.width, c.height), interpolation=cv2.INTER_LINEAR)
    p = np.asarray(p, np.float32)[..., None]
    jitter = rng.uniform(0.85, 1.15, 3)
    return np.clip((np.asarray(colour) * (1 - p) + np.asarray(second) * p) * jitter, 0, 255)
