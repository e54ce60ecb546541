"""Activation checkpointing of LRP: the same relevance at every level, less saved memory.

The levels (``none``, ``stage``, ``block``, ``block+perceiver``) only change what is kept
for the backward pass and recomputed there. On a CPU the recomputation repeats the same
kernels on the same values, and the Perceiver chunks (of 16 rows or more) run the same
kernels as one call, so the relevance is bit-identical (``torch.equal``); the ledger of
absorbed relevance sums the same terms in another order (float64: rtol 1e-12).
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch
from aurora.model.perceiver import PerceiverResampler
from aurora.model.swin3d import Swin3DTransformerBlock
from torch import nn

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.attribution.benchmark import lrp_peak_memory
from aurora_xai.attribution.constants import aurora_constant_terms
from aurora_xai.attribution.inputs import evaluate_target, normalised_inputs
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.pass_progress import stage_modules, stage_progress
from aurora_xai.attribution.patching import (
    CHECKPOINTING_LEVELS,
    checkpointed_model,
    checkpointing_level,
    lrp_rules,
)
from aurora_xai.attribution.rules import Ledger
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
from aurora_xai.regions import Region

torch.set_num_threads(1)

BOX = Region("box", 10.0, 50.0, 340.0, 40.0)  # crosses the prime meridian
TARGETS = {
    "msl": ForecastTarget("msl", None, BOX),
    "t500": ForecastTarget("t", 500, BOX),
    "backbone": LatentTarget("backbone", BOX),
    "stage1": LatentTarget("backbone.encoder.1", BOX),
}
CHECKPOINTED = [level for level in CHECKPOINTING_LEVELS if level != "none"]


@pytest.fixture(scope="module")
def model():
    """float64 tiny model, two blocks per stage (shifted windows), random biases."""
    return tiny_lrp_model(seed=0, depths=(2, 2, 2), dtype=torch.float64, bias_std=0.05)


@pytest.fixture(scope="module")
def batch():
    # 65 x 128: 16 x 32 patches per latent level, 512 Perceiver rows.
    return synthetic_batch(65, 128, dtype=torch.float64)


def _lrp(model, batch, target, rule="cp", level="none", chunk_rows=4096, backward_thread=False):
    """Relevance tensors, target value and ledger totals (as ``LRP.relevance``)."""
    inputs = normalised_inputs(model, batch, torch.float64)
    leaves = inputs.requires_grad_()
    ledger = Ledger()
    with lrp_rules(model, rule, 1e-6, level, ledger, chunk_rows=chunk_rows):
        with aurora_constant_terms(model, ledger):
            y = evaluate_target(model, leaves.to_batch(), target)
            out: dict = {}

            def backward() -> None:
                out["grads"] = torch.autograd.grad(y, leaves.tensors(), allow_unused=True)

            if backward_thread:  # as CUDA does: the backward pass in another thread
                t = threading.Thread(target=backward)
                t.start()
                t.join()
            else:
                backward()
    rel = [x.detach() * g for x, g in zip(leaves.tensors(), out["grads"])]
    return rel, y.detach(), ledger.totals()


def _assert_identical(a, b):
    rel_a, y_a, ledger_a = a
    rel_b, y_b, ledger_b = b
    assert torch.equal(y_a, y_b)
    for ra, rb in zip(rel_a, rel_b, strict=True):
        assert torch.equal(ra, rb)
    assert ledger_a.keys() == ledger_b.keys()
    for key in ledger_a:
        np.testing.assert_allclose(ledger_b[key], ledger_a[key], rtol=1e-12, atol=1e-15, err_msg=key)


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_level_gives_identical_cp_relevance(model, batch, target):
    """Chunks of 100 rows: 6 chunks, the last one shorter."""
    want = _lrp(model, batch, TARGETS[target])
    for level in CHECKPOINTED:
        _assert_identical(_lrp(model, batch, TARGETS[target], level=level, chunk_rows=100), want)


def test_every_level_gives_identical_attnlrp_relevance(model, batch):
    want = _lrp(model, batch, TARGETS["t500"], "attnlrp")
    for level in CHECKPOINTED:
        _assert_identical(_lrp(model, batch, TARGETS["t500"], "attnlrp", level, chunk_rows=64), want)


def test_recomputation_in_another_thread_uses_the_lrp_attention(model, batch):
    """CUDA runs the backward pass (and so the recomputation) in a device thread: it must
    get the explicit LRP attention, not the fused kernel (which saves other tensors)."""
    want = _lrp(model, batch, TARGETS["msl"], "attnlrp")
    for level in CHECKPOINTED:
        got = _lrp(model, batch, TARGETS["msl"], "attnlrp", level, chunk_rows=100, backward_thread=True)
        _assert_identical(got, want)


def test_compute_relevance_levels(model, batch):
    want = compute_relevance(model, batch, TARGETS["msl"], dtype=None)
    assert want.attrs["checkpointing"] == "none"
    for level in (*CHECKPOINTED, True):
        got = compute_relevance(model, batch, TARGETS["msl"], dtype=None, checkpointing=level)
        assert got.attrs["checkpointing"] == checkpointing_level(level)
        for v in want.data_vars:
            np.testing.assert_array_equal(got[v].values, want[v].values, err_msg=f"{level} {v}")
        assert got.attrs["target_value"] == want.attrs["target_value"]
    ixg = compute_relevance(model, batch, TARGETS["t500"], method="input_x_gradient", dtype=None)
    ixg_ckpt = compute_relevance(
        model, batch, TARGETS["t500"], method="input_x_gradient", dtype=None, checkpointing="block+perceiver"
    )
    for v in ixg.data_vars:
        np.testing.assert_array_equal(ixg_ckpt[v].values, ixg[v].values, err_msg=v)


def _saved_bytes(model, batch, level):
    """Bytes autograd saves outside the checkpointed pieces during an LRP forward pass."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    leaves = normalised_inputs(model, batch, torch.float64).requires_grad_()
    with lrp_rules(model, "cp", 1e-6, level), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        evaluate_target(model, leaves.to_batch(), TARGETS["msl"])
    return sum(storages.values())


def test_checkpointing_keeps_less_for_the_backward_pass(model, batch):
    saved = {level: _saved_bytes(model, batch, level) for level in CHECKPOINTING_LEVELS}
    # stage and block keep the stage inputs (block's pieces are nested in the stages);
    # block+perceiver neither the Perceiver encoder's saved tensors nor the decoder's.
    assert saved["stage"] == saved["block"] < 0.5 * saved["none"], saved
    assert saved["block+perceiver"] < 0.5 * saved["block"], saved


def test_pieces_are_recomputed_nested(model, batch):
    """How often a module runs in one LRP pass: once, plus once per enclosing piece.

    Counted on children (a piece's recomputation calls its own forward directly).
    """
    watched = {
        "block": model.backbone.encoder_layers[1].blocks[1].attn,
        "encoder": model.encoder.level_agg.layers[0][0],
        "decoder": model.decoder.level_decoder.layers[0][0],
    }
    calls = dict.fromkeys(watched, 0)
    handles = [
        m.register_forward_pre_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
        for name, m in watched.items()
    ]
    # 4 chunks of 128 rows: each runs in the forward pass and in its own recomputation;
    # the encoder's recomputation runs the first 3 (it stops early, once the inputs of
    # the last chunk, all it must restore, exist).
    want = {
        "none": dict(block=1, encoder=1, decoder=1),
        "stage": dict(block=2, encoder=1, decoder=1),
        "block": dict(block=3, encoder=1, decoder=1),
        "block+perceiver": dict(block=3, encoder=11, decoder=8),
    }
    try:
        for level, counts in want.items():
            calls.update(dict.fromkeys(watched, 0))
            _lrp(model, batch, TARGETS["t500"], level=level, chunk_rows=128)
            assert calls == counts, level
    finally:
        for h in handles:
            h.remove()


def test_pieces_are_installed_and_removed(model):
    blocks = [m for m in model.modules() if isinstance(m, Swin3DTransformerBlock)]
    resamplers = [m for m in model.modules() if isinstance(m, PerceiverResampler)]
    stages = [*model.backbone.encoder_layers, *model.backbone.decoder_layers]
    with lrp_rules(model, checkpointing="stage"):
        assert all("forward" in s.__dict__ for s in stages)
        assert not any("forward" in b.__dict__ for b in blocks)
    with lrp_rules(model, checkpointing="block"):
        assert all("forward" in m.__dict__ for m in [*stages, *blocks])
        assert not any("forward" in m.__dict__ for m in [*resamplers, model.encoder])
    with checkpointed_model(model, "block+perceiver"):
        pieces = [*stages, *blocks, *resamplers, model.encoder, model.encoder.surf_mlp]
        assert all("forward" in m.__dict__ for m in pieces)
        assert "forward" not in model.decoder.__dict__
    for m in [*blocks, *resamplers, *stages, model.encoder, model.encoder.surf_mlp]:
        assert "forward" not in m.__dict__


def test_levels_and_errors(model):
    assert checkpointing_level(True) == CHECKPOINTING_LEVELS[-1] == "block+perceiver"
    assert checkpointing_level(False) == checkpointing_level(None) == checkpointing_level("false") == "none"
    assert checkpointing_level("true") == "block+perceiver"
    assert [checkpointing_level(v) for v in CHECKPOINTING_LEVELS] == list(CHECKPOINTING_LEVELS)
    for bad in ("blocks", "True", 1):
        with pytest.raises(ValueError, match=r"attribution\.checkpointing.*block\+perceiver"):
            checkpointing_level(bad)
    with pytest.raises(ValueError, match="checkpointing"):
        lrp_rules(model, checkpointing="layer").__enter__()
    with pytest.raises(ValueError, match="backbone"):
        lrp_rules(nn.Linear(2, 2), checkpointing="block").__enter__()
    with pytest.raises(ValueError, match="rows"):
        lrp_rules(model, checkpointing="block+perceiver", chunk_rows=0).__enter__()
    with lrp_rules(nn.Linear(2, 2), checkpointing="none"):  # nothing to checkpoint: fine
        pass
    batch = synthetic_batch(17, 32)
    with pytest.raises(ValueError, match="checkpointing"):
        compute_relevance(model, batch, TARGETS["msl"], checkpointing="all")


def test_peak_memory_child_and_its_cap():
    ok = lrp_peak_memory(17, 32, "block+perceiver", model="tiny", threads=1, cap_bytes=8e9)
    assert ok["status"] == "ok", ok
    assert ok["peak_bytes"] >= ok["start_bytes"] > 0 and ok["level"] == "block+perceiver"
    assert np.isfinite(ok["relevance_sum"]) and ok["time_s"] > 0
    killed = lrp_peak_memory(17, 32, "none", model="tiny", threads=1, cap_bytes=50e6)
    assert killed["status"] == "killed" and killed["peak_bytes"] > 50e6


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_checkpointed_lrp_on_cuda_equals_unchecked():
    """On CUDA the recomputation runs in the autograd device thread."""
    model = tiny_lrp_model(seed=0, depths=(2, 2, 2), dtype=torch.float64, bias_std=0.05).cuda()
    batch = synthetic_batch(33, 64, dtype=torch.float64)
    want = compute_relevance(model, batch, TARGETS["msl"], attention_rule="attnlrp", dtype=None)
    for level in CHECKPOINTED:
        got = compute_relevance(model, batch, TARGETS["msl"], attention_rule="attnlrp", dtype=None, checkpointing=level)
        for v in want.data_vars:
            np.testing.assert_allclose(got[v].values, want[v].values, rtol=1e-9, atol=1e-15, err_msg=f"{level} {v}")


@pytest.mark.parametrize(
    ("level", "target", "backward_thread"),
    [("none", "msl", False), ("block+perceiver", "msl", True), ("stage", "backbone", False)],
)
def test_stage_progress_reports_both_passes_and_changes_nothing(model, batch, level, target, backward_thread, caplog):
    """Forward events in forward order (up to the target's module), backward events in
    reverse order, once each: none from the recomputation under checkpointing, also with
    the backward pass in another thread (as on CUDA); the relevance is identical."""
    run = dict(level=level, chunk_rows=100, backward_thread=backward_thread)
    want = _lrp(model, batch, TARGETS[target], **run)
    with caplog.at_level(logging.INFO, logger="aurora_xai"):
        with stage_progress(model, "LRP", every_s=0.0) as events:
            got = _lrp(model, batch, TARGETS[target], **run)
    _assert_identical(got, want)
    names = [name for name, _ in stage_modules(model)]
    if target == "backbone":  # the latent target ends the forward pass at the backbone
        names = names[:-1]
    assert [(p, n) for p, n, _ in events] == [("forward", n) for n in names] + [("backward", n) for n in names[::-1]]
    seconds = [s for _, _, s in events]
    assert seconds == sorted(seconds)
    lines = [r.getMessage() for r in caplog.records if r.name == "aurora_xai.attribution.pass_progress"]
    assert len(lines) == len(events) and lines[0].startswith("LRP forward pass finished encoder after")
    assert lines[-1].startswith("LRP backward pass reached encoder after")
    # A pass that takes less than every_s logs nothing at INFO; two passes in one context
    # report both; the hooks are removed after.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aurora_xai"):
        with stage_progress(model, "LRP", every_s=3600.0) as events:
            _lrp(model, batch, TARGETS[target], **run)
            _lrp(model, batch, TARGETS[target], **run)
        assert len(events) == 4 * len(names) and not caplog.records
        _lrp(model, batch, TARGETS[target], **run)
        assert len(events) == 4 * len(names)
