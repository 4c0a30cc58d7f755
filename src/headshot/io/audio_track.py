"""The audio track of an animation: the driver's sound muxed into the output video.

:class:`AudioTrack` reads the first audio track of a file and muxes it into a :class:`~headshot.io.video_writer.VideoWriter`'s
container as the frames are written: AAC packets are copied unchanged, other codecs are decoded and re-encoded
to AAC, and the track is trimmed to the video's duration.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av

from .media import ffmpeg_message, open_input

__all__ = ["AudioTrack"]

log = logging.getLogger(__name__)


class AudioTrack:
    """The first audio track of ``source``, muxed into a writer's container up to a given time.

    AAC packets are copied unchanged; any other codec is decoded and re-encoded to AAC. Timestamps are
    taken relative to the source's first video frame (or 0 for audio-only files) so that lip sync with
    frames generated from the same source is kept.
    """

    def __init__(self, source: Path):
        self.source = source
        self.container = open_input(source, "audio source")
        try:
            self.input = self.container.streams.audio[0]
        except IndexError:
            self.container.close()
            raise
        video = self.container.streams.video
        self.offset_s = 0.0
        if video and video[0].start_time is not None:
            self.offset_s = float(video[0].start_time * video[0].time_base)
        self.copy = self.input.codec_context.name == "aac"
        self.output = None
        self.resampler = None
        self.samples_out = None
        self.peeked = None  # (start_s, packet or frame) read from the source but not muxed yet
        self.exhausted = False
        self.items = self._items()

    def add_to(self, container) -> None:
        if self.copy:
            self.output = container.add_stream_from_template(self.input)
            return
        rate = self.input.rate if self.input.rate in av.codec.Codec("aac", "w").audio_rates else 48000
        channels = self.input.codec_context.channels
        layout = "mono" if channels == 1 else "stereo"
        self.output = container.add_stream("aac", rate=rate, layout=layout)
        self.output.bit_rate = 64000 if channels == 1 else 128000

    def _items(self):
        """Packets (copy) or decoded frames (transcode) of the source track, each with its start time."""
        for packet in self.container.demux(self.input):
            if packet.size == 0 and packet.pts is None:
                continue
            if self.copy:
                if packet.pts is None:
                    continue
                yield float(packet.pts * packet.time_base) - self.offset_s, packet
            else:
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    yield float(frame.pts * frame.time_base) - self.offset_s, frame
        if not self.copy:
            for frame in self.input.decode(None):
                if frame.pts is not None:
                    yield float(frame.pts * frame.time_base) - self.offset_s, frame

    def mux_until(self, container, end_s: float) -> None:
        """Mux every item that starts before ``end_s`` seconds."""
        while not self.exhausted:
            if self.peeked is None:
                try:
                    self.peeked = next(self.items)
                except StopIteration:
                    self.exhausted = True
                    return
                except av.FFmpegError as error:
                    log.warning("audio of %s stopped early: %s", self.source, ffmpeg_message(error))
                    self.exhausted = True
                    return
            start_s, item = self.peeked
            if start_s >= end_s:
                return
            self.peeked = None
            if self.copy:
                self._mux_packet(container, item)
            else:
                self._encode_frame(container, start_s, item)

    def _mux_packet(self, container, packet) -> None:
        shift = round(self.offset_s / packet.time_base) if self.offset_s else 0
        if shift:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        packet.stream = self.output
        container.mux(packet)

    def _encode_frame(self, container, start_s: float, frame) -> None:
        rate = self.output.codec_context.sample_rate
        if self.resampler is None:
            self.resampler = av.AudioResampler(
                format="fltp", layout=self.output.codec_context.layout, rate=rate,
                frame_size=self.output.codec_context.frame_size or 1024,
            )
            self.samples_out = max(0, round(start_s * rate))
        frame.pts = None  # the resampler works on samples; timestamps are counted below
        for chunk in self.resampler.resample(frame):
            self._encode_chunk(container, chunk, rate)

    def _encode_chunk(self, container, chunk, rate: int) -> None:
        chunk.pts = self.samples_out
        chunk.time_base = Fraction(1, rate)
        self.samples_out += chunk.samples
        for packet in self.output.encode(chunk):
            container.mux(packet)

    def finish(self, container, end_s: float) -> None:
        """Mux the track up to ``end_s`` and flush the encoder (transcoding only)."""
        self.mux_until(container, end_s)
        if not self.copy and self.output is not None:
            if self.resampler is not None:
                for chunk in self.resampler.resample(None):
                    self._encode_chunk(container, chunk, self.output.codec_context.sample_rate)
            for packet in self.output.encode(None):
                container.mux(packet)

    def close(self) -> None:
        self.container.close()
