"""Write (or check) the DiT parity fixtures with the official SCAIL and SCAIL-2 code.

tests/engine/test_dit_parity.py compares our DiT with outputs of the official models, stored in
tests/engine/fixtures/dit_parity_{scail,scail2,scail2_replace}.npz: inputs, the official float32
CPU output at the tiny config with the weights of random_state_dict("tiny", variant, seed), and a
fingerprint of those weights. This script makes them, so anyone can regenerate or audit them.
New fixtures get fresh seeded inputs; --inputs-from keeps a fixture's own inputs (the committed
ones were written by an earlier script with other input draws, so that is how to remake them
exactly), and --check recomputes every committed fixture from its own inputs.

The official code is not part of this repository and is not copied here: it is imported at run
time from checkouts you name (--scail: zai-org/SCAIL at its `wan` branch, for
wan/modules/model_scail.py; --scail2: zai-org/SCAIL-2, for wan/modules/model_scail2.py), or from
shallow clones made with --clone. Only the model file and its sibling attention.py are imported;
the `wan` package's __init__ files (which pull in T5, CLIP, the VAE and transformers) are skipped.
Besides torch and numpy, the official model files need diffusers and einops
(`pip install diffusers einops`); flash-attn is not needed, because the official flash_attention
(CUDA and bf16 only) is replaced by torch's scaled_dot_product_attention in float32.

  tools/make_parity_fixtures.py --scail SCAIL --scail2 SCAIL-2 --check
  tools/make_parity_fixtures.py --clone --out /tmp/fixtures
  tools/make_parity_fixtures.py --scail2 SCAIL-2 --inputs-from tests/engine/fixtures/dit_parity_scail2.npz
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import subprocess
import sys
import tempfile
import types
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scail_blender.engine.models.dit import DitConfig
from scail_blender.engine.testing import random_state_dict

FIXTURES = ROOT / "tests" / "engine" / "fixtures"
REPOS = {"scail": ("https://github.com/zai-org/SCAIL.git", "wan"),
         "scail2": ("https://github.com/zai-org/SCAIL-2.git", None)}
MODULES = {"scail": ("model_scail", "SCAILModel"), "scail2": ("model_scail2", "SCAIL2Model")}
# Inputs in the order the fixtures store them; "replace" is written for SCAIL-2 only.
INPUT_KEYS = ("x", "t", "context", "clip_fea", "ref", "pose", "ref_mask", "pose_mask", "extra_refs",
              "extra_ref_masks", "replace")
MASK_CHANNELS = 4  # the official models append these to every 16-channel latent themselves
TOLERANCE = 1e-4  # the test's


@dataclass(frozen=True)
class Case:
    """One fixture's seeded inputs: a small batch at a latent size the tiny model runs in a second."""

    variant: str
    timesteps: tuple[float, ...]
    extra_refs: int = 0
    replace: bool = False
    history_frames: int = 0  # leading video frames marked as given (SCAIL-2's history mask)
    frames: int = 3
    size: int = 8
    text_tokens: int = 7
    clip_tokens: int = 5


CASES = {
    "scail": Case("scail", (999.0, 437.5)),
    "scail2": Case("scail2", (999.0,)),
    "scail2_replace": Case("scail2", (999.0,), extra_refs=2, replace=True, history_frames=2),
}


@contextlib.contextmanager
def official_warnings_muted() -> Iterator[None]:
    """Hide the warnings the official files raise on every CPU run: their torch.cuda.amp.autocast
    is deprecated, and does nothing without CUDA."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(torch.cuda.amp|CUDA is not available).*")
        yield


def import_official(checkout: Path, variant: str) -> types.ModuleType:
    """wan.modules.model_scail(2) from a checkout, with the package __init__ files skipped.

    Both repositories call their package `wan`, so whatever `wan` was imported before is dropped
    and fresh empty packages pointing into this checkout stand in for it.
    """
    folder = checkout / "wan" / "modules"
    module_name = MODULES[variant][0]
    if not (folder / f"{module_name}.py").is_file():
        raise SystemExit(f"{checkout} has no wan/modules/{module_name}.py: give a checkout of "
                         f"{REPOS[variant][0]}" + (f" at its {REPOS[variant][1]} branch" if REPOS[variant][1] else ""))
    for name in [n for n in sys.modules if n == "wan" or n.startswith("wan.")]:
        del sys.modules[name]
    for name, path in (("wan", folder.parent), ("wan.modules", folder)):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    with official_warnings_muted():
        module = importlib.import_module(f"wan.modules.{module_name}")
    module.flash_attention = float32_attention
    return module


def float32_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_lens: torch.Tensor | None = None,
                      window_size: tuple[int, int] = (-1, -1)) -> torch.Tensor:
    """Stands in for the official flash_attention, which runs only on CUDA in bf16.

    Takes exactly the arguments the official model files pass. They pass full-length k_lens (or
    none) and no window, so plain attention without a mask is the same computation; anything else
    would make this substitute wrong, hence the checks. [B, L, heads, head_dim] in and out.
    """
    if k_lens is not None and bool((k_lens != k.shape[1]).any()):
        raise ValueError(f"padded keys (k_lens {k_lens.tolist()}) are not supported by this substitute")
    if tuple(window_size) != (-1, -1):
        raise ValueError(f"windowed attention {window_size} is not supported by this substitute")
    out = F.scaled_dot_product_attention(q.transpose(1, 2).float(), k.transpose(1, 2).float(),
                                         v.transpose(1, 2).float())
    return out.transpose(1, 2).type(q.dtype)


def build_official(module: types.ModuleType, config: DitConfig) -> torch.nn.Module:
    """The official model at our config, float32 and in eval mode (its weights still to load).

    SCAIL-Preview and SCAIL-2 are Wan2.1-I2V models: i2v cross-attention, qk norm, the affine
    cross-attention norm (norm3), global attention. The official constructors hard-code CLIP
    ViT-H's 1280-wide image tokens, so the image projection is rebuilt, from the official MLPProj,
    at the config's clip_dim.
    """
    if config.text_len != module.T5_CONTEXT_TOKEN_NUMBER:
        raise SystemExit(f"the official model splits its context at {module.T5_CONTEXT_TOKEN_NUMBER} text "
                         f"tokens; config text_len is {config.text_len}")
    kwargs = dict(model_type="i2v", patch_size=config.patch_size, text_len=config.text_len, in_dim=config.in_dim,
                  dim=config.dim, ffn_dim=config.ffn_dim, freq_dim=config.freq_dim, text_dim=config.text_dim,
                  out_dim=config.out_dim, num_heads=config.num_heads, num_layers=config.num_layers,
                  window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=config.eps)
    if config.variant == "scail2":
        kwargs["mask_dim"] = config.mask_dim
    model = getattr(module, MODULES[config.variant][1])(**kwargs)
    if config.clip_dim != 1280:
        model.img_emb = module.MLPProj(config.clip_dim, config.dim)
    return model.float().eval()


def latents(name: str, tensor: torch.Tensor, mask_value: float | None = None) -> list[torch.Tensor]:
    """The 16 latent channels of a [B, 20, ...] input as the official per-sample list.

    The official models append the 4 mask channels themselves (zeros for the video, ones for
    reference, extra references and pose); the fixtures store them, so they are checked to be
    what the official code would add (mask_value None: SCAIL-2's history mask, taken as given).
    """
    masks = tensor[:, -MASK_CHANNELS:]
    if mask_value is not None and not bool((masks == mask_value).all()):
        raise ValueError(f"{name}'s last {MASK_CHANNELS} channels must all be {mask_value:g}, as the official "
                         "model appends them")
    return list(tensor[:, :-MASK_CHANNELS])


def official_forward(model: torch.nn.Module, variant: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """One official forward on fixture-format inputs: float32 [B, 16, T, h, w]."""
    arrays = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in inputs.items() if k != "replace"}
    x, t, context, clip_fea = arrays["x"], arrays["t"], arrays["context"], arrays["clip_fea"]
    patch = int(np.prod(model.patch_size))
    frames = x.shape[2] + 1 + (arrays["extra_refs"].shape[2] if "extra_refs" in arrays else 0)
    tokens = frames * x.shape[3] * x.shape[4] // patch + x.shape[2] * x.shape[3] * x.shape[4] // (4 * patch)
    common = dict(x=latents("x", x, 0.0 if variant == "scail" else None), t=t, context=list(context),
                  seq_len=tokens, clip_fea=clip_fea, pose_latents=latents("pose", arrays["pose"], 1.0),
                  ref_latents=latents("ref", arrays["ref"], 1.0))
    with torch.no_grad(), official_warnings_muted():
        if variant == "scail":
            out = model(**common)
        else:
            extra = "extra_refs" in arrays
            out = model(**common, driving_masks=list(arrays["pose_mask"]), ref_masks=list(arrays["ref_mask"]),
                        replace_flag=bool(inputs.get("replace", False)),
                        history_mask=list(x[:, -MASK_CHANNELS:]),
                        additional_ref_latents=latents("extra_refs", arrays["extra_refs"], 1.0) if extra else None,
                        additional_ref_masks=list(arrays["extra_ref_masks"]) if extra else None)
    return torch.stack(out).float().numpy()


def seeded_inputs(name: str, case: Case, seed: int, config: DitConfig) -> dict[str, np.ndarray]:
    """Fresh inputs for a case, from a generator of their own (building the official model draws
    from torch's global one)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    b, n, size, latent = len(case.timesteps), case.frames, case.size, config.in_dim - MASK_CHANNELS

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=generator)

    def masks(frames: int, side: int) -> torch.Tensor:
        return torch.bernoulli(torch.full((b, config.mask_dim, frames, side, side), 0.5), generator=generator)

    def with_mask(latent_part: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        return torch.cat([latent_part, mask], dim=1).numpy()

    history = torch.zeros(b, MASK_CHANNELS, n, size, size)
    history[:, :, :case.history_frames] = 1.0
    inputs = {
        "x": with_mask(randn(b, latent, n, size, size), history),
        "t": np.array(case.timesteps, dtype=np.float32),
        "context": randn(b, case.text_tokens, config.text_dim).numpy(),
        "clip_fea": randn(b, case.clip_tokens, config.clip_dim).numpy(),
        "ref": with_mask(randn(b, latent, 1, size, size), torch.ones(b, MASK_CHANNELS, 1, size, size)),
        "pose": with_mask(randn(b, latent, n, size // 2, size // 2),
                          torch.ones(b, MASK_CHANNELS, n, size // 2, size // 2)),
    }
    if case.variant == "scail2":
        inputs["ref_mask"] = masks(1 + n, size).numpy()
        inputs["pose_mask"] = masks(n, size // 2).numpy()
        if case.extra_refs:
            inputs["extra_refs"] = with_mask(randn(b, latent, case.extra_refs, size, size),
                                             torch.ones(b, MASK_CHANNELS, case.extra_refs, size, size))
            inputs["extra_ref_masks"] = masks(case.extra_refs, size).numpy()
        inputs["replace"] = np.array(case.replace)
    return inputs


def fingerprint(state: dict[str, torch.Tensor]) -> np.ndarray:
    """Per-tensor sums of the weights in name order, exactly as the test computes them."""
    return np.array([state[k].double().sum().item() for k in sorted(state)])


def read_fixture(path: Path) -> tuple[str, int, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(variant, seed, inputs, everything) of a fixture file."""
    with np.load(path) as data:
        stored = {key: data[key] for key in data.files}
    inputs = {k: stored[k] for k in INPUT_KEYS if k in stored}
    return str(stored["variant"]), int(stored["seed"]), inputs, stored


class Official:
    """The official models, built once per variant and seed and loaded with the seeded random weights."""

    def __init__(self, checkouts: dict[str, Path]) -> None:
        self.checkouts = checkouts
        self.loaded: dict[tuple[str, int], tuple[torch.nn.Module, np.ndarray]] = {}

    def run(self, variant: str, seed: int, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(official output, weights fingerprint) for these inputs."""
        if variant not in self.checkouts:
            raise SystemExit(f"a {variant} fixture needs --{variant} DIR (or --clone)")
        if (variant, seed) not in self.loaded:
            config = DitConfig.preset("tiny", variant)
            model = build_official(import_official(self.checkouts[variant], variant), config)
            state = random_state_dict(config, seed=seed)
            model.load_state_dict(state, strict=True)
            self.loaded[(variant, seed)] = model, fingerprint(state)
        model, weights = self.loaded[(variant, seed)]
        return official_forward(model, variant, inputs), weights


def write_fixture(path: Path, variant: str, seed: int, inputs: dict[str, np.ndarray], expected: np.ndarray,
                  weights: np.ndarray) -> None:
    """The npz in the committed fixtures' layout: inputs, expected, seed, variant, weights_fingerprint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **inputs, expected=expected.astype(np.float32), seed=np.array(seed, dtype=np.int64),
                        variant=np.array(variant), weights_fingerprint=weights)
    print(f"wrote {path}: expected {list(expected.shape)}, max |expected| {np.abs(expected).max():.3f}")


def check(official: Official, fixtures: list[Path]) -> int:
    """Recompute each fixture's expected from its own inputs; 0 if all agree within the test's tolerance."""
    failed = 0
    for path in fixtures:
        variant, seed, inputs, stored = read_fixture(path)
        expected, weights = official.run(variant, seed, inputs)
        weight_error = float(np.abs(weights - stored["weights_fingerprint"]).max())
        error = float(np.abs(expected - stored["expected"]).max())
        ok = weight_error <= 1e-6 and error <= TOLERANCE
        failed += not ok
        print(f"{path.name}: max |official - committed expected| = {error:.3g} (tolerance {TOLERANCE:g}), "
              f"weights fingerprint max difference {weight_error:.3g}: {'ok' if ok else 'DIFFERS'}")
    return 1 if failed else 0


def clone(variant: str, into: Path) -> Path:
    """A shallow clone of the official repository for a variant; says what it clones."""
    url, branch = REPOS[variant]
    target = into / url.rsplit("/", 1)[-1].removesuffix(".git")
    command = ["git", "clone", "--depth", "1", *(["--branch", branch] if branch else []), url, str(target)]
    print("cloning:", " ".join(command), flush=True)
    if subprocess.run(command).returncode:
        raise SystemExit(f"could not clone {url}; clone it yourself and pass --{variant} DIR")
    return target


def describe(variant: str, checkout: Path) -> None:
    """Print which official code a run used, with its commit where the checkout is a git one."""
    result = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    commit = result.stdout.strip() if result.returncode == 0 else "not a git checkout"
    print(f"official {variant}: {checkout} ({commit})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scail", type=Path, help="checkout of zai-org/SCAIL at its wan branch")
    parser.add_argument("--scail2", type=Path, help="checkout of zai-org/SCAIL-2")
    parser.add_argument("--clone", action="store_true",
                        help="git clone the official repositories not given above into a temporary folder")
    parser.add_argument("--check", action="store_true",
                        help="recompute the committed fixtures' expected outputs from their own inputs and report "
                             "the largest differences; writes nothing")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES,
                        help="folder of the fixtures --check reads (default: tests/engine/fixtures)")
    parser.add_argument("--inputs-from", type=Path, metavar="FIXTURE",
                        help="write only this fixture again, from its own inputs, variant and seed")
    parser.add_argument("--out", type=Path, default=FIXTURES, help="folder to write to (default: tests/engine/fixtures)")
    parser.add_argument("--seed", type=int, default=1234, help="weights and inputs seed of new fixtures (default 1234)")
    parser.add_argument("--only", choices=sorted(CASES), nargs="+", default=sorted(CASES),
                        help="new fixtures to write (default: all)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="scail-official-") as scratch:
        checkouts = {v: p.resolve() for v, p in (("scail", args.scail), ("scail2", args.scail2)) if p}
        if args.clone:
            checkouts |= {v: clone(v, Path(scratch)) for v in REPOS if v not in checkouts}
        for variant, checkout in checkouts.items():
            describe(variant, checkout)
        official = Official(checkouts)
        if args.check:
            fixtures = sorted(args.fixtures.glob("dit_parity_*.npz"))
            if not fixtures:
                raise SystemExit(f"no dit_parity_*.npz in {args.fixtures}")
            return check(official, fixtures)
        if args.inputs_from:
            variant, seed, inputs, _ = read_fixture(args.inputs_from)
            expected, weights = official.run(variant, seed, inputs)
            write_fixture(args.out / args.inputs_from.name, variant, seed, inputs, expected, weights)
            return 0
        for name in args.only:
            case = CASES[name]
            inputs = seeded_inputs(name, case, args.seed, DitConfig.preset("tiny", case.variant))
            expected, weights = official.run(case.variant, args.seed, inputs)
            write_fixture(args.out / f"dit_parity_{name}.npz", case.variant, args.seed, inputs, expected, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
