"""Dense backward flow from a triangle mesh: a triangle-index map rasterised at reduced resolution, one
affine map per triangle, upsampled to full resolution.

Convention: a flow is float32 ``(H, W, 2)``, the displacement (pixels, x then y) to add to an output
pixel's coordinates to find where to sample the source (backward mapping, as ``cv2.remap`` expects).
"""

from __future__ import annotations

import cv2
import numpy as np

NO_TRIANGLE = -1
_SUBPIXEL_BITS = 4
EDGE_JUMP = 3.0  # pixels of flow difference between neighbours that mark an occlusion edge (clamp_edges)


def triangle_frames(points: np.ndarray, triangles: np.ndarray, tolerance: float = 1e-6):
    """Per triangle of ``points`` ``(V, 2+)``: its first corner ``t0`` ``(T, 2)``, edges ``e1 = t1 - t0`` and
    ``e2 = t2 - t0``, twice its signed area ``det``, ``ok`` (``|det| > tolerance``) and ``1 / det`` (0 where
    not ok): what the affine maps and barycentric coordinates over the triangles are made of."""
    t0, t1, t2 = (points[triangles[:, i], :2] for i in range(3))
    e1, e2 = t1 - t0, t2 - t0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > tolerance
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    return t0, e1, e2, det, ok, inv_det


def backward_affines(source_points: np.ndarray, target_points: np.ndarray,
                     triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle affine displacement ``target pixel -> source pixel - target pixel``.

    Args:
        source_points, target_points: ``(V, 2)`` vertex positions (pixels).
        triangles: ``(T, 3)`` vertex indices.

    Returns:
        ``coefficients`` float64 ``(T, 6)``: ``dx = c0 + c1 x + c2 y``, ``dy = c3 + c4 x + c5 y``; and
        ``twice_area`` ``(T,)``: twice the signed target area (pixels², positive = same orientation as
        a positively oriented source triangle). Degenerate triangles get zero coefficients.
    """
    t0, e1, e2, det, ok, inv_det = triangle_frames(target_points, triangles)
    s0, s1, s2 = (source_points[triangles[:, i]] for i in range(3))
    # inverse of [[e1x, e2x], [e1y, e2y]]
    i00, i01 = e2[:, 1] * inv_det, -e2[:, 0] * inv_det
    i10, i11 = -e1[:, 1] * inv_det, e1[:, 0] * inv_det
    f1, f2 = s1 - s0, s2 - s0
    a00 = f1[:, 0] * i00 + f2[:, 0] * i10
    a01 = f1[:, 0] * i01 + f2[:, 0] * i11
    a10 = f1[:, 1] * i00 + f2[:, 1] * i10
    a11 = f1[:, 1] * i01 + f2[:, 1] * i11
    # source = s0 + A (p - t0)  =>  displacement = (s0 - A t0) + (A - I) p
    c0 = s0[:, 0] - (a00 * t0[:, 0] + a01 * t0[:, 1])
    c3 = s0[:, 1] - (a10 * t0[:, 0] + a11 * t0[:, 1])
    coefficients = np.stack([c0, a00 - 1.0, a01, c3, a10, a11 - 1.0], axis=1)
    coefficients[~ok] = 0.0
    return coefficients, det


def vertex_affines(target_points: np.ndarray, triangles: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-triangle affine ``(T, 3)`` ``v = c0 + c1 x + c2 y`` interpolating per-vertex ``values`` ``(V,)``
    linearly over each target triangle (zero for degenerate ones)."""
    t0, e1, e2, _, ok, inv_det = triangle_frames(target_points, triangles)
    v0, v1, v2 = (values[triangles[:, i]] for i in range(3))
    d1, d2 = v1 - v0, v2 - v0
    gx = (d1 * e2[:, 1] - d2 * e1[:, 1]) * inv_det
    gy = (d2 * e1[:, 0] - d1 * e2[:, 0]) * inv_det
    coefficients = np.stack([v0 - gx * t0[:, 0] - gy * t0[:, 1], gx, gy], axis=1)
    coefficients[~ok] = 0.0
    return coefficients


def clamp_edges(flow: np.ndarray, index: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray,
                source_points: np.ndarray, target_points: np.ndarray, triangles: np.ndarray) -> None:
    """Edge pixels of a triangle-index map (a 4-neighbour in another triangle) whose centre lies outside
    their own triangle, where the flow jumps by more than :data:`EDGE_JUMP` (an occlusion edge, a fold), get
    the flow to the source of the nearest point of that triangle (barycentric coordinates clamped at 0),
    in place. ``flow`` ``(h, w, 2)`` and ``index`` ``(h, w)`` share the pixel
    centres ``grid_x``, ``grid_y`` (output pixels). The rasteriser also fills pixels a triangle's edges
    touch; there a thin triangle turned nearly edge-on, or one beside the hair, extrapolates its affine
    map well past its source footprint: a dark speck of hair sampled into the cheek's outline."""
    # Only where the flow jumps: across a shared edge neighbouring maps agree, and a pixel of overreach
    # there is harmless (and most of the map is such edges).
    fx, fy = flow[..., 0], flow[..., 1]
    jump_x = (np.abs(fx[:, 1:] - fx[:, :-1]) > EDGE_JUMP) | (np.abs(fy[:, 1:] - fy[:, :-1]) > EDGE_JUMP)
    jump_y = (np.abs(fx[1:] - fx[:-1]) > EDGE_JUMP) | (np.abs(fy[1:] - fy[:-1]) > EDGE_JUMP)
    edge = np.zeros(index.shape, bool)
    edge[:, 1:] |= jump_x
    edge[:, :-1] |= jump_x
    edge[1:] |= jump_y
    edge[:-1] |= jump_y
    edge &= index >= 0
    ys, xs = np.nonzero(edge)
    if not len(ys):
        return
    which = index[ys, xs]
    tri = triangles[which]
    px, py = grid_x[ys, xs].astype(np.float64), grid_y[ys, xs].astype(np.float64)
    t0, e1, e2, _, ok, inv_det = (part[which] for part in triangle_frames(target_points, triangles, 1e-9))
    dx, dy = px - t0[:, 0], py - t0[:, 1]
    b1 = (dx * e2[:, 1] - dy * e2[:, 0]) * inv_det
    b2 = (dy * e1[:, 0] - dx * e1[:, 1]) * inv_det
    bary = np.stack([1.0 - b1 - b2, b1, b2], axis=1)
    outside = ok & (bary < 0.0).any(axis=1)
    if not outside.any():
        return
    bary = np.maximum(bary[outside], 0.0)
    bary /= bary.sum(axis=1, keepdims=True)
    tri = tri[outside]
    source = sum(bary[:, i:i + 1] * source_points[tri[:, i], :2] for i in range(3))
    flow[ys[outside], xs[outside], 0] = source[:, 0] - px[outside]
    flow[ys[outside], xs[outside], 1] = source[:, 1] - py[outside]


class FlowRasteriser:
    """Turns per-triangle affine maps into a full-resolution backward flow.

    Args:
        size: output side in pixels (square).
        scale: resolution of the triangle-index map relative to the output (0.5: a 256 px map for a
            512 px output). The flow is piecewise affine, so bilinear upsampling loses little except at
            occlusion edges.
    """

    def __init__(self, size: int, scale: float):
        self.size = int(size)
        self.map_size = max(8, int(round(size * scale)))
        self.scale = self.map_size / self.size
        centres = (np.arange(self.map_size, dtype=np.float32) + 0.5) / self.scale - 0.5
        self._x, self._y = np.meshgrid(centres, centres)
        self._index = np.empty((self.map_size, self.map_size), np.int32)
        grid = np.arange(self.size, dtype=np.float32)
        self.grid_x, self.grid_y = np.meshgrid(grid, grid)

    def index_map(self, target_points: np.ndarray, triangles: np.ndarray,
                  order: np.ndarray) -> np.ndarray:
        """Rasterise ``triangles[order]`` (later ones on top) into an int32 map of triangle indices
        (``NO_TRIANGLE`` where none), at the reduced resolution."""
        low = (target_points + 0.5) * self.scale - 0.5
        corners = np.round(low[triangles] * (1 << _SUBPIXEL_BITS)).astype(np.int32)
        index = self._index
        index.fill(NO_TRIANGLE)
        fill = cv2.fillConvexPoly
        for t in order.tolist():
            fill(index, corners[t], t, cv2.LINE_8, _SUBPIXEL_BITS)
        return index

    def flow(self, index: np.ndarray, coefficients: np.ndarray, mesh: tuple | None = None) -> np.ndarray:
        """Full-resolution backward flow ``(H, W, 2)`` float32 from an index map and per-triangle
        coefficients (see :func:`backward_affines`); zero where no triangle and on the frame border.

        ``mesh``: ``(source_points, target_points, triangles)`` of the coefficients; with it, map pixels on
        a triangle's edge whose centre lies outside the triangle (the rasteriser also fills pixels its
        edges touch) sample the nearest point of the triangle's source instead of extrapolating its
        affine map (see :meth:`_clamp_edges`)."""
        table = np.vstack([coefficients, np.zeros((1, 6))]).astype(np.float32)
        flat = index.ravel()
        flat = np.where(flat < 0, len(coefficients), flat)
        x, y = self._x.ravel(), self._y.ravel()
        c = table[flat]
        low = np.empty((self.map_size * self.map_size, 2), np.float32)
        low[:, 0] = c[:, 0] + c[:, 1] * x + c[:, 2] * y
        low[:, 1] = c[:, 3] + c[:, 4] * x + c[:, 5] * y
        low = low.reshape(self.map_size, self.map_size, 2)
        if mesh is not None:
            clamp_edges(low, index, self._x, self._y, *mesh)
        holes = index < 0
        if holes.any():
            low = self._fill_holes(low, holes)
        if self.map_size == self.size:
            full = low
        else:
            full = cv2.resize(low, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        full[0, :] = 0.0
        full[-1, :] = 0.0
        full[:, 0] = 0.0
        full[:, -1] = 0.0
        return full

    def affine_field(self, index: np.ndarray, table: np.ndarray, first: int = 0, extend: int = 0):
        """Full-resolution fields ``(h, w, K)`` float32 of per-triangle affines ``table`` ``(T, 3K)`` (rows
        ``c0 + c1 x + c2 y`` per channel) over an index map, inside the box of the pixels whose triangle is
        ``first`` or later and has a non-zero row; returns ``(field, (x0, y0, x1, y1))``, or ``(None, None)``
        when there is no such pixel. Zero where no such triangle, except for the first ``extend`` channels,
        which there take the values of the covered pixels next to them."""
        active = np.zeros(len(table) + 1, bool)
        active[first:len(table)] = np.abs(table[first:]).max(1) > 0
        hit = active[index]
        if not hit.any():
            return None, None
        rows, cols = np.nonzero(hit.any(1))[0], np.nonzero(hit.any(0))[0]
        pad = 2
        ly0, ly1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, self.map_size)
        lx0, lx1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, self.map_size)
        sub = index[ly0:ly1, lx0:lx1]
        keep = active[sub]
        k = table.shape[1] // 3
        full_table = np.vstack([table, np.zeros((1, table.shape[1]))]).astype(np.float32)
        c = full_table[np.where(keep, sub, len(table))]
        x, y = self._x[ly0:ly1, lx0:lx1, None], self._y[ly0:ly1, lx0:lx1, None]
        low = c[..., 0::3] + c[..., 1::3] * x + c[..., 2::3] * y
        if extend and not keep.all():
            # Pixels outside the active triangles take their active neighbours' values, so that upsampling
            # does not pull the fields towards zero along the active region's edge.
            valid = keep.astype(np.float32)
            total = cv2.blur(valid, (5, 5))
            head = low[..., :extend]
            spread = cv2.blur(head * valid[..., None], (5, 5)).reshape(head.shape) / np.maximum(total, 1e-6)[..., None]
            low[..., :extend] = np.where(keep[..., None] | (total <= 0)[..., None], head, spread)
        # The full-resolution box the low-resolution one covers.
        x0, y0 = int(lx0 / self.scale), int(ly0 / self.scale)
        x1, y1 = min(int(np.ceil(lx1 / self.scale)), self.size), min(int(np.ceil(ly1 / self.scale)), self.size)
        if self.map_size == self.size:
            return low, (x0, y0, x1, y1)
        full = cv2.resize(low, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return full.reshape(y1 - y0, x1 - x0, k), (x0, y0, x1, y1)

    def remap_box(self, image: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Sample ``image`` at ``pixel + flow`` for the pixels of ``box`` (``flow`` covers the box)."""
        x0, y0, x1, y1 = box
        return cv2.remap(image, self.grid_x[y0:y1, x0:x1] + flow[..., 0], self.grid_y[y0:y1, x0:x1] + flow[..., 1],
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def refine(self, flow: np.ndarray, box: tuple[int, int, int, int], target_points: np.ndarray,
               triangles: np.ndarray, order: np.ndarray, coefficients: np.ndarray,
               source_points: np.ndarray | None = None) -> None:
        """Recompute ``flow`` (full resolution, modified in place) inside ``box`` ``(x0, y0, x1, y1)`` from
        the triangles at full resolution.

        Upsampling a reduced-resolution flow blends the maps of neighbouring triangles across their
        shared edge; where the source pixels on either side are far apart (closed target lips over an
        open source mouth: the upper lip samples above the teeth, the lower lip below) the blended rows
        sample what lies between, the source's teeth, as a jagged line. Inside the box every pixel takes
        its own triangle's map; pixels no triangle covers keep the upsampled flow. With ``source_points``,
        edge pixels outside their triangle are clamped to it (:func:`clamp_edges`), as in :meth:`flow`.
        """
        x0, y0, x1, y1 = box
        if self.map_size == self.size or x1 - x0 < 2 or y1 - y0 < 2:
            return
        corners = target_points[triangles[order]]
        a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
        low, high = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
        near = (high[:, 0] >= x0 - 1) & (low[:, 0] <= x1) & (high[:, 1] >= y0 - 1) & (low[:, 1] <= y1)
        chosen = order[near]
        shifted = np.round((corners[near] - (x0, y0)) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
        index = np.full((y1 - y0, x1 - x0), NO_TRIANGLE, np.int32)
        fill = cv2.fillConvexPoly
        for t, polygon in zip(chosen.tolist(), shifted):
            fill(index, polygon, t, cv2.LINE_8, _SUBPIXEL_BITS)
        ys, xs = np.nonzero(index >= 0)
        k = coefficients[index[ys, xs]].astype(np.float32)
        x, y = (xs + x0).astype(np.float32), (ys + y0).astype(np.float32)
        patch = flow[y0:y1, x0:x1]
        patch[ys, xs, 0] = k[:, 0] + k[:, 1] * x + k[:, 2] * y
        patch[ys, xs, 1] = k[:, 3] + k[:, 4] * x + k[:, 5] * y
        if source_points is not None:
            clamp_edges(patch, index, self.grid_x[y0:y1, x0:x1], self.grid_y[y0:y1, x0:x1], source_points,
                        target_points, triangles)

    @staticmethod
    def _fill_holes(low: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Give pixels no triangle covers (culled flipped or degenerate triangles) the mean flow of the
        covered pixels around them (normalised box filter, growing until every hole is reached)."""
        valid = (~holes).astype(np.float32)
        weighted = low * valid[..., None]
        size = max(3, low.shape[0] // 64 * 2 + 1)
        for _ in range(4):
            total = cv2.blur(valid, (size, size))
            summed = cv2.blur(weighted, (size, size))
            reached = holes & (total > 1e-3)
            low[reached] = summed[reached] / total[reached][:, None]
            holes = holes & ~reached
            if not holes.any():
                break
            size = size * 2 + 1
        low[holes] = 0.0
        return low

    def maps(self, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The absolute sampling maps ``(map_x, map_y)`` float32 ``(H, W)`` of a flow (``cv2.remap``'s)."""
        return self.grid_x + flow[..., 0], self.grid_y + flow[..., 1]

    def remap(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Sample ``image`` (HWC) at ``pixel + flow`` (bilinear, edges replicated)."""
        return cv2.remap(image, self.grid_x + flow[..., 0], self.grid_y + flow[..., 1],
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
