"""The web page: four tabs (Animate, Say, Live, Verify) wired to :class:`~headshot.app.actions.AppActions`.

Import only after :func:`headshot.app.server.quiet_gradio` has set Gradio's environment (no analytics).
Errors from the library (a photo without a face, an upload of the wrong kind) reach the page as a one-line
message (``gr.Error``), never a traceback.
"""

from __future__ import annotations

import functools

import gradio as gr

from ..errors import HeadshotError
from ..options import REGIONS
from .actions import MOTIONS, AnimateRequest, AppActions

INTRO = ("**headshot** brings one portrait photo to life, on this computer. Every result carries an invisible "
         "watermark and signed content credentials (check any file in the Verify tab).")
SIZES = ["auto", "256", "384", "512", "768", "1024"]
LANGUAGES = ["en", "es", "fr", "de", "it", "pt", "nl", "ru", "pl", "hi", "zh", "ja", "ar", "tr", "sv"]
VOICES = ["default", "joe", "espeak", "espeak+f3", "espeak+m3"]
LIVE_EVERY = 0.04  # seconds between webcam frames sent (up to 25 fps)


def _user_errors(function):
    """Turn a :class:`HeadshotError` into the page's one-line error message."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except HeadshotError as error:
            raise gr.Error(str(error), print_exception=False) from None

    return wrapped


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


def _progress(progress: gr.Progress):
    return lambda fraction, text: progress(fraction, desc=text)


def build_blocks(actions: AppActions, astronaut_path: str) -> gr.Blocks:
    """The Blocks of the app (tabs, examples, events, queue limits)."""
    with gr.Blocks(title="headshot", analytics_enabled=False, delete_cache=(600, 3600)) as blocks:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Animate", id="animate"):
                _animate_tab(actions, astronaut_path)
            with gr.Tab("Say", id="say"):
                _say_tab(actions, astronaut_path)
            with gr.Tab("Live", id="live"):
                _live_tab(actions, astronaut_path)
            with gr.Tab("Verify", id="verify"):
                _verify_tab(actions)

        def end_session(request: gr.Request):
            actions.end_session(_session(request))

        blocks.unload(end_session)
    blocks.queue(default_concurrency_limit=1, max_size=16)
    return blocks


def _animate_tab(actions: AppActions, astronaut_path: str) -> None:
    with gr.Row():
        with gr.Column():
            photos = gr.File(label="Portrait photo(s)", file_count="multiple", file_types=["image"],
                             elem_id="animate-photos")
            driver = gr.File(label="Driver: a video of someone talking, an image, or a .motion template",
                             elem_id="animate-driver")
            motion = gr.Dropdown(["(use the driver)", *MOTIONS], value="(use the driver)",
                                 label="... or a built-in motion", elem_id="animate-motion")
            with gr.Accordion("Options", open=False):
                crop_only = gr.Checkbox(False, label="Face crop only (no paste-back)")
                size = gr.Dropdown(SIZES, value="auto", label="Size (crop side, or long side of the photo)")
                regions = gr.CheckboxGroup(list(REGIONS), value=list(REGIONS), label="Animate")
                expression_scale = gr.Slider(0, 3, 1, step=0.1, label="Expression scale")
                pose_scale = gr.Slider(0, 3, 1, step=0.1, label="Head motion scale")
                reference = gr.Dropdown(["auto", "first", "best"], value="auto", label="Reference (no-motion) frame")
                seconds = gr.Slider(1, 20, 4, step=1, label="Built-in motion length (s)")
            run = gr.Button("Animate", variant="primary", elem_id="animate-run")
        with gr.Column():
            video = gr.Video(label="Result", elem_id="animate-video", interactive=False)
            image = gr.Image(label="Result (image driver)", visible=False, interactive=False)
            files = gr.File(label="Download", file_count="multiple", elem_id="animate-files", interactive=False)
            status = gr.Textbox(label="Status", lines=3, interactive=False, elem_id="animate-status")

    @_user_errors
    def animate(photo_files, driver_file, motion_name, crop, size_text, region_list, expression, pose, ref, secs,
                request: gr.Request, progress=gr.Progress()):
        if not region_list:
            raise HeadshotError("choose at least one part of the face to animate")
        chosen = None if motion_name not in MOTIONS else motion_name
        results = actions.animate(
            _session(request), photo_files or [], None if chosen else driver_file, chosen,
            AnimateRequest(crop, 0 if size_text == "auto" else int(size_text), tuple(region_list), expression, pose,
                           ref, secs), _progress(progress))
        first = results[0].path
        is_image = first.suffix == ".png"
        lines = [line for result in results for line in result.lines]
        return (gr.update(value=None if is_image else str(first), visible=not is_image),
                gr.update(value=str(first) if is_image else None, visible=is_image),
                [str(result.path) for result in results], "\n".join(lines))

    inputs = [photos, driver, motion, crop_only, size, regions, expression_scale, pose_scale, reference, seconds]
    outputs = [video, image, files, status]
    run.click(animate, inputs, outputs, concurrency_id="render", concurrency_limit=1)
    def example(photo_files, driver_file, motion_name, request: gr.Request, progress=gr.Progress()):
        return animate(photo_files, driver_file, motion_name, False, "auto", list(REGIONS), 1.0, 1.0, "auto", 4,
                       request, progress)

    gr.Examples([[[astronaut_path], None, name] for name in ("talk", "nod", "smile")], [photos, driver, motion],
                label="Examples (one click: the bundled astronaut with a built-in motion)", fn=example,
                outputs=outputs, run_on_click=True, cache_examples=False, elem_id="animate-examples")


def _say_tab(actions: AppActions, astronaut_path: str) -> None:
    with gr.Row():
        with gr.Column():
            photo = gr.Image(label="Portrait photo", type="filepath", sources=["upload"], elem_id="say-photo")
            text = gr.Textbox(label="Text to say", lines=3, elem_id="say-text")
            with gr.Row():
                language = gr.Dropdown(LANGUAGES, value="en", label="Language", allow_custom_value=True)
                voice = gr.Dropdown(VOICES, value="default", label="Voice", allow_custom_value=True)
            recording = gr.Audio(label="... or a recording (it replaces the text)", type="filepath",
                                 sources=["upload", "microphone"], elem_id="say-recording")
            crop_only = gr.Checkbox(False, label="Face crop only")
            run = gr.Button("Speak", variant="primary", elem_id="say-run")
        with gr.Column():
            video = gr.Video(label="Result", elem_id="say-video", interactive=False)
            status = gr.Textbox(label="Status", lines=2, interactive=False, elem_id="say-status")

    @_user_errors
    def speak(photo_path, words, lang, voice_name, recording_path, crop, request: gr.Request,
              progress=gr.Progress()):
        result = actions.say(_session(request), photo_path, words, lang, None if voice_name == "default" else voice_name,
                             recording_path, crop, _progress(progress))
        return str(result.path), "\n".join(result.lines)

    run.click(speak, [photo, text, language, voice, recording, crop_only], [video, status], concurrency_id="render",
              concurrency_limit=1)

    def speak_example(photo_path, words, lang, request: gr.Request, progress=gr.Progress()):
        return speak(photo_path, words, lang, "default", None, True, request, progress)

    gr.Examples([[astronaut_path, "Hello! I am speaking from a single photo, on your own computer.", "en"],
                 [astronaut_path, "Bonjour ! Je parle depuis une seule photo.", "fr"]],
                [photo, text, language], label="Examples (one click)", fn=speak_example,
                outputs=[video, status], run_on_click=True, cache_examples=False)


def _live_tab(actions: AppActions, astronaut_path: str) -> None:
    gr.Markdown("Allow the webcam, then press its record button: your face drives the portrait in real time. "
                "Look straight ahead with a relaxed face first (that frame is 'no motion').")
    with gr.Row():
        with gr.Column():
            photo = gr.Image(value=astronaut_path, label="Portrait photo", type="filepath", sources=["upload"],
                             elem_id="live-photo")
            webcam = gr.Image(label="Webcam", sources=["webcam"], streaming=True, type="numpy", elem_id="live-webcam")
        with gr.Column():
            portrait = gr.Image(label="Live portrait", format="jpeg", interactive=False, elem_id="live-portrait")
            stats = gr.Textbox(label="Measured (server side)", interactive=False, elem_id="live-stats")
            reset = gr.Button("Take my face now as 'no motion'", elem_id="live-reset")

    @_user_errors
    def step(frame, photo_path, request: gr.Request):
        return actions.live_step(_session(request), frame, photo_path)

    webcam.stream(step, [webcam, photo], [portrait, stats], stream_every=LIVE_EVERY, time_limit=600,
                  concurrency_id="live", concurrency_limit=2, show_progress="hidden")

    def recalibrate(request: gr.Request):
        return actions.recalibrate(_session(request))

    reset.click(recalibrate, None, stats, queue=False)


def _verify_tab(actions: AppActions) -> None:
    with gr.Row():
        upload = gr.File(label="Any image or video", elem_id="verify-file")
        with gr.Column():
            verdict = gr.Textbox(label="Result", interactive=False, elem_id="verify-verdict")
            details = gr.Textbox(label="Details", lines=8, interactive=False, elem_id="verify-details")
    run = gr.Button("Check", variant="primary", elem_id="verify-run")

    @_user_errors
    def check(path):
        marked, lines = actions.verify(path)
        return ("MARKED: made by headshot (AI-generated)" if marked else "no headshot marks found"), "\n".join(lines)

    run.click(check, [upload], [verdict, details], concurrency_id="verify", concurrency_limit=2)
