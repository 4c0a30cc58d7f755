"""Graceful degradation: a head turn further than the photo can show is eased back.

A target that faces the camera with parts of the face the source hides and the mirror cannot fill (both
sides hidden: under the chin of a photo taken from above, the far side of a profile whose near side is cut
by the frame) would open holes that take their surroundings' flow: smears. When those parts exceed
:data:`UNFILLED_LIMIT` of the target's visible face, the target's turn relative to the source is reduced
(about its rigid points' centre) to the largest fraction that stays under the limit, and the log says so once.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial.transform import Rotation

from ..face import topology
from ..motion.pose import umeyama
from .mesh import ControlMesh, signed_areas

log = logging.getLogger("headshot")

# Fraction of the target's front-facing face area that may be parts nothing fills.
UNFILLED_LIMIT = 0.03
SEARCH_STEPS = 5


class TurnEaser:
    """Eases targets whose turn would uncover unfillable parts of a source's face.

    Args:
        mesh: the source's control mesh.
        unfilled: ``(F,)`` bool, face triangles that are never drawn (hidden in the source, no mirror).
    """

    def __init__(self, mesh: ControlMesh, unfilled: np.ndarray):
        self.mesh = mesh
        self.unfilled = np.asarray(unfilled, bool)
        self.eased_frames = 0
        self._told = False

    def unfilled_fraction(self, target: np.ndarray) -> float:
        """Fraction of ``target``'s front-facing face area (the mesh's face triangles) left unfilled."""
        points, _ = self.mesh.target_points(target)
        area = signed_areas(points, self.mesh.face)
        front = area > 0
        total = float(area[front].sum())
        return float(area[front & self.unfilled].sum()) / total if total > 0 else 0.0

    def __call__(self, target: np.ndarray) -> np.ndarray:
        """``target`` ``(478, 3)``, or a copy turned part of the way back towards the source's pose."""
        if not self.unfilled.any() or self.unfilled_fraction(target) <= UNFILLED_LIMIT:
            return target
        source = self.mesh.source_landmarks
        rotation, _, _ = umeyama(source[topology.RIGID], np.asarray(target, np.float64)[topology.RIGID])
        turn = Rotation.from_matrix(rotation).as_rotvec()
        centre = np.asarray(target, np.float64)[topology.RIGID].mean(0)
        low, high, best = 0.0, 1.0, None
        for _ in range(SEARCH_STEPS):
            keep = 0.5 * (low + high)
            candidate = self._turned_back(target, turn, 1.0 - keep, centre)
            if self.unfilled_fraction(candidate) <= UNFILLED_LIMIT:
                low, best = keep, candidate
            else:
                high = keep
        if best is None:
            best = self._turned_back(target, turn, 1.0, centre)
        self.eased_frames += 1
        if not self._told:
            self._told = True
            log.warning("the head turns further than the photo shows: the turn is eased (to %.0f%% in the first "
                        "such frame) instead of tearing the face", 100 * low)
        return best

    @staticmethod
    def _turned_back(target: np.ndarray, turn: np.ndarray, amount: float, centre: np.ndarray) -> np.ndarray:
        back = Rotation.from_rotvec(-amount * turn).as_matrix()
        moved = (np.asarray(target, np.float64) - centre) @ back.T + centre
        return moved.astype(np.float32)
