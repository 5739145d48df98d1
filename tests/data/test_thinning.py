import numpy as np
import scipy.ndimage

from ct_keras.data.thinning import semantic_edges, thin


def test_boundary_between_two_regions_is_one_pixel_wide():
    label_map = np.zeros((20, 20), np.int32)
    label_map[:, 10:] = 7
    edges = semantic_edges(label_map)
    # The Laplacian marks two columns; thinning keeps one per row (ends may shorten by one).
    assert set(edges[1:-1].sum(axis=1).tolist()) == {1}
    assert set(np.nonzero(edges)[1].tolist()) <= {9, 10}


def test_closed_outline_stays_closed():
    label_map = np.zeros((30, 30), np.int32)
    label_map[8:22, 6:24] = 3
    edges = semantic_edges(label_map).astype(bool)
    _, num_inside = scipy.ndimage.label(~edges)
    assert num_inside == 2  # the outline separates inside from outside
    assert scipy.ndimage.label(edges, np.ones((3, 3)))[1] == 1


def test_thin_keeps_a_line_and_empties_nothing_else():
    mask = np.zeros((9, 9), bool)
    mask[4, 1:8] = True
    assert np.array_equal(thin(mask), mask)
    assert not thin(np.zeros((5, 5), bool)).any()
