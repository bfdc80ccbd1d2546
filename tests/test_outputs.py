"""The one output policy on real files: what is refused before any work, and what a write leaves."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from scail_blender.errors import InputError
from scail_blender.outputs import atomic_file, check_outputs, commit, temp_sibling


def test_an_output_that_is_an_input_or_another_output_is_refused(tmp_path: Path) -> None:
    motion = tmp_path / "dance.npz"
    motion.write_bytes(b"the user's motion")
    link = tmp_path / "link.npz"
    link.symlink_to(motion)
    hard = tmp_path / "hard.npz"
    os.link(motion, hard)
    for out in (motion, link, hard, tmp_path / "sub" / ".." / "dance.npz"):
        with pytest.raises(InputError, match="--out .* is also --motion, an input"):
            check_outputs({"--out": out}, inputs={"--motion": motion})
    with pytest.raises(InputError, match="--joints-out .* is also --out, another output"):
        check_outputs({"--out": tmp_path / "a.mp4", "--joints-out": tmp_path / "a.mp4"})
    with pytest.raises(InputError, match="--frames-dir .* is also --out"):
        check_outputs({"--out": tmp_path / "x"}, frames={"--frames-dir": tmp_path / "x"})
    assert motion.read_bytes() == b"the user's motion"


def test_non_regular_targets_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.mp4"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        for target, kind in ((folder, "a folder"), (fifo, "a named pipe"), (sock_path, "a socket"),
                             (Path("/dev/null"), "a device")):
            with pytest.raises(InputError, match=f"is {kind}, which is never replaced"):
                check_outputs({"--out": target})
    finally:
        server.close()
    # ... and the final rename refuses one that appeared after the check.
    temp = temp_sibling(tmp_path / "late.mp4")
    with pytest.raises(InputError, match="a named pipe"):
        commit(temp, fifo)
    assert not temp.exists() and fifo.is_fifo()


def test_unwritable_and_impossible_folders_are_refused_before_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is a file, so the folder"):
        check_outputs({"--out": blocker / "sub" / "a.mp4"})
    with pytest.raises(InputError, match="not writable"):
        check_outputs({"--out": "/proc/scail-test/a.mp4"})
    with pytest.raises(InputError, match="MB free"):
        check_outputs({"--out": tmp_path / "a.mp4"}, need_bytes=10**18)
    assert sorted(tmp_path.iterdir()) == [blocker], "checking made nothing"


def test_frames_folder_with_numbered_frames_needs_overwrite(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "notes.txt").write_text("not a frame")
    assert check_outputs({}, frames={"--frames-dir": frames}).existing_frames == {"--frames-dir": []}
    (frames / "00000.png").write_bytes(b"mine")
    with pytest.raises(InputError, match="already holds 1 numbered frames .* --overwrite"):
        check_outputs({}, frames={"--frames-dir": frames})
    checked = check_outputs({}, frames={"--frames-dir": frames}, overwrite=True)
    assert checked.existing_frames["--frames-dir"] == ["00000.png"]
    with pytest.raises(InputError, match="not a folder"):
        check_outputs({}, frames={"--frames-dir": frames / "notes.txt"})


def test_atomic_file_leaves_nothing_on_failure_and_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "m.npz"
    with pytest.raises(RuntimeError), atomic_file(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert list(tmp_path.iterdir()) == [], "the folders it made are gone too"
    existing = tmp_path / "m.npz"
    existing.write_bytes(b"old")
    with atomic_file(existing) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".")
        temp.write_bytes(b"new")
    assert existing.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
