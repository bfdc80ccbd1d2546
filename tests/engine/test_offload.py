"""Block offload, CPU to CPU through the same prefetch code as CUDA: same outputs, two blocks at a time."""

from __future__ import annotations

import pytest
import torch

from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.offload import BlockOffload
from scail_blender.engine.speed import Speed, prepare_dit

from tests.engine.test_dit_model import make_inputs


def make_model(variant: str, layers: int = 2) -> ScailDiT:
    config = DitConfig.preset("tiny", variant)
    config = type(config)(**{**config.__dict__, "num_layers": layers})
    model = ScailDiT(config)
    model.load_state_dict(random_state_dict(config, seed=3))
    return model.eval()


@pytest.mark.parametrize("variant", ["scail", "scail2"])
def test_offloaded_blocks_give_the_resident_output(variant: str) -> None:
    resident, offloaded = make_model(variant, 4), make_model(variant, 4)
    offload = offloaded.offload = BlockOffload(offloaded.blocks, "cpu")
    inputs = make_inputs(variant)
    arrivals = []
    for block in offloaded.blocks:
        block.register_forward_pre_hook(lambda m, args: arrivals.append(m.norm3.weight.data_ptr()))
    with torch.no_grad():
        expected = resident(**inputs)
        first, second = offloaded(**inputs), offloaded(**inputs)
    assert torch.equal(first, expected) and torch.equal(second, expected)
    # Every block ran on fresh device copies, never on its host tensors, at most two present at once.
    host_ptrs = {tensors["norm3.weight"].data_ptr() for tensors in offload.host}
    assert len(arrivals) == 8 and not host_ptrs & set(arrivals)
    assert offload.most_on_device == 2 and offload.on_device == set()
    # Between forwards every block points at its host copy again.
    for block, tensors in zip(offloaded.blocks, offload.host):
        assert block.norm3.weight.data_ptr() == tensors["norm3.weight"].data_ptr()


def test_a_failing_block_leaves_every_block_on_the_host() -> None:
    model = make_model("scail", 3)
    offload = model.offload = BlockOffload(model.blocks, "cpu")

    def boom(*args):
        raise RuntimeError("boom")

    model.blocks[1].register_forward_pre_hook(boom)
    with torch.no_grad(), pytest.raises(RuntimeError, match="boom"):
        model(**make_inputs("scail"))
    assert offload.on_device == set()


def test_prepare_dit_with_vram_modes_and_fp8() -> None:
    inputs = make_inputs("scail")
    with torch.no_grad():
        reference = make_model("scail")(**inputs)
        fp8 = prepare_dit(make_model("scail"), Speed(precision="fp8"), "cpu")(**inputs)
        streamed = prepare_dit(make_model("scail"), Speed(precision="fp8", vram="12gb"), "cpu")
        assert isinstance(streamed.offload, BlockOffload)
        assert torch.equal(streamed(**inputs), fp8)
    assert 0 < float((fp8 - reference).norm() / reference.norm()) < 0.05
