"""The flow rasteriser at occlusion edges: a pixel the rasteriser gives a thin triangle, with its centre
outside it, must not extrapolate the triangle's map past its source footprint (a speck of hair sampled
into the cheek's outline on a turning say clip)."""

from __future__ import annotations

import numpy as np

from headshot.render.raster import EDGE_JUMP, FlowRasteriser, backward_affines, clamp_edges

SIZE = 64


def _inside(point: np.ndarray, triangle: np.ndarray, slack: float) -> bool:
    """Whether ``point`` is within ``slack`` pixels of ``triangle`` (3, 2)."""
    a, b, c = triangle
    for p, q, r in ((a, b, c), (b, c, a), (c, a, b)):
        edge = q - p
        normal = np.array([-edge[1], edge[0]]) / np.linalg.norm(edge)
        if np.dot(normal, r - p) < 0:
            normal = -normal
        if np.dot(normal, point - p) < -slack:
            return False
    return True


def _scene():
    """A still background quad and, on top, a sliver that the target squeezes to a thirtieth of its
    source width (a cheek strip turned nearly edge-on), moved about 6 px."""
    source = np.array([[0, 0], [63, 0], [63, 63], [0, 63],  # background corners
                       [20, 10], [35, 10], [28, 50]], np.float64)  # sliver: wide in the source
    target = source.copy()
    target[4:] = [[30.3, 12], [30.8, 12], [30.55, 52]]  # ... half a pixel wide, between pixel centres
    triangles = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6]])
    return source, target, triangles


def test_edge_pixels_of_a_squeezed_triangle_sample_inside_its_source():
    source, target, triangles = _scene()
    rasteriser = FlowRasteriser(SIZE, 1.0)
    order = np.array([0, 1, 2])
    coefficients, _ = backward_affines(source, target, triangles)
    index = rasteriser.index_map(target, triangles, order).copy()
    sliver = np.argwhere(index == 2)
    assert len(sliver) > 10
    grid = np.stack([rasteriser._x, rasteriser._y], axis=-1)

    plain = rasteriser.flow(index, coefficients)
    clamped = rasteriser.flow(index, coefficients, (source, target, triangles))
    # Without the clamp, the sliver's edge pixels reach far outside its source (that is the defect) ...
    far_out = [not _inside(grid[y, x] + plain[y, x], source[triangles[2]], 3 * EDGE_JUMP) for y, x in sliver]
    assert sum(far_out) >= 2
    # ... with it, every pixel of the sliver samples its own source triangle, or (where its flow does not
    # jump from its neighbours' by more than EDGE_JUMP: not an occlusion edge) stays that close to it.
    for y, x in sliver:
        assert _inside(grid[y, x] + clamped[y, x], source[triangles[2]], EDGE_JUMP), (y, x)
    # Pixels away from the occlusion edge are untouched.
    far = index == 0
    far[:, 10:50] = False
    np.testing.assert_array_equal(plain[far], clamped[far])


def test_clamp_leaves_a_continuous_mesh_alone():
    """Across edges shared by neighbouring triangles the maps agree: nothing jumps, nothing changes."""
    source = np.array([[0, 0], [63, 0], [63, 63], [0, 63], [30, 30]], np.float64)
    target = source.copy()
    target[4] += (3, -2)  # a smooth bend, no fold
    triangles = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    rasteriser = FlowRasteriser(SIZE, 1.0)
    coefficients, _ = backward_affines(source, target, triangles)
    index = rasteriser.index_map(target, triangles, np.arange(4)).copy()
    plain = rasteriser.flow(index, coefficients)
    before = plain.copy()
    clamp_edges(plain, index, rasteriser._x, rasteriser._y, source, target, triangles)
    np.testing.assert_array_equal(plain, before)
