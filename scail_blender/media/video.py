"""Video in and out: H.264 mp4 and PNG sequences, streamed frame by frame.

Encoding goes through the ffmpeg binary that the ``imageio-ffmpeg`` wheel ships, so no system
ffmpeg is needed (the Blender extension bundles that wheel). Frames are piped one at a time: a
clip is never held in memory, and a writer that fails or is cancelled leaves no partial file
behind (it writes to a hidden temporary name and renames on success).

The defaults match what the official SCAIL-Pose scripts produce through moviepy: libx264 with
x264's default quality (CRF 23), yuv420p, at the requested frame rate. ``lossless=True`` writes
H.264 in RGB at quantiser 0 (libx264rgb, rgb24) instead: every pixel decodes to exactly the value
written, which identity masks need (a colour that shifts changes the class the model reads).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from .png import write_png
from ..errors import InputError, VideoError
from ..outputs import FRAME_GLOB, FRAME_NAME, commit, make_folder, remove_folders, temp_sibling

PNG_PATTERN = FRAME_NAME


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int


def ffmpeg_exe() -> str:
    """The ffmpeg binary of the imageio-ffmpeg wheel (imported lazily: start-up stays fast)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - the wheel is a hard dependency
        raise VideoError("Video needs the imageio-ffmpeg package: pip install imageio-ffmpeg") from exc
    _restore_exec_bits(Path(imageio_ffmpeg.__file__).parent / "binaries")  # before its cached lookup
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise VideoError(f"No usable ffmpeg binary was found ({exc}); reinstall imageio-ffmpeg") from exc


def _restore_exec_bits(folder: Path) -> None:
    """Blender's extension installer unpacks bundled wheels without file modes, which leaves
    the wheel's ffmpeg binary not executable; give it back its executable bits."""
    for binary in folder.glob("ffmpeg-*"):
        if os.access(binary, os.X_OK):
            continue
        try:
            binary.chmod(binary.stat().st_mode | 0o111)
        except OSError:
            pass


def fps_fraction(fps: float) -> Fraction:
    """Exact rate for ffmpeg: 16 -> 16/1, 23.976 -> 24000/1001, 29.97 -> 30000/1001."""
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        raise InputError(f"Frame rate {fps!r} is not usable: give a positive number of frames per second, e.g. 16")
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """Stream RGB uint8 frames of one size into an H.264 mp4.

    Use as a context manager: the file appears under its final name only when the block ends
    without an exception; on error or cancel the temporary file is removed.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], crf: int = 23,
                 preset: str = "medium", lossless: bool = False) -> None:
        height, width = size
        if height <= 0 or width <= 0:
            raise InputError(f"Video size {height} high x {width} wide is empty; give a positive HxW (height x width)")
        if (height % 2 or width % 2) and not lossless:
            raise InputError(
                f"H.264 (yuv420p) needs an even height and width, got {height} high x {width} wide; "
                "choose an even size or write PNG frames instead"
            )
        self.path = Path(path)
        self.size = (height, width)
        self.fps = fps_fraction(fps)
        self.crf = crf
        self.preset = preset
        self.lossless = lossless
        self.frames_written = 0
        self._proc: subprocess.Popen | None = None
        self._temp: Path | None = None
        self._created: list[Path] = []

    def __enter__(self) -> VideoWriter:
        self._created = make_folder(self.path.parent)
        self._temp = temp_sibling(self.path)
        height, width = self.size
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "-",
            "-an", *self._codec(), "-movflags", "+faststart", "-f", "mp4", str(self._temp),
        ]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            self._discard()
            raise
        return self

    def _codec(self) -> list[str]:
        if self.lossless:
            return ["-c:v", "libx264rgb", "-preset", self.preset, "-qp", "0", "-pix_fmt", "rgb24"]
        return ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p"]

    def _discard(self) -> None:
        """Remove the temporary file and the folders this writer created."""
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
        remove_folders(self._created)

    def write(self, frame: np.ndarray) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise VideoError("VideoWriter.write called outside its 'with' block")
        if frame.shape != (*self.size, 3) or frame.dtype != np.uint8:
            raise InputError(
                f"Frame {self.frames_written} has shape {frame.shape} {frame.dtype}; "
                f"this video expects {self.size[0]} high x {self.size[1]} wide x 3 uint8"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError as exc:
            raise VideoError(f"ffmpeg stopped while writing {self.path}: {self._stderr()}") from exc
        self.frames_written += 1

    def _stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        return self._proc.stderr.read().decode(errors="replace").strip()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        proc, temp = self._proc, self._temp
        self._proc = None
        assert proc is not None and temp is not None
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            if exc_type is not None:
                proc.kill()
                proc.wait()
                self._discard()
                return
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            code = proc.wait()
            if code != 0 or self.frames_written == 0:
                reason = err or ("no frames were written" if self.frames_written == 0 else f"exit code {code}")
                raise VideoError(f"Could not encode {self.path}: {reason}")
            commit(temp, self.path)
        except BaseException:
            proc.kill()
            proc.wait()
            self._discard()
            raise


class PngSequenceWriter:
    """Write frames as 00000.png, 00001.png... into a folder, all or nothing.

    Frames go to a hidden staging folder next to the target and replace the target's frames of
    the same numbers only when the block succeeds, so a failed render never leaves a half-written
    sequence. Nothing else in the folder is touched: frames numbered past this clip stay (listed
    in ``kept``), because the folder may hold files this run did not make (``outputs`` refuses a
    folder with numbered frames unless the user asked to overwrite them).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.frames_written = 0
        self.kept: list[str] = []
        self._stage: Path | None = None
        self._created: list[Path] = []

    def __enter__(self) -> PngSequenceWriter:
        self._created = make_folder(self.folder, "frames")
        try:
            self._stage = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.", dir=self.folder.parent))
        except BaseException:
            remove_folders(self._created)
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        assert self._stage is not None, "PngSequenceWriter.write called outside its 'with' block"
        write_png(self._stage / PNG_PATTERN.format(self.frames_written), frame)
        self.frames_written += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        stage = self._stage
        assert stage is not None
        self._stage = None
        try:
            if exc_type is None:
                for new in sorted(stage.iterdir()):
                    commit(new, self.folder / new.name)
                written = {PNG_PATTERN.format(i) for i in range(self.frames_written)}
                self.kept = sorted(p.name for p in self.folder.glob(FRAME_GLOB) if p.name not in written)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if exc_type is not None:
                remove_folders(self._created)


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float,
                size: tuple[int, int] | None = None, frames_dir: str | os.PathLike | None = None) -> int:
    """Encode ``frames`` to ``path`` (and the same frames as PNGs to ``frames_dir``); returns the count.

    ``size`` defaults to the first frame's size, so the iterator is consumed lazily either way.
    """
    iterator = iter(frames)
    try:
        first = next(iterator)
    except StopIteration:
        raise InputError("There are no frames to write; check the frame range") from None
    size = size or first.shape[:2]
    with VideoWriter(path, fps, size) as video:
        if frames_dir is None:
            for frame in _chain(first, iterator):
                video.write(frame)
        else:
            with PngSequenceWriter(frames_dir) as pngs:
                for frame in _chain(first, iterator):
                    video.write(frame)
                    pngs.write(frame)
        return video.frames_written


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


_STREAM_RE = re.compile(r"Stream #\S+.*Video: .*?(\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and exact frame count of a video (decodes it once to count frames)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"Video {path} does not exist")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
                          capture_output=True, text=True)
    log = proc.stderr
    stream = _STREAM_RE.search(log)
    if proc.returncode != 0 or stream is None:
        _refuse_without_video(path, log)
        raise VideoError(f"{path} is not a readable video ({_last_line(log)}); re-export it as mp4 (H.264)")
    fps = _FPS_RE.search(log[stream.start():])
    frames = re.findall(r"frame=\s*(\d+)", log)
    if fps is None or not frames:
        raise VideoError(f"Could not read the frame rate or frame count of {path}; re-export it as mp4 (H.264)")
    info = VideoInfo(width=int(stream.group(1)), height=int(stream.group(2)), fps=float(fps.group(1)),
                     frames=int(frames[-1]))
    _check_complete(path, log, info)
    return info


_DURATION_RE = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_DAMAGE = ("partial file", "Invalid data found", "corrupt input packet")


def _check_complete(path: Path, log: str, info: VideoInfo) -> None:
    """A video that decodes to fewer frames than its header promises is truncated or damaged: an
    error, because a shorter pose video silently makes a shorter animation. (With an audio track
    the header's duration may be the audio's, so there only decoding errors count.)"""
    duration = _DURATION_RE.search(log)
    if duration is None:
        return
    hours, minutes, seconds = duration.groups()
    length = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    expected = round(length * info.fps)
    damaged = any(marker in log for marker in _DAMAGE)
    if info.frames < expected - 1 and (damaged or "Audio:" not in log):
        raise VideoError(f"{path} is truncated or damaged: its header says {expected} frames ({length:g} s at "
                         f"{info.fps:g} fps) but only {info.frames} decode; render, export or copy it again")


_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def probe_header(path: str | os.PathLike) -> VideoInfo:
    """Size and frame rate from the container header, without decoding; ``frames`` is the
    header's duration times the rate (an estimate, for progress bars)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"Video {path} does not exist")
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    stream = _STREAM_RE.search(log)
    fps = _FPS_RE.search(log[stream.start():]) if stream else None
    if stream is None or fps is None:
        _refuse_without_video(path, log)
        raise VideoError(f"{path} is not a readable video ({_last_line(log)}); re-export it as mp4 (H.264)")
    duration = _DURATION_RE.search(log)
    seconds = 0.0
    if duration:
        hours, minutes, secs = duration.groups()
        seconds = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    return VideoInfo(width=int(stream.group(1)), height=int(stream.group(2)), fps=float(fps.group(1)),
                     frames=max(1, round(seconds * float(fps.group(1)))))


def _refuse_without_video(path: Path, log: str) -> None:
    """A file ffmpeg opened that holds no video stream: say what it lacks (ffmpeg's own last line,
    "Error opening output files: Invalid argument", is about its output options)."""
    if "Input #0" not in log or re.search(r"Stream #\S+.*Video:", log):
        return
    if re.search(r"Stream #\S+.*Audio:", log):
        raise VideoError(f"{path} has no video stream, only audio; give a video with frames (an H.264 mp4)")
    raise VideoError(f"{path} has no video frames (no stream at all); render or export the video again")


def _last_line(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output from ffmpeg"


def read_video(path: str | os.PathLike, exact_count: bool = True) -> Iterator[np.ndarray]:
    """Decode a video (or a folder of PNG frames) to RGB uint8 frames, one at a time.

    ``exact_count=False`` skips the counting pass (one decode instead of two) for callers that
    read every frame anyway.
    """
    path = Path(path)
    if path.is_dir():
        yield from read_png_sequence(path)
        return
    info = probe_video(path) if exact_count else probe_header(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    frame_bytes = info.width * info.height * 3
    try:
        while True:
            chunk = proc.stdout.read(frame_bytes)
            if not chunk:
                break
            if len(chunk) != frame_bytes:
                raise VideoError(f"{path} ended in the middle of a frame; the file is truncated")
            yield np.frombuffer(chunk, np.uint8).reshape(info.height, info.width, 3)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def read_png_sequence(folder: str | os.PathLike) -> Iterator[np.ndarray]:
    """PNG frames of a folder in name order, converted to RGB."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise VideoError(f"{folder} holds no .png frames")
    for file in files:
        try:
            with Image.open(file) as image:
                yield np.asarray(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise VideoError(f"Frame {file} is not a readable PNG: {exc}") from exc
