"""Finding a setup's files in a models folder: a ComfyUI ``models/`` tree or the official release folders.

A models folder is scanned once (every weight file's header, see ``identify``), so the files may
sit where ComfyUI puts them (``diffusion_models/`` or ``unet/``, ``vae/``, ``text_encoders/`` or
``clip/``, ``clip_vision/``, ``loras/``), in a downloaded SCAIL-Preview or SCAIL-2 folder, or
anywhere below the folder under any name: the header says what each file is. ``select`` then
picks one DiT (the one asked for, else the first found) and the VAE, umT5 encoder, tokenizer and
CLIP to go with it: those of the DiT's own release folder first, then the release-format files
(which the engine reads today), then the largest (the highest precision).

What a job loads is one path, the *checkpoint*: the release folder for an official DiT, else the
DiT file, whose components the engine finds again with ``components_for`` (so the command line,
the server and Blender pass the same single path around).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError
from .identify import FileInfo, identify, is_candidate

DIT_FOLDERS = ("diffusion_models", "unet")
ROLES = ("dit", "vae", "t5", "tokenizer", "clip", "lora")
ROLE_NAMES = {"dit": "SCAIL DiT", "vae": "Wan2.1 VAE", "t5": "umT5-xxl encoder", "tokenizer": "umT5 tokenizer",
              "clip": "CLIP ViT-H/14 vision", "lora": "LoRAs"}
CLIP_H_LAYERS = 32
MAX_DEPTH = 6  # a release folder's model/1/ file sits 3 below it; ComfyUI users nest a level or two more
SKIPPED_FOLDERS = {".git", ".cache", "__pycache__", "custom_nodes", "node_modules", "output", "input", "temp"}


@dataclass
class ModelsFolder:
    """Every SCAIL-related file under one folder, identified by its header."""

    root: Path
    files: list[FileInfo] = field(default_factory=list)

    def usable(self, role: str) -> list[FileInfo]:
        return [f for f in self.files if f.role == role and not f.refused]

    @property
    def refused(self) -> list[FileInfo]:
        return [f for f in self.files if f.refused and f.role != "other"]

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


@dataclass(frozen=True)
class Selection:
    """One DiT and the components found for it; ``missing`` names the roles not found."""

    dit: FileInfo
    checkpoint: Path  # what a job loads: the release folder of an official DiT, else the DiT file
    vae: FileInfo | None
    t5: FileInfo | None
    tokenizer: FileInfo | None
    clip: FileInfo | None

    @property
    def missing(self) -> list[str]:
        return [ROLE_NAMES[r] for r in ("vae", "t5", "tokenizer", "clip") if getattr(self, r) is None]


def scan(root: str | Path) -> ModelsFolder:
    """Identify every weight file and tokenizer under ``root`` (symlinks followed, loops skipped)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"models folder {root} does not exist or is not a folder; give your ComfyUI models/ "
                         "folder or the folder holding the SCAIL-Preview / SCAIL-2 downloads")
    found = ModelsFolder(root)
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        depth = len(Path(folder).relative_to(root).parts)
        if real in seen or depth > MAX_DEPTH:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        for name in sorted(names):
            path = Path(folder) / name
            if is_candidate(path) and path.is_file():
                info = identify(path)
                if info.role != "other":
                    found.files.append(info)
    return found


def release_folder(dit: FileInfo) -> Path | None:
    """The release folder of an official DiT (``X/model/1/*.pt`` -> ``X``), else None."""
    path = dit.path
    if dit.container == "torch" and path.parent.parent.name == "model" and len(path.parents) >= 3:
        return path.parents[2]
    return None


def models_root(dit_file: Path) -> Path | None:
    """The ComfyUI models folder a DiT file sits in (the parent of its diffusion_models/ or unet/)."""
    for ancestor in list(dit_file.parents)[:4]:
        if ancestor.name in DIT_FOLDERS:
            return ancestor.parent
    return None


def select(found: ModelsFolder, dit: str | None = None) -> Selection:
    """The DiT named by ``dit`` (its file name, its path relative to the folder, or an absolute
    path; None: the first found) and the components to go with it. InputError when no usable DiT
    is there or ``dit`` names none of them (the message lists what was found)."""
    dits = found.usable("dit")
    if not dits:
        refused = "".join(f"\n  {found.relative(f.path)}: {f.describe()}" for f in found.refused if f.role == "dit")
        raise InputError(f"no SCAIL DiT in {found.root}" + (f"; refused:{refused}" if refused else "") +
                         "\nPut a SCAIL-Preview or SCAIL-2 DiT there (scail models list shows the setups and "
                         "scail models get --setup NAME --models-dir DIR downloads one)")
    chosen = dits[0]
    if dit is not None:
        wanted = Path(dit).expanduser().resolve()
        matches = [f for f in dits if dit in (f.path.name, found.relative(f.path)) or f.path.resolve() == wanted]
        if not matches:
            names = ", ".join(found.relative(f.path) for f in dits)
            raise InputError(f"no DiT {dit!r} in {found.root}; found: {names}")
        chosen = matches[0]
    release = release_folder(chosen)
    near = [p for p in (release, chosen.path.parent) if p is not None]
    picks = {role: _pick(found.usable(role), near) for role in ("vae", "t5", "clip")}
    t5 = picks["t5"]
    tokenizer = _pick(found.usable("tokenizer"), [t5.path.parent] if t5 is not None else near)
    return Selection(chosen, release or chosen.path, picks["vae"], t5, tokenizer, picks["clip"])


def resolve(models_dir: str | Path, dit: str | None = None) -> Selection:
    """The DiT and components a job uses from ``models_dir``; InputError with the folder's report
    when anything is missing (what ``scail generate --models-dir``, the server and Blender call)."""
    found = scan(models_dir)
    selection = select(found, dit)
    if selection.missing:
        raise InputError(f"the models folder lacks the {', '.join(selection.missing)}:\n{report(found, selection)}")
    return selection


def _pick(files: list[FileInfo], near: list[Path]) -> FileInfo | None:
    """Files inside one of ``near`` first, then a CLIP of ViT-H/14's 32 layers, then release-format
    (torch) files, which the engine reads today, then the largest (highest precision)."""
    if not files:
        return None

    def rank(f: FileInfo) -> tuple:
        inside = next((i for i, folder in enumerate(near) if folder in f.path.parents), len(near))
        return inside, f.role == "clip" and f.blocks != CLIP_H_LAYERS, f.container != "torch", -f.size

    return min(files, key=rank)


def components_for(dit_file: Path) -> Selection | None:
    """The components of a DiT file in a ComfyUI models tree or beside its files, found by header;
    None when the tree lacks any of them (the caller says what to do)."""
    roots = [r for r in (models_root(dit_file), dit_file.parent) if r is not None]
    for root in roots:
        found = scan(root)
        info = identify(dit_file)
        if info.role != "dit" or info.refused:
            return None
        if all(f.path != dit_file for f in found.files):
            found.files.insert(0, info)
        selection = select(found, str(dit_file))
        if not selection.missing:
            return selection
    return None


def report(found: ModelsFolder, selection: Selection | None) -> str:
    """What was found (per role, each file's layout and dtype), what the selection uses and what is missing."""
    lines = [f"models folder {found.root}:"]
    for role in ROLES:
        files = found.usable(role)
        lines.append(f"  {ROLE_NAMES[role]}: " + ("none found" if not files else f"{len(files)} found"))
        for f in files:
            used = selection is not None and any(getattr(selection, r, None) == f for r in ("dit", "vae", "t5", "tokenizer", "clip"))
            lines.append(f"    {'*' if used else ' '} {found.relative(f.path)}  {f.describe()}, {_size(f.size)}")
    for f in found.refused:
        lines.append(f"  refused {found.relative(f.path)}: {f.describe()}")
    if selection is not None:
        lines.append(f"uses (*): checkpoint {selection.checkpoint}")
        if selection.missing:
            lines.append("missing: " + ", ".join(selection.missing) +
                         " (scail models get --setup NAME --models-dir DIR downloads them; scail models list names the setups)")
        else:
            lines.append("complete: scail generate --models-dir runs with these files")
    return "\n".join(lines)


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size} bytes"
