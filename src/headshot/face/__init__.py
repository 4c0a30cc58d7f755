"""Face analysis: 478-point landmarks, smoothing, crops and paste-back."""

from .landmarker import FaceAnalyzer, FaceObservation

__all__ = ["FaceAnalyzer", "FaceObservation"]
