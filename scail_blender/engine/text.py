"""Prompt cleaning and umT5 tokenisation (512 tokens, padded), as Wan prepares text.

The tokenizer is the ``tokenizer.json`` of the checkpoint's umt5-xxl folder, read with the
``tokenizers`` library: the same fast tokenizer transformers would load, without transformers.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import ftfy
import torch
from tokenizers import Tokenizer

from ..errors import CheckpointError

TEXT_LEN = 512


def clean_prompt(text: str) -> str:
    """Repair mojibake and HTML entities and collapse whitespace (Wan's 'whitespace' cleaning)."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return re.sub(r"\s+", " ", text).strip()


class PromptTokenizer:
    def __init__(self, folder: Path, length: int = TEXT_LEN) -> None:
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise CheckpointError(
                f"{folder} has no tokenizer.json; copy the umt5-xxl tokenizer files "
                "(tokenizer.json, spiece.model, ...) of the release into that folder")
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the tokenizers library raises bare Exceptions for bad files
            raise CheckpointError(f"{path} is not a readable tokenizer ({exc}); download it again") from exc
        pad_id = self.tokenizer.token_to_id("<pad>")
        self.tokenizer.enable_truncation(length)
        self.tokenizer.enable_padding(length=length, pad_id=0 if pad_id is None else pad_id, pad_token="<pad>")

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, both [len(texts), 512] int64, with the end-of-text token."""
        encodings = self.tokenizer.encode_batch([clean_prompt(t) for t in texts], add_special_tokens=True)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return ids, mask
