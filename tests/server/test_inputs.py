"""What a client may send a real ``scail serve`` on loopback: LoRAs by name or as an upload, never a
server path; sizes within the limits; one job field; file names within the limit; videos with
frames; and a client that hangs up in the middle of an upload."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.errors import InputError, ServerError, VideoError
from scail_blender.media.video import ffmpeg_exe, probe_header

from tests.support import ROOT
from tests.support.loras import write_lora
from tests.support.media import write_job_media
from .conftest import TOKEN, Server, a_job, child_env, free_port, running_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDARY = "scailtestboundary"
WAIT = 120
# The server below takes 32x32 jobs of 5 frames (5120 pixel-frames), not 64x64 ones (20480).
MAX_PIXELS_FRAMES = 20000


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loras")
    write_lora(folder / "style.safetensors")
    write_lora(folder / "distill.safetensors", "peft")
    (folder / "notes.txt").write_text("not a LoRA")
    (folder / ".hidden.safetensors").write_bytes(b"")
    (folder / "sub").mkdir()
    write_lora(folder / "sub" / "inner.safetensors")
    return folder


@pytest.fixture(scope="module")
def server(checkpoint: Path, lora_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(checkpoint, tmp_path_factory.mktemp("srv-inputs") / "data", "--max-upload-mb", "2",
                        "--lora-dir", str(lora_dir), "--max-pixels-frames", str(MAX_PIXELS_FRAMES)) as srv:
        yield srv


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A pose video 64 high x 112 wide: the aspect of 32768x57344, so only the size limit refuses it."""
    return write_job_media(tmp_path_factory.mktemp("wide"), size=(64, 112), ref_shape=(64, 112))


def post(server: Server, files: dict, fields: list[tuple[str, str]], path: str = "/v1/jobs") -> requests.Response:
    form = list(files.items()) + [(name, (None, value)) for name, value in fields]
    return requests.post(server.url + path, files=form, headers=AUTH, timeout=WAIT)


def small(media: dict[str, Path], **override) -> dict:
    files = {"reference": ("ref.png", media["ref32"].read_bytes()), "pose": ("pose.mp4", media["pose32"].read_bytes())}
    files.update(override)
    return files


def job_json(**settings) -> str:
    return json.dumps({"prompt": "a person dances", "settings": {"steps": 1, "height": 32, "width": 32, **settings}})


def error(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def job_count(server: Server) -> int:
    return server.client().list(limit=1)[1]


# LoRAs ------------------------------------------------------------------------------------------


def test_the_server_lists_its_lora_folder_and_runs_a_stack_by_name(server: Server, media: dict[str, Path],
                                                                   lora_dir: Path) -> None:
    listed = requests.get(server.url + "/v1/loras", headers=AUTH, timeout=10)
    assert listed.status_code == 200, listed.text
    sizes = {name: (lora_dir / name).stat().st_size for name in ("distill.safetensors", "style.safetensors")}
    assert listed.json() == {"loras": [{"name": name, "size": size} for name, size in sizes.items()]}
    assert server.client().loras() == listed.json()["loras"]
    assert requests.get(server.url + "/v1/loras", timeout=10).status_code == 401
    client = server.client()
    stack = [{"name": "style.safetensors", "strength": 0.5}, {"name": "distill.safetensors", "strength": 1.0}]
    job = a_job(media, size=32, steps=1, loras=stack)
    final = client.wait(client.submit(job).id)
    assert final.state == "succeeded", final.error
    assert "lora=style.safetensors@0.5+distill.safetensors@1 " in final.result.speed  # merged in this order
    view = requests.get(f"{server.url}/v1/jobs/{final.id}", headers=AUTH, timeout=10).json()
    assert view["settings"]["loras"] == stack
    assert str(lora_dir) not in json.dumps(view), "the view names no server path"
    listing = subprocess.run([sys.executable, "-m", "scail_blender.cli", "jobs", "--server", server.url, "--token",
                              TOKEN], check=True, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                             timeout=WAIT).stdout
    line = next(line for line in listing.splitlines() if line.startswith(final.id))
    assert "loras style.safetensors@0.5+distill.safetensors@1" in line


def test_a_job_of_an_old_client_with_one_lora_runs_as_a_stack_of_one(server: Server, media: dict[str, Path]) -> None:
    """The JSON a client sent before stacks (settings.lora, lora_strength) is read, not refused."""
    response = post(server, small(media), [("job", job_json(lora="style.safetensors", lora_strength=0.25))])
    assert response.status_code == 201, response.text
    assert response.json()["settings"]["loras"] == [{"name": "style.safetensors", "strength": 0.25}]
    final = server.client().wait(response.json()["id"])
    assert final.state == "succeeded", final.error
    assert "lora=style.safetensors@0.25 " in final.result.speed
    both = job_json(lora="style.safetensors", loras=[{"name": "distill.safetensors"}])
    code, kind, message = error(post(server, small(media), [("job", both)]))
    assert (code, kind) == (422, "invalid_job") and "not both" in message


def test_every_lora_of_a_stack_is_checked_and_never_opens_a_path_of_the_server(server: Server,
                                                                                media: dict[str, Path]) -> None:
    """Names with a folder are refused before any file is looked at, wherever they are in the stack,
    and a name the folder lacks reads the same whether or not that file exists elsewhere."""
    before = job_count(server)
    for name in ("/etc/passwd", "../style.safetensors", "sub/inner.safetensors", "..\\style.safetensors",
                 "C:style.safetensors", "style.safetensors\x00", ".hidden.safetensors", "..", "x" * 300,
                 "notes.txt"):
        stack = [{"name": "style.safetensors"}, {"name": name}]
        code, kind, message = error(post(server, small(media), [("job", job_json(loras=stack))]))
        assert (code, kind) == (400, "invalid_lora") and "settings.loras[1]" in message, (name, message)
    messages = []
    for name in ("passwd", "no-such-file-anywhere"):  # /etc/passwd exists, the other nowhere
        code, kind, message = error(post(server, small(media), [("job", job_json(loras=[{"name": name}]))]))
        assert (code, kind) == (400, "invalid_lora") and "GET /v1/loras" in message
        messages.append(message.replace(name, "NAME"))
    assert messages[0] == messages[1]
    twice = [{"name": "style.safetensors"}, {"name": "style.safetensors", "strength": 0.5}]
    code, kind, message = error(post(server, small(media), [("job", job_json(loras=twice))]))
    assert (code, kind) == (400, "invalid_lora") and "comes twice" in message
    assert job_count(server) == before, "no refused job was queued"


def test_loras_uploaded_with_the_job_beside_the_servers(server: Server, media: dict[str, Path],
                                                        tmp_path: Path) -> None:
    mine = write_lora(tmp_path / "my-style.safetensors", "peft")
    (tmp_path / "elsewhere").mkdir()
    other = write_lora(tmp_path / "elsewhere" / "dpo.safetensors")
    client = server.client()
    # A path of this machine is uploaded and named by its file name; a plain name stays the server's.
    job = a_job(media, size=32, steps=1, loras=[{"name": str(mine), "strength": 0.5}, {"name": "style.safetensors"},
                                                {"name": "renamed.safetensors", "strength": -1.0}])
    job.inputs.lora_files["renamed.safetensors"] = str(other)
    final = client.wait(client.submit(job).id)
    assert final.state == "succeeded", final.error
    assert "lora=my-style.safetensors@0.5+style.safetensors@1+renamed.safetensors@-1 " in final.result.speed
    before = job_count(server)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    one = job_json(loras=[{"name": "x.safetensors"}])
    for content in (b"", b"not a safetensors file at all", struct.pack("<Q", 10**12) + b"{}",
                    struct.pack("<Q", 5) + b"[1,2]", struct.pack("<Q", len(header)) + header + b"\0" * 4):
        code, kind, message = error(post(server, small(media, lora_0=("x.safetensors", content)), [("job", one)]))
        assert (code, kind) == (400, "invalid_lora") and "safetensors" in message, (content[:20], message)
    good = ("x.safetensors", mine.read_bytes())
    code, kind, message = error(post(server, small(media, lora_1=good), [("job", one)]))
    assert (code, kind) == (400, "invalid_lora") and "'lora_1' was uploaded but settings.loras has 1" in message
    code, kind, message = error(post(server, small(media, lora=good), [("job", one)]))  # the old single field
    assert (code, kind) == (400, "invalid_upload") and "lora_0" in message
    assert job_count(server) == before
    assert list((server.data_dir / "uploads").iterdir()) == []


def test_the_client_sends_lora_names_and_never_paths(media: dict[str, Path]) -> None:
    """Refused before any request: the address has no server, so reaching it would be another error."""
    from scail_blender.jobs.client import ScailClient

    client = ScailClient(f"http://127.0.0.1:{free_port()}", TOKEN)
    for path in ("/srv/loras/style.safetensors", "loras/style.safetensors", "..", "C:\\style.safetensors"):
        with pytest.raises(InputError, match="name of one of the server's LoRAs"):
            client.submit(a_job(media, size=32, loras=[{"name": "style.safetensors"}, {"name": path}]))
    with pytest.raises(InputError, match="255"):
        client.submit(Job(inputs=JobInputs(reference_image=str(Path("/tmp") / ("r" * 300 + ".png")),
                                           pose_video=str(media["pose32"])), settings=JobSettings(steps=1)))


def test_scail_submit_takes_a_stack_of_names_and_files(server: Server, media: dict[str, Path],
                                                       tmp_path: Path) -> None:
    mine = write_lora(tmp_path / "upload-me.safetensors", "peft")
    base = [sys.executable, "-m", "scail_blender.cli", "submit", "--server", server.url, "--token", TOKEN,
            "--ref", str(media["ref32"]), "--pose", str(media["pose32"]), "--size", "32x32"]
    out = tmp_path / "stack.mp4"
    proc = subprocess.run([*base, "--preset", "distill", "--steps", "1", "--lora", "style.safetensors:0.5",
                           "--lora", f"{mine}:-0.5", "--out", str(out)], check=False, cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    assert "with LoRAs style.safetensors@0.5+upload-me.safetensors@-0.5" in proc.stderr
    job_id = proc.stdout.split("job ")[-1].strip(" )\n")
    view = requests.get(f"{server.url}/v1/jobs/{job_id}", headers=AUTH, timeout=10).json()
    assert (view["settings"]["steps"], view["settings"]["shift"], view["settings"]["cfg"]) == (1, 1.0, 1.0)
    assert "lora=style.safetensors@0.5+upload-me.safetensors@-0.5 " in view["result"]["speed"]
    missing = subprocess.run([*base, "--lora", "nowhere/x.safetensors", "--out", str(tmp_path / "x.mp4")], check=False,
                             cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=WAIT)
    assert missing.returncode == 2 and "name of one of the server's LoRAs" in missing.stderr


# Limits -----------------------------------------------------------------------------------------


def test_jobs_over_the_limits_are_refused_before_they_are_queued(server: Server, media: dict[str, Path],
                                                                 wide: dict[str, Path]) -> None:
    before = job_count(server)
    huge = {"reference": ("ref.png", wide["ref"].read_bytes()), "pose": ("pose.mp4", wide["pose"].read_bytes())}
    code, kind, message = error(post(server, huge, [("job", job_json(height=32768, width=57344))]))
    assert (code, kind) == (422, "over_limit") and "4096" in message, message
    code, kind, message = error(post(server, small(media), [("job", job_json(steps=5000))]))
    assert (code, kind) == (422, "over_limit") and "1000" in message, message
    big = small(media, reference=("ref.png", media["ref64"].read_bytes()), pose=("pose.mp4", media["pose64"].read_bytes()))
    code, kind, message = error(post(server, big, [("job", job_json(height=64, width=64))]))
    assert (code, kind) == (422, "over_limit"), message
    assert "20480" in message and f"{MAX_PIXELS_FRAMES}" in message, message
    with pytest.raises(InputError, match="at most") as typed:
        server.client().submit(a_job(media, size=64, steps=1))
    assert typed.value.code == "over_limit"
    assert job_count(server) == before
    assert post(server, small(media), [("job", job_json())]).status_code == 201, "a job within the limits is taken"


# The form ---------------------------------------------------------------------------------------


def test_a_repeated_job_field_is_refused(server: Server, media: dict[str, Path]) -> None:
    before = job_count(server)
    for copies in (2, 998):
        code, kind, message = error(post(server, small(media), [("job", job_json())] * copies))
        assert (code, kind) == (400, "invalid_upload") and "'job'" in message and "once" in message, message
    assert job_count(server) == before


def test_file_names_over_the_limit_are_refused_by_name(server: Server, media: dict[str, Path]) -> None:
    """300 bytes break the name rule; 10,000 also the parser's limit on a part's header line."""
    for length, expected in ((300, "invalid_filename"), (10_000, "header_too_large")):
        code, kind, message = error(post(server, small(media, pose=("p" * length + ".mp4", b"x")), [("job", job_json())]))
        assert (code, kind) == (400, expected) and "at most 255 bytes" in message, message
    assert list((server.data_dir / "uploads").iterdir()) == []


def test_videos_without_video_frames_are_refused_by_what_they_lack(server: Server, media: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    """ffmpeg-made files: an mp4 of audio only, and an mp4 whose video ended before its first frame."""
    audio, empty, one = tmp_path / "audio.mp4", tmp_path / "empty.mp4", tmp_path / "one.mp4"
    ffmpeg = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio)], check=True)
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "color=s=32x32:r=12:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(one)], check=True)
    subprocess.run([*ffmpeg, "-i", str(one), "-c", "copy", "-frames:v", "0", str(empty)], check=True)
    for video, words in ((audio, "no video stream"), (empty, "no video frames")):
        code, kind, message = error(post(server, small(media, pose=("pose.mp4", video.read_bytes())),
                                         [("job", job_json())]))
        assert (code, kind) == (400, "invalid_video") and words in message and "uploaded pose" in message, message
        assert "Error opening output files" not in message
        with pytest.raises(VideoError, match=words):
            probe_header(video)


# A client that hangs up -------------------------------------------------------------------------


def test_a_client_that_disconnects_mid_upload_is_one_log_line(server: Server) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    logged = len(server.output())
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"pose\"; filename=\"p.mp4\"\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 1500000\r\n\r\n"
                     .encode() + head + b"\0" * 200_000)
        time.sleep(0.5)  # the server has the part open and is writing it
    deadline = time.monotonic() + 30
    while "disconnected" not in server.output()[logged:] and time.monotonic() < deadline:
        time.sleep(0.1)
    new = server.output()[logged:]
    assert "disconnected" in new, new
    assert "Traceback" not in new and "ERROR" not in new and "internal" not in new, new
    assert len([line for line in new.splitlines() if "disconnected" in line]) == 1, new
    assert list((server.data_dir / "uploads").iterdir()) == [], "the partial upload was removed"
    assert server.client().health()["ok"]


# The free-space reserve -------------------------------------------------------------------------


def test_min_free_space_is_a_serve_flag(checkpoint: Path, media: dict[str, Path], tmp_path: Path) -> None:
    help_text = subprocess.run([sys.executable, "-m", "scail_blender.cli", "serve", "--help"], check=False, cwd=ROOT,
                               env=child_env(), capture_output=True, text=True, timeout=WAIT).stdout
    assert "--min-free-space" in help_text and "--lora-dir" in help_text and "--max-pixels-frames" in help_text
    bad = subprocess.run([sys.executable, "-m", "scail_blender.cli", "serve", "--checkpoint", str(checkpoint),
                          "--min-free-space", "lots"], check=False, cwd=ROOT, env=child_env(), capture_output=True,
                         text=True, timeout=WAIT)
    assert bad.returncode == 2 and "--min-free-space" in bad.stderr and "1GB" in bad.stderr, bad.stderr
    with running_server(checkpoint, tmp_path / "data", "--min-free-space", "1000000TB") as srv:
        with pytest.raises(ServerError, match="free") as refused:
            srv.client().submit(a_job(media, size=32, steps=1))
        assert refused.value.code == "no_space"
        assert "--min-free-space" in refused.value.args[0]
