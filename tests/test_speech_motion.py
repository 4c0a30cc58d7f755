"""Speech motion on the bundled astronaut: lips shut on p/b/m, open on "a", round on "u", teeth on lip
for "f"; anticipation; pauses at rest; head, blinks and brows from prosody; mouth-only transfer; warp
renders of the mouth shapes."""

from __future__ import annotations

import numpy as np
import pytest

from headshot.face.crop import crop, crop_box
from headshot.motion.pose import decompose, rotation_angle
from headshot.motion.presets import preset
from headshot.motion.retarget import eye_openness, face_size, mouth_openness
from headshot.motion.template import MotionTemplate
from headshot.speech.coarticulation import mouth_curves
from headshot.speech.motion import Prosody, SpeechMouth, apply_mouth, speech_motion
from headshot.speech.timeline import Phone, Speech

FPS = 25.0
# "b-a-m-a-p-u-f-a" at typical durations (stops 70-90 ms, vowels 140-180 ms), between pauses.
BAMAPUFA = [("b", 0.07), ("ˈa", 0.15), ("m", 0.08), ("a", 0.14), ("p", 0.09), ("ˈu", 0.14), ("f", 0.10),
            ("a", 0.18)]


def timeline(spec, lead: float = 0.3, tail: float = 0.3) -> list[Phone]:
    phones, t = [Phone("_", 0.0, lead)], lead
    for symbol, duration in spec:
        phones.append(Phone(symbol, t, t + duration))
        t += duration
    return phones + [Phone("_", t, t + tail)]


def middle_frame(phone: Phone, fps: float = FPS) -> int:
    return int(round(0.5 * (phone.start + phone.end) * fps))


def width(landmarks: np.ndarray) -> np.ndarray:
    """Mouth width (corner to corner) over the inter-ocular distance."""
    return np.linalg.norm(landmarks[..., 61, :] - landmarks[..., 291, :], axis=-1) / face_size(landmarks)


def angles(landmarks: np.ndarray) -> np.ndarray:
    """Head rotation of every frame relative to frame 0, degrees."""
    reference = decompose(landmarks[0])[0].rotation
    return np.array([rotation_angle(decompose(frame)[0].rotation @ reference.T) for frame in landmarks])


def sentences(count: int = 3) -> list[Phone]:
    """A few seconds of speech: phrases of stressed and unstressed syllables separated by pauses."""
    words = [("m", 0.07), ("ˈa", 0.16), ("p", 0.08), ("ə", 0.07), ("b", 0.06), ("ˈu", 0.15), ("s", 0.1),
             ("t", 0.05), ("i", 0.12), ("f", 0.09), ("ˈo", 0.17), ("n", 0.08)]
    phones, t = [Phone("_", 0.0, 0.25)], 0.25
    for _ in range(count):
        for symbol, duration in words * 2:
            phones.append(Phone(symbol, t, t + duration))
            t += duration
        phones.append(Phone("_", t, t + 0.5))
        t += 0.5
    return phones


@pytest.fixture(scope="module")
def source(analyzer, astronaut) -> np.ndarray:
    return analyzer.detect_one(astronaut).landmarks


@pytest.fixture(scope="module")
def phones() -> list[Phone]:
    return timeline(BAMAPUFA)


@pytest.fixture(scope="module")
def motion(source, phones) -> MotionTemplate:
    return speech_motion(phones, source, (512, 512), FPS)


def test_frame_zero_and_frame_count(source, phones, motion):
    np.testing.assert_array_equal(motion.landmarks[0], source)
    assert len(motion) == int(np.ceil(phones[-1].end * FPS)) == 39 and motion.fps == FPS
    assert motion.present.all() and np.isfinite(motion.landmarks).all()
    speech = Speech(np.zeros(int(1.6 * 16000), np.float32), 16000, phones, alphabet="ipa", voice="test")
    longer = speech_motion(speech, source, (512, 512), fps=30.0, head=False, eyes=False)
    assert len(longer) == 48 and longer.metadata["speech"]["voice"] == "test"


def test_lips_shut_on_bilabials_and_open_on_a(motion, phones):
    openness = mouth_openness(motion.landmarks)
    for phone in phones:
        if phone.symbol in "bmp":
            assert openness[middle_frame(phone)] < 0.01, phone  # gap ~ 0 of the inter-ocular distance
    peaks = [openness[int(p.start * FPS):int(np.ceil(p.end * FPS))].max() for p in phones if "a" in p.symbol]
    assert len(peaks) == 3 and all(0.22 <= peak <= 0.36 for peak in peaks), peaks
    assert openness[0] == pytest.approx(mouth_openness(motion.landmarks[0]))


def test_round_u_and_teeth_on_lip_f(motion, phones, source):
    by_symbol = {p.symbol: p for p in phones}
    rest_width = width(source)
    u = middle_frame(by_symbol["ˈu"])
    a = middle_frame(by_symbol["ˈa"])
    assert width(motion.landmarks[u]) < 0.85 * rest_width and width(motion.landmarks[u]) < width(motion.landmarks[a])
    f = middle_frame(by_symbol["f"])
    iod = face_size(source)
    _, rest = decompose(source)
    pose, face = decompose(motion.landmarks[f])
    lower_lip_raise = (rest[17, 1] - face[17, 1]) * pose.scale / iod
    upper_lip_raise = (rest[0, 1] - face[0, 1]) * pose.scale / iod
    assert lower_lip_raise > 0.04 and upper_lip_raise > 0.005, (lower_lip_raise, upper_lip_raise)
    assert 0.005 < mouth_openness(motion.landmarks[f]) < 0.08  # lower lip just under the upper teeth


def test_mouth_closes_before_the_m(motion, phones):
    openness = mouth_openness(motion.landmarks)
    m = next(p for p in phones if p.symbol == "m")
    a = phones[phones.index(m) - 1]
    peak = openness[int(a.start * FPS):int(np.ceil(a.end * FPS))].max()
    before = int(np.ceil(m.start * FPS)) - 1  # last frame before the acoustic onset
    assert m.start - 0.045 < before / FPS < m.start
    assert openness[before] < 0.8 * peak


def test_pauses_rest_and_ipa_arpabet_agree(source):
    spec = [("b", 0.07), ("ˈɑ", 0.16), ("b", 0.07), ("m", 0.08), ("ˈeɪ", 0.18), ("d", 0.07)]
    ipa = timeline(spec, tail=1.2) + [Phone("m", 1.93, 2.01), Phone("ˈæ", 2.01, 2.18), Phone("p", 2.18, 2.27),
                                       Phone("_", 2.27, 2.6)]
    arpabet = [Phone(s, p.start, p.end) for s, p in zip(
        ["SIL", "B", "AA1", "B", "M", "EY1", "D", "SIL", "M", "AE1", "P", "SIL"], ipa)]
    quiet = {"head": False, "eyes": False}
    a = mouth_openness(speech_motion(ipa, source, (512, 512), **quiet).landmarks)
    b = mouth_openness(speech_motion(arpabet, source, (512, 512), alphabet="arpabet", **quiet).landmarks)
    assert len(a) == len(b) and np.abs(a - b).max() < 0.02 and np.corrcoef(a, b)[0, 1] > 0.98
    # The astronaut's mouth is open at rest (gap 0.11): in the middle of the 1.2 s pause the speaker rests
    # with the lips shut (the jaw raised), as a person does between phrases, not open as the photo caught.
    pause = slice(round(1.0 * FPS), round(1.7 * FPS))
    assert mouth_openness(source) > 0.1 and a[pause].max() < 0.02
    # A mouth shut at rest just rests there in the pause.
    from headshot.motion.rig import FaceRig

    shut = FaceRig(source).posed(FaceRig(source).deform(close=1.0))
    c = mouth_openness(speech_motion(ipa, shut, (512, 512), **quiet).landmarks)
    assert np.abs(c[round(1.1 * FPS):round(1.7 * FPS)] - mouth_openness(shut)).max() < 0.003


def test_unknown_symbols_do_not_crash(source):
    odd = timeline([("☃", 0.1), ("XYZ", 0.1), ("", 0.05), ("#", 0.1), ("ˈa", 0.15), ("ʘ", 0.08)])
    assert np.isfinite(speech_motion(odd, source, (512, 512)).landmarks).all()
    assert np.isfinite(speech_motion(odd, source, (512, 512), alphabet="arpabet").landmarks).all()
    assert len(speech_motion([], source, (512, 512))) == 1


def test_head_motion_scales_with_pose_scale(source):
    phones = sentences()
    turns = {scale: angles(speech_motion(phones, source, (512, 512), pose_scale=scale, eyes=False).landmarks)
             for scale in (0.0, 1.0, 2.0)}
    assert 0.8 < turns[1.0].max() < 6.0, turns[1.0].max()  # subtle but visible
    assert 1.8 < turns[2.0].max() / turns[1.0].max() < 2.2
    assert turns[0.0].max() < 1e-6 and turns[1.0][0] == 0.0
    # motion follows the speech: more rotation speed while speaking than ~nothing in the lead-in
    speed = np.abs(np.diff(turns[1.0]))
    assert speed[:3].max() < 0.2


def test_blinks_at_a_natural_rate_never_on_frame_zero(source):
    phones = sentences(4)
    motion = speech_motion(phones, source, (512, 512), head=False)
    eyes = eye_openness(motion.landmarks)
    closed = eyes < 0.3 * eyes[0]
    onsets = np.flatnonzero(np.diff(closed.astype(int)) == 1)
    seconds = len(motion) / FPS
    assert seconds / 6.0 <= len(onsets) <= seconds / 1.5, (len(onsets), seconds)  # one every 1.5-6 s
    assert not closed[:round(0.3 * FPS)].any()
    pauses = [p for p in phones if p.symbol == "_" and p.start > 0]
    near_pause = [any(p.start - 0.1 <= i / FPS <= p.end for p in pauses) for i in onsets]
    assert sum(near_pause) >= 1  # some blinks fall on the pauses
    still = speech_motion(phones, source, (512, 512), head=False, eyes=False)
    assert eye_openness(still.landmarks).min() > 0.95 * eyes[0]


def test_brows_rise_on_the_pitch_accent(source):
    syllables = [("m", 0.08), ("ˈa", 0.17)] * 6
    phones = timeline(syllables)
    accent = phones[8]  # the fourth "a"
    assert accent.symbol == "ˈa"
    hop = 0.01
    times = np.arange(int(phones[-1].end / hop)) * hop
    pitch = np.where((times > 0.3) & (times < phones[-1].start), 120.0, 0.0)
    pitch[(times >= accent.start) & (times < accent.end)] = 210.0
    prosody = {"pitch": pitch, "energy": (pitch > 0).astype(float), "fps": 1 / hop}
    motion = speech_motion(phones, source, (512, 512), prosody=prosody, head=False)
    brows = motion.blendshapes[:, 3]  # browInnerUp
    peak = int(np.argmax(brows))
    assert brows[peak] > 0.2 and accent.start - 0.15 <= peak / FPS <= accent.end + 0.4
    flat = speech_motion(phones, source, (512, 512), prosody=prosody, head=False, expression_scale=0.0)
    assert flat.blendshapes[:, 3].max() == 0.0


def test_deterministic_and_expression_scale(source):
    phones = sentences(1)
    first = speech_motion(phones, source, (512, 512), seed=5)
    again = speech_motion(phones, source, (512, 512), seed=5)
    other = speech_motion(phones, source, (512, 512), seed=6)
    np.testing.assert_array_equal(first.landmarks, again.landmarks)
    assert not np.array_equal(first.landmarks, other.landmarks)
    still_mouth = speech_motion(phones, source, (512, 512), expression_scale=0.0, head=False, eyes=False)
    assert np.abs(still_mouth.landmarks - source).max() < 1e-3
    half = mouth_openness(speech_motion(phones, source, (512, 512), expression_scale=0.5, head=False).landmarks)
    full = mouth_openness(first.landmarks)
    assert half.max() < full.max() - 0.05


def test_prosody_arguments(source):
    phones = timeline(BAMAPUFA)
    frames = 100
    loud = speech_motion(phones, source, (512, 512), prosody=Prosody(energy=np.ones(frames) * 3.0, fps=60.0))
    assert np.isfinite(loud.landmarks).all()
    with pytest.raises(ValueError, match="unknown prosody keys"):
        speech_motion(phones, source, (512, 512), prosody={"loudness": np.ones(10)})


def test_mouth_only_on_a_driven_head(source, phones):
    """Head and eyes from elsewhere (here the nod preset), mouth from speech."""
    nod = preset("nod", source, (512, 512), fps=FPS, seconds=39 / FPS)
    mouth = mouth_curves(phones, FPS, frames=len(nod))
    combined = apply_mouth(nod.landmarks, source, mouth)
    assert combined.shape == nod.landmarks.shape and combined.dtype == np.float32
    openness = mouth_openness(combined)
    for phone in phones:
        if phone.symbol in "bmp":
            assert openness[middle_frame(phone)] < 0.01, phone
    assert openness.max() > 0.22
    turn = angles(combined) - angles(nod.landmarks)
    assert np.abs(turn).max() < 0.05  # the driver's head pose is kept
    eyes = np.r_[33, 133, 159, 145, 362, 263, 386, 374]
    np.testing.assert_allclose(combined[:, eyes], nod.landmarks[:, eyes], atol=1e-3)
    speech_mouth = SpeechMouth(source, mouth)
    assert len(speech_mouth) == len(nod)
    assert not speech_mouth.offsets(len(nod) + 5).any()  # past the speech the mouth rests


def test_open_mouth_source_closes_with_the_jaw(source, phones):
    """The astronaut's mouth is open at rest (gap ~0.11 of the inter-ocular distance): on p, b, m the
    inner lips meet AND the chin comes up with them (the jaw rises; not the lower lip stretched alone).
    A mouth shut at rest needs no jaw to close: its curves are those of the plain gesture."""
    from headshot.motion.rig import FaceRig
    from headshot.speech.motion import speech_curves

    iod = face_size(source)
    assert mouth_openness(source) == pytest.approx(0.111, abs=0.01)
    rig = FaceRig(source)
    assert -1.5 < rig.jaw_to_close() < -0.1 and rig.opening(jaw=rig.jaw_to_close()) < 0.025
    motion = speech_motion(phones, source, (512, 512), FPS, head=False, eyes=False)
    for phone in phones:
        if phone.symbol in "bmp":
            frame = motion.landmarks[middle_frame(phone)]
            assert mouth_openness(frame) < 0.005, phone
            assert (source[152, 1] - frame[152, 1]) / iod > 0.025, phone  # the chin is raised

    shut = FaceRig(source).posed(FaceRig(source).deform(close=1.0))
    assert mouth_openness(shut) < 0.02 and FaceRig(shut).jaw_to_close() == 0.0
    curves = speech_curves(phones, shut, FPS, head=False, eyes=False)
    plain = mouth_curves(phones, FPS, frames=curves.frames).jaw * FaceRig(shut).jaw_for_opening(0.30)
    plain[0] = 0.0
    np.testing.assert_array_equal(curves.jaw, plain)


def test_template_round_trip(motion, tmp_path):
    path = motion.save(tmp_path / "speech.motion")
    loaded = MotionTemplate.load(path)
    np.testing.assert_array_equal(loaded.landmarks, motion.landmarks)
    assert loaded.metadata["speech"]["alphabet"] == "ipa" and loaded.metadata["creator"] == "headshot speech"


def test_rendered_mouth_shapes_read_as_speech(astronaut, source, phones):
    """Warp renders of rest, "a", "m", "u", "f": a dark open cavity only on the open vowels, narrower
    on "u"; none at rest, on the closed "m" or on "f". Dark: under half the lips' brightness (the cavity
    is shaded from the lips' colour to a dark red throat, as real mouths measure; see render.mouth)."""
    from headshot.engines import get_engine
    from headshot.render.mouth import lips_ring_stats

    size = 384
    box = crop_box(source)
    portrait = crop(astronaut, box, size)
    landmarks = box.to_crop(source, size)
    motion = speech_motion(phones, landmarks, (size, size), head=False, eyes=False)
    engine = get_engine("warp")
    engine.prepare(portrait, landmarks)
    by_symbol = {p.symbol: p for p in phones}
    left, right = landmarks[[61, 291], 0]
    top, bottom = landmarks[0, 1], landmarks[17, 1] + 0.8 * (landmarks[17, 1] - landmarks[0, 1])
    region = (slice(int(top), int(bottom)), slice(int(left), int(right)))
    lips_brightness = float(lips_ring_stats(portrait, landmarks)[2].mean())

    def dark(frame: int) -> tuple[int, int]:
        """(dark pixel count, dark region width in pixels) around the mouth."""
        patch = engine.render(motion.landmarks[frame])[region].astype(int)
        mask = patch.mean(axis=2) < 0.5 * lips_brightness
        columns = np.flatnonzero(mask.sum(axis=0) >= 2)
        return int(mask.sum()), int(np.ptp(columns)) if len(columns) else 0

    rest, _ = dark(0)
    a_frame = int(np.argmax(mouth_openness(motion.landmarks[:middle_frame(by_symbol["m"])])))
    a, a_width = dark(a_frame)
    m, _ = dark(middle_frame(by_symbol["m"]))
    u, u_width = dark(middle_frame(by_symbol["ˈu"]))
    f, _ = dark(middle_frame(by_symbol["f"]))
    mouth_area = (right - left) * (bottom - top)
    assert a > 0.12 * mouth_area, (a, mouth_area)
    assert max(rest, m, f) < 0.03 * mouth_area, (rest, m, f)
    assert u > 0.03 * mouth_area and u_width < 0.9 * a_width, (u, u_width, a_width)


def test_bad_arguments(source, phones):
    from headshot.errors import HeadshotError

    with pytest.raises(HeadshotError, match="fps"):
        speech_motion(phones, source, (512, 512), fps=0.5)
    with pytest.raises(HeadshotError, match="limited to"):
        speech_motion([Phone("a", 0.0, 700.0)], source, (512, 512))
    with pytest.raises(ValueError):
        speech_motion(phones, source[:68], (512, 512))
