"""Semantic edges of PASCAL-Context: thinned nonzero Laplacian of the `LabelMap` (ASTMT).

ASTMT and the reference thin with scikit-image's `thin`, the two-subiteration
algorithm of Guo & Hall (1989) in the form of Lam, Lee & Suen (1992, PAMI 14(9)).
scikit-image is not a dependency of this project, so the same rules are written
here as two 256-entry lookup tables over the 8-neighbourhood.
"""

import numpy as np
import scipy.ndimage

import cv2

# Bit i of a neighbourhood code is neighbour x_{i+1} of the paper, counter-clockwise
# from the east: E, NE, N, NW, W, SW, S, SE.
_NEIGHBOUR_WEIGHTS = np.array([[8, 4, 2], [16, 0, 1], [32, 64, 128]], np.int32)


def _deletion_tables():
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        x = [(code >> i) & 1 for i in range(8)] + [code & 1]  # x[8] wraps to x[0]
        # Condition G1: exactly one 4-connected run of object pixels around p.
        crossings = sum(1 for i in (0, 2, 4, 6) if not x[i] and (x[i + 1] or x[i + 2]))
        # Condition G2: 2 <= min(n1, n2) <= 3, so that end points are kept.
        n1 = sum(1 for k in (1, 3, 5, 7) if x[k - 1] or x[k])
        n2 = sum(1 for k in (1, 3, 5, 7) if x[k] or x[k + 1])
        g12 = crossings == 1 and min(n1, n2) in (2, 3)
        # Conditions G3 / G3': p is on a north-east (resp. south-west) boundary.
        g3 = not ((x[1] or x[2] or not x[7]) and x[0])
        g3p = not ((x[5] or x[6] or not x[3]) and x[4])
        first[code] = g12 and g3
        second[code] = g12 and g3p
    return first, second


_FIRST, _SECOND = _deletion_tables()


def thin(mask):
    """Thins a boolean mask to one-pixel-wide lines, keeping its connectivity."""
    skeleton = np.asarray(mask, bool).astype(np.uint8)
    previous = -1
    while previous != skeleton.sum():
        previous = skeleton.sum()
        for table in (_FIRST, _SECOND):
            codes = scipy.ndimage.correlate(skeleton, _NEIGHBOUR_WEIGHTS.astype(np.uint8), mode="constant")
            skeleton[table[codes] & (skeleton > 0)] = 0
    return skeleton.astype(bool)


def semantic_edges(label_map):
    """`uint8 {0, 1}` edges between the regions of a PASCAL-Context `LabelMap`."""
    laplacian = cv2.Laplacian(np.asarray(label_map, np.float64), cv2.CV_64F)
    return thin(np.abs(laplacian) > 0).astype(np.uint8)
