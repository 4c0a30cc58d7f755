"""The Piper "joe" neural English voice (VITS, ONNX) with per-phoneme durations.

A Piper voice reads eSpeak NG's IPA phonemes as ids, one id per code point: ``^`` (BOS), then every
phoneme followed by the pad ``_``, then ``$`` (EOS). VITS predicts a duration per id inside the graph:
``w_ceil = Ceil(exp(logw) * mask * length_scale)`` is the number of spectrogram frames of each id, and the
decoder turns every frame into ``hop_length`` (256) samples. The shipped graph only outputs the audio, so
:class:`PiperVoice` adds the ``Ceil`` output as a second graph output before creating its session: the
waveform then has exactly ``sum(frames) * 256`` samples and every phoneme's start and end are known to the
sample. This module is written from the published voice format; it does not use the ``piper-tts`` code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .espeak import PHONEME_SEPARATOR, Clause
from .timeline import PAUSE, Phone

HOP_LENGTH = 256  # samples per spectrogram frame in every Piper (VITS) voice
NOISE_SEED = "noise_seed"  # the input added to the voice's graph that seeds its sampling noise
PAD, BOS, EOS, SPACE = "_", "^", "$", " "
STRESS = {"ˈ": 1, "ˌ": 2}


@dataclass(frozen=True)
class Token:
    """One unit of an utterance before it becomes ids.

    ``kind``: ``"phone"`` (``symbol`` is eSpeak's IPA for one phoneme, stress marks removed), ``"space"``
    (a word boundary), ``"punctuation"`` (``symbol`` one of ``.,?!;:``; the voice pauses there), ``"bos"``
    or ``"eos"``.
    """

    kind: str
    symbol: str = ""
    stress: int = 0
    word: int = -1


def utterance_tokens(clauses: list[Clause], first_word: int = 0) -> list[Token]:
    """The tokens of clauses read as one utterance, Piper's way: clause phonemes, then the clause's
    punctuation (followed by a space after ``,;:``), words separated by spaces; ``word`` counts the
    phonemised words from ``first_word``."""
    tokens = [Token("bos")]
    word = first_word - 1
    for clause in clauses:
        words = clause.phonemes.split()
        for position, phoneme_word in enumerate(words):
            if position:
                tokens.append(Token("space"))
            word += 1
            stress = 0
            for group in phoneme_word.split(PHONEME_SEPARATOR):
                symbol = "".join(char for char in group if char not in STRESS)
                stress = max([stress] + [STRESS[char] for char in group if char in STRESS])
                if symbol:  # a lone stress mark belongs to the phoneme after it
                    tokens.append(Token("phone", symbol, stress, word))
                    stress = 0
        if clause.punctuation:
            tokens.append(Token("punctuation", clause.punctuation))
            if clause.punctuation in ",;:":
                tokens.append(Token("space"))
        elif words:
            tokens.append(Token("space"))
    while len(tokens) > 1 and tokens[-1].kind == "space":
        tokens.pop()
    tokens.append(Token("eos"))
    return tokens


def _token_text(token: Token) -> str:
    """The code points the voice reads for a token (stress marks go back in front of the vowel)."""
    if token.kind == "phone":
        mark = {1: "ˈ", 2: "ˌ"}.get(token.stress, "")
        return mark + token.symbol
    return {"bos": BOS, "eos": EOS, "space": SPACE}.get(token.kind, token.symbol)


class PiperVoice:
    """A Piper VITS voice in onnxruntime, returning audio and per-id frame counts.

    Args:
        model_path: the ``.onnx`` file.
        config_path: its ``.onnx.json`` (``phoneme_id_map``, ``audio.sample_rate``, ``inference`` scales,
            ``espeak.voice``).
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, model_path: str | Path, config_path: str | Path, threads: int = 2) -> None:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        self.sample_rate = int(config["audio"]["sample_rate"])
        self.espeak_voice = str(config.get("espeak", {}).get("voice", "en-us"))
        inference = config.get("inference", {})
        self.noise_scale = float(inference.get("noise_scale", 0.667))
        self.length_scale = float(inference.get("length_scale", 1.0))
        self.noise_w = float(inference.get("noise_w", 0.8))
        self.phoneme_ids: dict[str, list[int]] = config["phoneme_id_map"]
        self._pad = self.phoneme_ids[PAD][0]
        self._session = _session_with_durations(str(model_path), threads)
        self._lock = threading.Lock()

    def token_ids(self, token: Token) -> list[int]:
        """Ids of one token, each followed by the pad (none after EOS). Code points the voice does not
        know are tried decomposed (NFD), then dropped."""
        if token.kind == "eos":
            return list(self.phoneme_ids[EOS])
        ids: list[int] = []
        for char in _token_text(token):
            for part in (char,) if char in self.phoneme_ids else unicodedata.normalize("NFD", char):
                for phoneme_id in self.phoneme_ids.get(part, ()):
                    ids += [phoneme_id, self._pad]
        return ids

    def infer(self, ids: list[int], length_scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Run the network.

        Args:
            ids: phoneme ids of one utterance.
            length_scale: duration multiplier (> 1 is slower).

        Returns:
            (float32 waveform in [-1, 1], int frames per id); ``len(waveform) == frames.sum() * HOP_LENGTH``.
            The same ids and scale give the same waveform, in any process and in any order of calls: the
            voice's sampling noise is seeded from them (:func:`noise_seed`).
        """
        feeds = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray([self.noise_scale, length_scale, self.noise_w], dtype=np.float32),
            NOISE_SEED: np.asarray([noise_seed(ids, length_scale)], dtype=np.float32),
        }
        with self._lock:  # one utterance at a time: the session already uses all its threads
            audio, frames = self._session.run(None, feeds)
        audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
        frames = np.rint(np.asarray(frames).reshape(-1)).astype(np.int64)
        return audio, frames

    def speak(self, tokens: list[Token], rate: float = 1.0) -> tuple[np.ndarray, list[Phone]]:
        """Speak an utterance.

        Args:
            tokens: from :func:`utterance_tokens`.
            rate: speed factor (2.0 = twice as fast).

        Returns:
            (float32 waveform, phones covering it exactly, times in seconds from its first sample;
            ``Phone.word`` is the token's phonemised-word index).
        """
        id_lists = [self.token_ids(token) for token in tokens]
        ids = [phoneme_id for token_ids in id_lists for phoneme_id in token_ids]
        audio, frames = self.infer(ids, self.length_scale / rate)
        bounds = np.cumsum([0] + [len(token_ids) for token_ids in id_lists])
        token_frames = [int(frames[bounds[i] : bounds[i + 1]].sum()) for i in range(len(tokens))]
        return audio, self._timeline(tokens, token_frames, len(audio))

    def _timeline(self, tokens: list[Token], token_frames: list[int], n_samples: int) -> list[Phone]:
        """Phones from token frame counts: pads already belong to the token before them; BOS, EOS and
        punctuation become pauses; a space (word boundary) inside a phrase is shared between the phones
        either side of it, next to a pause it joins the pause."""
        units: list[list] = []  # [symbol, stress, word, frames]
        owed = 0  # frames of a word boundary that go to the next phone
        for index, (token, count) in enumerate(zip(tokens, token_frames)):
            following = tokens[index + 1].kind if index + 1 < len(tokens) else None
            if token.kind == "phone":
                units.append([token.symbol, token.stress, token.word, count + owed])
                owed = 0
            elif token.kind == "space" and units and units[-1][0] != PAUSE and following == "phone":
                units[-1][3] += count // 2
                owed = count - count // 2
            elif units and units[-1][0] == PAUSE:
                units[-1][3] += count
            else:
                units.append([PAUSE, 0, -1, count])
        phones = []
        position = 0
        for symbol, stress, word, count in units:
            if count <= 0:
                continue
            start, position = position, min(position + count * HOP_LENGTH, n_samples)
            phones.append(Phone(symbol, start / self.sample_rate, position / self.sample_rate, stress, word))
        if phones and position != n_samples:  # never expected: the decoder makes frames * hop samples
            last = phones[-1]
            phones[-1] = Phone(last.symbol, last.start, n_samples / self.sample_rate, last.stress, last.word)
        return phones


def noise_seed(ids: list[int], length_scale: float) -> float:
    """The seed of an utterance's sampling noise: a hash of its phoneme ids and duration scale (so of the
    text, voice and rate), small enough to be exact in float32."""
    digest = hashlib.sha256(np.asarray(ids, np.int64).tobytes() + np.float32(length_scale).tobytes()).digest()
    return float(int.from_bytes(digest[:2], "little"))


def _seeded_normal(node, index: int) -> list:
    """Nodes that replace a ``RandomNormalLike`` with standard normal noise of its input's shape computed
    from the graph input :data:`NOISE_SEED` (a sine hash and Box-Muller): the same seed, the same noise.
    onnxruntime's own random kernels keep their state across calls, so a voice that is loaded once and
    speaks many sentences would otherwise never say one twice the same way."""
    from onnx import TensorProto, helper

    name = f"/seeded_noise{index}"
    out = node.output[0]

    def const(suffix: str, value, dtype=TensorProto.FLOAT):
        return helper.make_node("Constant", [], [f"{name}/{suffix}"],
                                value=helper.make_tensor(f"{name}/{suffix}_value", dtype, [], [value]))

    nodes = [
        helper.make_node("Shape", [node.input[0]], [f"{name}/shape"]),
        helper.make_node("ReduceProd", [f"{name}/shape"], [f"{name}/count"], keepdims=0),
        const("zero", 0, TensorProto.INT64), const("one", 1, TensorProto.INT64),
        helper.make_node("Range", [f"{name}/zero", f"{name}/count", f"{name}/one"], [f"{name}/index"]),
        helper.make_node("Cast", [f"{name}/index"], [f"{name}/x"], to=TensorProto.FLOAT),
        const("offset", 1000.0 * index),
        helper.make_node("Add", [NOISE_SEED, f"{name}/offset"], [f"{name}/seed"]),
    ]
    uniforms = []
    for k, (step, scale) in enumerate(((12.9898, 43758.5453), (78.233, 24634.6345))):
        u = f"{name}/u{k}"
        nodes += [const(f"step{k}", step), const(f"scale{k}", scale),
                  helper.make_node("Mul", [f"{name}/x", f"{name}/step{k}"], [f"{u}/a"]),
                  helper.make_node("Add", [f"{u}/a", f"{name}/seed"], [f"{u}/b"]),
                  helper.make_node("Sin", [f"{u}/b"], [f"{u}/c"]),
                  helper.make_node("Mul", [f"{u}/c", f"{name}/scale{k}"], [f"{u}/d"]),
                  helper.make_node("Floor", [f"{u}/d"], [f"{u}/e"]),
                  helper.make_node("Sub", [f"{u}/d", f"{u}/e"], [u])]
        uniforms.append(u)
    nodes += [const("tiny", 1e-6), const("minus_two", -2.0), const("two_pi", 6.2831853),
              helper.make_node("Add", [uniforms[0], f"{name}/tiny"], [f"{name}/u0p"]),
              helper.make_node("Log", [f"{name}/u0p"], [f"{name}/log"]),
              helper.make_node("Mul", [f"{name}/log", f"{name}/minus_two"], [f"{name}/r2"]),
              helper.make_node("Sqrt", [f"{name}/r2"], [f"{name}/r"]),
              helper.make_node("Mul", [uniforms[1], f"{name}/two_pi"], [f"{name}/angle"]),
              helper.make_node("Cos", [f"{name}/angle"], [f"{name}/cos"]),
              helper.make_node("Mul", [f"{name}/r", f"{name}/cos"], [f"{name}/z"]),
              helper.make_node("Reshape", [f"{name}/z", f"{name}/shape"], [out])]
    return nodes


def _session_with_durations(model_path: str, threads: int):
    """An onnxruntime session of the voice with the frames-per-id tensor (the ``Ceil`` output) exposed and
    its sampling noise seeded by the extra input :data:`NOISE_SEED` (:func:`_seeded_normal`)."""
    import onnx
    import onnxruntime

    model = onnx.load(model_path)
    ceil = [node for node in model.graph.node if node.op_type == "Ceil"]
    if len(ceil) != 1:
        raise ValueError(f"{model_path}: expected one Ceil (duration rounding) node, found {len(ceil)}")
    model.graph.output.append(onnx.helper.make_tensor_value_info(ceil[0].output[0], onnx.TensorProto.FLOAT, None))
    model.graph.input.append(onnx.helper.make_tensor_value_info(NOISE_SEED, onnx.TensorProto.FLOAT, [1]))
    nodes, replaced = [], 0
    for node in model.graph.node:  # topological order is kept: each replacement sits where its node was
        if node.op_type == "RandomNormalLike":
            nodes += _seeded_normal(node, replaced)
            replaced += 1
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # don't busy-wait between ops: the video side of `say` runs on the same cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=1)
def joe() -> PiperVoice:
    """The bundled en_US "joe" voice (hash-checked), loaded once per process (about 1.5 s)."""
    from ..assets import piper_voice_paths

    model, config = piper_voice_paths()
    return PiperVoice(model, config)
