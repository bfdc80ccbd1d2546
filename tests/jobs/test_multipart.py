"""The streamed upload body: what a multipart parser (the server's own) reads back from it."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from scail_blender.jobs.multipart import MultipartBody

multipart = pytest.importorskip("python_multipart.multipart")


def parse(body: bytes, boundary: str) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, data) as the server's parser sees each part."""
    parts: dict[str, tuple[str | None, bytes]] = {}
    state: dict = {}

    def header(name: bytes, value: bytes) -> None:
        if name.lower() == b"content-disposition":
            _, options = multipart.parse_options_header(value)
            state["name"] = options[b"name"].decode()
            state["filename"] = options[b"filename"].decode() if b"filename" in options else None

    callbacks = {
        "on_part_begin": lambda: state.update(data=b"", field=b"", value=b""),
        "on_header_field": lambda data, start, end: state.update(field=state["field"] + data[start:end]),
        "on_header_value": lambda data, start, end: state.update(value=state["value"] + data[start:end]),
        "on_header_end": lambda: (header(state["field"], state["value"]), state.update(field=b"", value=b"")),
        "on_part_data": lambda data, start, end: state.update(data=state["data"] + data[start:end]),
        "on_part_end": lambda: parts.update({state["name"]: (state["filename"], state["data"])}),
    }
    parser = multipart.MultipartParser(boundary.encode(), callbacks)
    parser.write(body)
    parser.finalize()
    return parts


def test_files_and_fields_come_back_whole_at_any_read_size(tmp_path: Path) -> None:
    video, image, empty = tmp_path / "pose.mp4", tmp_path / 'we"ird\nname.png', tmp_path / "empty.bin"
    video.write_bytes(bytes(range(256)) * 1000)
    image.write_bytes(b"\r\n--not-a-boundary\r\n" * 50)
    empty.write_bytes(b"")
    for size in (-1, 1, 7, 4096):
        body = MultipartBody()
        with video.open("rb") as a, image.open("rb") as b, empty.open("rb") as c:
            body.add_file("pose", video.name, a)
            body.add_file("reference", image.name, b)
            body.add_file("mask", empty.name, c)
            body.add_field("job", '{"prompt": "a dancer"}', "application/json")
            length = len(body)
            chunks = list(iter(functools.partial(body.read, size), b""))
            data = b"".join(chunks)
        assert len(data) == length
        assert size < 0 or all(len(chunk) <= size for chunk in chunks)
        parts = parse(data, body.boundary)
        assert parts["pose"] == ("pose.mp4", video.read_bytes())
        assert parts["reference"] == ("we_ird_name.png", image.read_bytes())
        assert parts["mask"] == ("empty.bin", b"")
        assert parts["job"] == (None, b'{"prompt": "a dancer"}')


def test_a_file_that_shrinks_while_it_uploads_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pose.mp4"
    path.write_bytes(b"x" * 10000)
    body = MultipartBody()
    with path.open("rb") as file:
        body.add_file("pose", path.name, file)
        body.read(100)
        path.write_bytes(b"x" * 10)
        with pytest.raises(OSError, match="became shorter"):
            body.read()
