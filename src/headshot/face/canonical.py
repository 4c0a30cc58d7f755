"""MediaPipe's canonical face: the frontal, symmetric 468-vertex mesh inside ``face_landmarker.task``.

The same mesh MediaPipe uses for its facial transformation matrix. ``face/topology.py`` orients the
tesselation with it and ``motion/pose.py`` builds its frontal reference from it, so it lives here, below
both. The model file is a zip whose ``geometry_pipeline_metadata_landmarks.binarypb`` entry is a
serialised protobuf; it is read with a few lines of wire-format parsing (no schema, no protobuf package).
"""

from __future__ import annotations

import functools
import struct
import zipfile

import numpy as np

from ..assets import face_landmarker_path

_GEOMETRY_ENTRY = "geometry_pipeline_metadata_landmarks.binarypb"


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _protobuf_fields(buffer: bytes):
    """Yield ``(field_number, wire_type, value)`` of a serialised protobuf message (no schema needed)."""
    position = 0
    while position < len(buffer):
        key, position = _varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(buffer, position)
        elif wire_type == 1:
            value, position = buffer[position:position + 8], position + 8
        elif wire_type == 2:
            length, position = _varint(buffer, position)
            value, position = buffer[position:position + length], position + length
        elif wire_type == 5:
            value, position = buffer[position:position + 4], position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield number, wire_type, value


@functools.lru_cache(maxsize=1)
def canonical_face_model() -> np.ndarray:
    """MediaPipe's canonical face mesh ``(468, 3)`` float64, in the landmark axes (x right, y down,
    z away from the camera), in centimetres, as stored in ``face_landmarker.task``.

    The file holds a ``GeometryPipelineMetadata`` message whose field 1 is the canonical ``Mesh3d``;
    its field 3 is the vertex buffer, 5 floats per vertex (x, y, z, u, v; y up, z towards the viewer).
    """
    with zipfile.ZipFile(face_landmarker_path()) as archive:
        metadata = archive.read(_GEOMETRY_ENTRY)
    mesh = next(value for number, wire, value in _protobuf_fields(metadata) if number == 1 and wire == 2)
    floats: list[float] = []
    for number, wire, value in _protobuf_fields(mesh):
        if number != 3:
            continue
        if wire == 5:
            floats.append(struct.unpack("<f", value)[0])
        elif wire == 2:  # packed encoding
            floats.extend(struct.unpack(f"<{len(value) // 4}f", value))
    vertices = np.asarray(floats, dtype=np.float64).reshape(-1, 5)[:, :3]
    if vertices.shape != (468, 3):
        raise RuntimeError(f"unexpected canonical face model shape {vertices.shape}")
    return vertices * np.array([1.0, -1.0, -1.0])
