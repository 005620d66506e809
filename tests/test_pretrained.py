"""The pretrained generator: MobileNetV2 read from its TFLite file, hint inputs, export to every backend."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED, read_video
from test_training import _photos
from vidcolor.training.data import HINT_NONE, sample_hints, split_key
from vidcolor.training.export import check_parity, contract, export_onnx, probe_hints
from vidcolor.training.mobilenet import MobileNetV2, check_imagenet, fold_same_padding, load_tflite
from vidcolor.training.model import HINT_SCALE, MobileColorNet, ModelDims

from vidcolor import colorize
from vidcolor.colour import ab_gamut_bins
from vidcolor.errors import ModelError
from vidcolor.model import OnnxColorizer, probe_lightness

WEIGHTS = SHARED.parent / "weights" / "mobilenet_v2_imagenet_int8"
TFLITE = WEIGHTS / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
needs_weights = pytest.mark.skipif(not TFLITE.is_file(), reason="needs ../shared/weights")


def _net(hints: bool = True, seed: int = 0) -> MobileColorNet:
    torch.manual_seed(seed)
    bins = ab_gamut_bins()
    net = MobileColorNet(ModelDims(arch="mobilenet", hints=hints, widths=(16, 12, 8), num_bins=len(bins)))
    with torch.no_grad():  # a hint branch that does something (it starts at zero)
        for p in net.hint_stem.parameters() if hints else ():
            p.normal_(0, 0.5)
    return net.eval()


@needs_weights
def test_dequantized_mobilenet_classifies_the_imagenet_sample():
    """The conversion is right only with TF's "same" padding and the per-channel scales: the file
    itself scores 87.8 % top-1 on the 974 photos, PyTorch's symmetric padding about 5 points less."""
    model = load_tflite(MobileNetV2(), TFLITE)
    top1, top5 = check_imagenet(model, SHARED / "photos" / "imagenet_sample", WEIGHTS / "imagenet_labels.txt", 200)
    assert top1 >= 0.84 and top5 >= 0.94, (top1, top5)


def test_folded_padding_computes_the_same_network():
    net = _net()
    folded = fold_same_padding(copy.deepcopy(net))
    convs = [m for m in folded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(m.padding == (0, 0) and m.stride == (2, 2) for m in convs)
    x, hints = torch.randn(2, 1, 64, 96), torch.from_numpy(probe_hints(2, 64, 96))
    with torch.no_grad():
        assert torch.allclose(net(x, hints), folded(x, hints), atol=1e-4)


def test_hint_inputs_export_and_run_on_onnxruntime_and_torch(tmp_path):
    from vidcolor.torch_runtime import TorchColorizer

    net, out = _net(), tmp_path / "m.onnx"
    export_onnx(net, out, contract(net, ab_gamut_bins(), 0.5, 192, {}))
    assert check_parity(net, out) < 0.05  # with and without hints
    onnx_model, torch_model = OnnxColorizer(out), TorchColorizer(out, device="cpu")
    assert onnx_model.info.hint_input == "hints" and onnx_model.info.size_multiple == 32
    lightness, hints = probe_lightness(2, 64, 96), probe_hints(2, 64, 96)
    plain, hinted = onnx_model.predict_ab(lightness), onnx_model.predict_ab(lightness, hints)
    assert np.abs(hinted - plain).max() > 0.1  # the hints reach the output
    assert np.abs(onnx_model.predict_ab(lightness, np.zeros_like(hints)) - plain).max() == 0  # zeros: no hints
    assert np.abs(torch_model.predict_ab(lightness, hints) - hinted).max() < 0.05
    assert np.abs(torch_model.predict_ab(lightness) - plain).max() < 0.05


def test_a_model_without_hint_inputs_refuses_hints(tmp_path):
    net, out = _net(hints=False), tmp_path / "m.onnx"
    export_onnx(net, out, contract(net, ab_gamut_bins(), 0.5, 192, {}))
    model = OnnxColorizer(out)
    assert model.info.hint_input is None
    with pytest.raises(ModelError, match="no colour hints"):
        model.predict_ab(probe_lightness(1, 64, 64), probe_hints(1, 64, 64))


def test_training_hints_carry_the_true_colour_of_their_patch():
    rng = np.random.default_rng(0)
    ab = rng.uniform(-60, 60, (400, 2, 32, 32)).astype(np.float32)
    hints = sample_hints(ab, rng, HINT_SCALE)
    hinted = hints[:, 2].reshape(len(hints), -1).max(1) > 0
    assert abs((1 - hinted.mean()) - HINT_NONE) < 0.08  # about half the photos get none
    counts = hints[hinted, 2].sum(axis=(1, 2))
    assert counts.max() > 50 and counts.min() >= 1  # points of several sizes and numbers
    mask = hints[:, 2] > 0
    assert np.all(np.abs(hints[:, :2][np.stack([mask] * 2, 1)]) <= 60 / HINT_SCALE + 1e-6)
    # on a plain colour, every hint is that colour; off the hints, zero
    plain = np.broadcast_to(np.array([30.0, -20.0], np.float32)[None, :, None, None], (50, 2, 8, 8))
    hints = sample_hints(np.ascontiguousarray(plain), np.random.default_rng(1), 10.0)
    mask = hints[:, 2] > 0
    assert mask.any() and np.allclose(hints[:, 0][mask], 3.0) and np.allclose(hints[:, 1][mask], -2.0)
    assert not hints[:, :2][np.stack([~mask] * 2, 1)].any()


def test_the_split_keys_new_sources_by_folder():
    assert split_key(Path("photos/bsds500/train/12003.jpg")) == "12003.jpg"  # issue 3's split unchanged
    assert split_key(Path("photos/more/camvid/000001.jpg")) == "camvid/000001.jpg"
    assert split_key(Path("photos/more/urban100/000001.jpg")) != split_key(Path("photos/more/camvid/000001.jpg"))


@needs_weights
def test_short_pretrained_training_run_with_hints(tmp_path, make_video):
    data, out, summary = _photos(tmp_path / "photos"), tmp_path / "model.onnx", tmp_path / "summary.json"
    args = ["--data", str(data), "--out", str(out), "--summary-json", str(summary), "--arch", "mobilenet"]
    args += ["--pretrained", str(TFLITE), "--hints", "--steps", "4", "--freeze-steps", "2", "--batch-size", "4"]
    args += ["--crop", "64", "--val-every", "2", "--val-fraction", "0.3", "--decoder-widths", "16,12,8"]
    result = subprocess.run([sys.executable, "-m", "vidcolor.training.cli", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(summary.read_text())
    assert report["onnx_parity_max_ab"] < 0.05 and report["arch"] == "mobilenet" and report["hints"]
    info = OnnxColorizer(out).info
    assert info.hint_input and info.training["freeze_steps"] == 2 and info.training["pretrained"] == str(TFLITE)
    dst = tmp_path / "out.mp4"
    stats = colorize(make_video(frames=3), dst, model=out)  # the runtime feeds "no hints"
    assert stats.frames == len(read_video(dst)[0]) == 3


def test_pretrained_flags_are_checked(tmp_path):
    from vidcolor.training.cli import main

    data = _photos(tmp_path / "photos", count=4)
    for args in (["--hints"], ["--arch", "mobilenet", "--crop", "48"], ["--arch", "mobilenet", "--pretrained", "nope"]):
        with pytest.raises(SystemExit):
            main(["--data", str(data), "--out", str(tmp_path / "m.onnx"), *args])
