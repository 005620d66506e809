"""Training: ONNX export matches PyTorch, and a short vidcolor-train run makes a model the CLI takes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
import torch
from conftest import read_video
from vidcolor.training.export import (
    RAW_OUTPUT,
    check_parity,
    contract,
    decode_raw,
    export_onnx,
    set_chroma_gain,
    upgrade,
)
from vidcolor.training.losses import annealed_mean, bin_weights, classification_loss
from vidcolor.training.model import L_SCALE, L_SHIFT, ColorUNet, ModelDims

from vidcolor import colorize
from vidcolor.colour import ab_gamut_bins
from vidcolor.errors import ModelError
from vidcolor.model import METADATA_KEY, OnnxColorizer
from vidcolor.model import annealed_mean as runtime_annealed_mean

SMALL = ModelDims(widths=(8, 8, 16, 16), blocks=(0, 1, 1, 1))


def _model(head: str) -> ColorUNet:
    torch.manual_seed(0)
    bins = ab_gamut_bins()
    dims = ModelDims(**{**SMALL.to_dict(), "head": head, "num_bins": len(bins) if head == "classification" else 0})
    model = ColorUNet(dims).eval()
    # Non-trivial batch-norm statistics, so the export has something to get wrong.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("head", ["classification", "regression"])
def test_onnx_matches_pytorch(tmp_path, head):
    model = _model(head)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, contract(model, ab_gamut_bins(), 0.38, 256, {"command": "test"}))
    assert check_parity(model, path) < 0.05
    info = OnnxColorizer(path).info
    assert info.head == head and info.render_size == 256 and info.training["command"] == "test"


def test_parity_check_catches_a_mismatch(tmp_path):
    model = _model("classification")
    path = tmp_path / "m.onnx"
    export_onnx(model, path, contract(model, ab_gamut_bins(), 0.38, 256, {}))
    with torch.no_grad():
        model.head.bias += 1.0 * torch.linspace(-3, 3, model.head.bias.numel())
    with pytest.raises(ModelError):
        check_parity(model, path)


def test_annealed_mean_matches_runtime_decode():
    # The runtime's numpy decoding (for models whose graph ends in logits) is training's definition.
    logits = torch.randn(2, len(ab_gamut_bins()), 5, 7) * 3
    expected = annealed_mean(logits, torch.from_numpy(ab_gamut_bins()), 0.38).numpy()
    got = runtime_annealed_mean(logits.numpy(), ab_gamut_bins(), 0.38)
    assert np.abs(got - expected).max() < 1e-3


@pytest.mark.parametrize("head", ["classification", "regression"])
def test_exported_graph_decodes_ab_with_the_temperature_as_input(tmp_path, head):
    model = _model(head)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, contract(model, ab_gamut_bins(), 0.38, 256, {}))
    runtime = OnnxColorizer(path)
    assert runtime.info.decoded and runtime.info.output_name == "ab"
    lightness = np.random.default_rng(0).uniform(0, 100, (2, 64, 96)).astype(np.float32)
    with torch.no_grad():
        raw = model(torch.from_numpy(lightness[:, None]) / L_SCALE - L_SHIFT)
    for temperature in (0.38, 1.0):
        info = dataclasses.replace(runtime.info, temperature=temperature)
        expected = decode_raw(raw, info).permute(0, 2, 3, 1).numpy()
        runtime.info = info
        assert np.abs(runtime.predict_ab(lightness) - expected).max() < 0.05
    if head == "classification":  # a different temperature must change the colours, or it is not an input
        sharp = decode_raw(raw, dataclasses.replace(info, temperature=0.38))
        assert (sharp - decode_raw(raw, info)).abs().max() > 1


@pytest.mark.parametrize("head", ["classification", "regression"])
def test_chroma_gain_scales_ab_in_the_graph_and_replaces_an_earlier_gain(tmp_path, head):
    from vidcolor.torch_runtime import TorchColorizer

    model = _model(head)
    plain, gained, rewritten = (tmp_path / f"{name}.onnx" for name in ("plain", "gained", "rewritten"))
    export_onnx(model, plain, contract(model, ab_gamut_bins(), 0.5, 256, {}))
    export_onnx(model, gained, contract(model, ab_gamut_bins(), 0.5, 256, {}, chroma_gain=2.0))
    assert check_parity(model, gained) < 0.05  # PyTorch's decoding applies the gain too
    lightness = np.random.default_rng(2).uniform(0, 100, (2, 64, 96)).astype(np.float32)
    base = OnnxColorizer(plain).predict_ab(lightness)
    assert np.abs(base).max() > 1 and OnnxColorizer(plain).info.chroma_gain == 1.0
    for colorizer in (OnnxColorizer(gained), TorchColorizer(gained, device="cpu")):
        assert colorizer.info.chroma_gain == 2.0
        np.testing.assert_allclose(colorizer.predict_ab(lightness), 2 * base, atol=1e-3)
    set_chroma_gain(gained, rewritten, 1.5)  # replaces the gain of 2, does not multiply it
    assert OnnxColorizer(rewritten).info.chroma_gain == 1.5
    np.testing.assert_allclose(OnnxColorizer(rewritten).predict_ab(lightness), 1.5 * base, atol=1e-3)
    set_chroma_gain(plain, rewritten, 0.5)  # a model exported without a gain gets one
    np.testing.assert_allclose(OnnxColorizer(rewritten).predict_ab(lightness), 0.5 * base, atol=1e-3)
    with pytest.raises(ModelError, match="positive"):
        set_chroma_gain(plain, rewritten, 0.0)


def test_export_rewrites_temperature_gain_and_render_size_together(tmp_path):
    from vidcolor.training.export import main as export_main
    from vidcolor.training.export import set_temperature

    model = _model("classification")
    path, rewritten = tmp_path / "m.onnx", tmp_path / "rewritten.onnx"
    export_onnx(model, path, contract(model, ab_gamut_bins(), 0.5, 256, {}))
    lightness = np.random.default_rng(3).uniform(0, 100, (1, 64, 96)).astype(np.float32)
    warm = OnnxColorizer(path)
    sharp = dataclasses.replace(warm.info, temperature=0.3)
    flags = ["--temperature", "0.3", "--chroma-gain", "1.25", "--render-size", "192"]
    assert export_main([str(path), "--out", str(rewritten), *flags]) == 0
    info = OnnxColorizer(rewritten).info
    assert (info.temperature, info.chroma_gain, info.render_size) == (0.3, 1.25, 192)
    reference = OnnxColorizer(path)
    reference.info = sharp
    ab = OnnxColorizer(rewritten).predict_ab(lightness)
    np.testing.assert_allclose(ab, 1.25 * reference.predict_ab(lightness), atol=1e-3)
    assert np.abs(ab - 1.25 * warm.predict_ab(lightness)).max() > 0.5  # the temperature did change the colours
    regression = tmp_path / "regression.onnx"
    plain = _model("regression")
    export_onnx(plain, regression, contract(plain, None, 0.5, 256, {}))
    with pytest.raises(ModelError, match="no decoding temperature"):
        set_temperature(regression, rewritten, 0.3)
    with pytest.raises(ModelError, match="positive"):
        set_temperature(path, rewritten, 0.0)


def test_upgrading_a_model_with_a_logits_output_keeps_its_colours(tmp_path):
    # Models exported before the decoder moved into the graph end in logits; upgrade() rewrites them.
    model = _model("classification")
    new = tmp_path / "new.onnx"
    export_onnx(model, new, contract(model, ab_gamut_bins(), 0.38, 256, {"command": "test"}))
    legacy = tmp_path / "legacy.onnx"
    proto = onnx.load(str(new))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    keep = [n for n in proto.graph.node if not n.output[0].startswith("decoder/") and n.output[0] != "ab"]
    del proto.graph.node[:]
    proto.graph.node.extend(keep)
    for node in proto.graph.node:
        node.output[:] = ["logits" if o == RAW_OUTPUT else o for o in node.output]
    del proto.graph.input[1:]  # the temperature input
    initializers = [t for t in proto.graph.initializer if not t.name.startswith("decoder/")]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(initializers)
    del proto.graph.output[:]
    proto.graph.output.append(onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, None))
    meta = {k: v for k, v in meta.items() if k not in ("decoded", "temperature_input")} | {"output": "logits"}
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})
    onnx.save(proto, str(legacy))
    assert not OnnxColorizer(legacy).info.decoded

    upgraded = tmp_path / "upgraded.onnx"
    assert upgrade(legacy, upgraded) < 0.05
    info = OnnxColorizer(upgraded).info
    assert info.decoded and info.training["command"] == "test"
    lightness = np.random.default_rng(1).uniform(0, 100, (1, 64, 64)).astype(np.float32)
    assert (
        np.abs(OnnxColorizer(upgraded).predict_ab(lightness) - OnnxColorizer(legacy).predict_ab(lightness)).max() < 0.05
    )
    with pytest.raises(ModelError, match="already"):
        upgrade(upgraded, tmp_path / "again.onnx")


def test_rebalancing_favours_rare_colours():
    bins = ab_gamut_bins()
    rng = np.random.default_rng(0)
    samples = np.concatenate([rng.normal(0, 3, (5000, 2)), rng.normal([60, 60], 3, (50, 2))]).astype(np.float32)
    weights = bin_weights(samples, bins)
    common = np.abs(bins).sum(1).argmin()
    rare = ((bins - [60, 60]) ** 2).sum(1).argmin()
    assert weights[rare] > 3 * weights[common]


def test_classification_loss_is_lowest_for_the_true_colour():
    bins = torch.from_numpy(ab_gamut_bins())
    target = torch.tensor([40.0, -30.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4)
    weights = torch.ones(len(bins))
    right = torch.full((1, len(bins), 4, 4), -5.0)
    right[:, ((bins - torch.tensor([40.0, -30.0])) ** 2).sum(1).argmin()] = 5.0
    wrong = torch.full((1, len(bins), 4, 4), -5.0)
    wrong[:, (bins**2).sum(1).argmin()] = 5.0
    assert classification_loss(right, target, bins, weights) < classification_loss(wrong, target, bins, weights)


def _photos(folder, count=12):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image = np.zeros((96, 128, 3), np.uint8)
        image[:48] = (235, 150, 60)  # sky (BGR), above
        image[48:] = (40, 160, 50)  # grass, below
        cv2.circle(image, (int(rng.integers(20, 108)), 60), 15, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        cv2.imwrite(str(folder / f"p{i}.png"), image)
    return folder


def test_short_training_run_makes_a_model_the_cli_accepts(tmp_path, make_video):
    data = _photos(tmp_path / "photos")
    out = tmp_path / "model.onnx"
    summary = tmp_path / "summary.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidcolor.training.cli",
            "--data",
            str(data),
            "--steps",
            "6",
            "--batch-size",
            "4",
            "--crop",
            "64",
            "--val-every",
            "3",
            "--val-fraction",
            "0.3",
            "--out",
            str(out),
            "--summary-json",
            str(summary),
            "--checkpoint",
            str(tmp_path / "ckpt.pt"),
            "--gan-steps",
            "3",
            "--film-augment",
            "--l1-weight",
            "0.1",
            "--widths",
            "8,16,24,32",
            "--blocks",
            "0,1,1,1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(summary.read_text())
    assert report["onnx_parity_max_ab"] < 0.05 and len(report["history"]) == 2
    assert len(report["gan_history"]) == 1 and report["gan_history"][0]["d_loss"] > 0
    info = OnnxColorizer(out).info
    assert "vidcolor-train" in info.training["command"] and info.training["steps"] == 6
    assert info.training["l1_weight"] == 0.1 and info.training["film_augment"] and info.training["gan_steps"] == 3
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    dims = json.loads(meta[METADATA_KEY])["dims"]
    assert dims["widths"] == [8, 16, 24, 32] and dims["blocks"] == [0, 1, 1, 1]
    dst = tmp_path / "out.mp4"
    stats = colorize(make_video(frames=4), dst, model=out)
    frames, _ = read_video(dst)
    assert stats.frames == len(frames) == 4


@pytest.mark.parametrize("flag,value", [("--widths", "8,16"), ("--widths", "8,16,0,32"), ("--blocks", "0,1,x,1")])
def test_network_size_flags_are_checked(tmp_path, flag, value):
    from vidcolor.training.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path), "--out", str(tmp_path / "m.onnx"), flag, value])
    assert exit_info.value.code == 2


def test_film_augmentation_changes_only_the_input():
    from vidcolor.training.data import lab_pair

    rgb = np.random.default_rng(1).random((4, 32, 32, 3)).astype(np.float32)
    clean_l, clean_ab = lab_pair(rgb)
    film_l, film_ab = lab_pair(rgb, np.random.default_rng(2))
    assert np.array_equal(clean_ab, film_ab)
    assert np.abs(film_l - clean_l).mean() > 1.0
    assert film_l.min() >= 0 and film_l.max() <= 100


def test_spectral_augmentation_renders_colours_as_old_film_did():
    """Orthochromatic and blue-sensitive film recorded red dark and blue light; a grey stays grey,
    and only the input changes."""
    from vidcolor.training.data import lab_pair, spectral_luma

    from vidcolor.colour import rgb_to_luma

    rng = np.random.default_rng(4)
    red, blue = np.zeros((64, 4, 4, 3), np.float32), np.zeros((64, 4, 4, 3), np.float32)
    red[..., 0], blue[..., 2] = 0.9, 0.9
    grey = np.full((64, 4, 4, 3), 0.4, np.float32)
    assert (spectral_luma(red, rng) <= rgb_to_luma(red) + 1e-6).all()
    assert spectral_luma(red, rng).mean() < 0.6 * rgb_to_luma(red).mean()
    assert spectral_luma(blue, rng).mean() > 3 * rgb_to_luma(blue).mean()
    assert np.allclose(spectral_luma(grey, rng), 0.4)
    rgb = rng.random((4, 16, 16, 3)).astype(np.float32)
    clean_l, clean_ab = lab_pair(rgb)
    film_l, film_ab = lab_pair(rgb, luma=spectral_luma(rgb, rng))
    assert np.array_equal(clean_ab, film_ab) and np.abs(film_l - clean_l).mean() > 0.5


def test_evaluation_splits_and_chroma_gain_override(tmp_path):
    from vidcolor.training.data import find_photos
    from vidcolor.training.evaluate import evaluate, select

    photos = find_photos([_photos(tmp_path / "photos", count=40)])
    val, calibration = select(photos, "val"), select(photos, "calibration")
    assert val and calibration and not set(val) & set(calibration)
    assert len(select(photos, "all")) == 40

    model = _model("regression")
    path = tmp_path / "m.onnx"
    export_onnx(model, path, contract(model, None, 1.0, 64, {}))
    own, doubled = evaluate(path, photos[:3], threads=1), evaluate(path, photos[:3], threads=1, chroma_gain=2.0)
    assert own.colorfulness_model > 0.5 and own.psnr_grey == doubled.psnr_grey
    # More colourful, though not twice: the random network's colours already leave the gamut and clip.
    assert doubled.colorfulness_model > 1.2 * own.colorfulness_model and doubled.psnr_model != own.psnr_model


def test_evaluation_by_folder_names_each_source_once(tmp_path):
    from vidcolor.training.evaluate import by_folder

    shared, extra = tmp_path / "photos", tmp_path / "extra"
    photos = [shared / "a" / "1.jpg", extra / "more" / "b" / "1.jpg", shared / "a" / "2.jpg", shared / "3.jpg"]
    groups = by_folder(photos, [shared, extra])
    assert groups == {"a": photos[0:3:2], ".": [photos[3]], "more/b": [photos[1]]}


def _tiny_options(data, out, **changes):
    from vidcolor.training.train import TrainOptions

    options = TrainOptions(
        data=(data,),
        out=out,
        steps=4,
        batch_size=4,
        crop=64,
        val_every=2,
        val_fraction=0.3,
        dims=ModelDims(widths=(8, 16, 24, 32), blocks=(0, 1, 1, 1)),
    )
    return dataclasses.replace(options, **changes)


def test_init_starts_from_the_weights_a_finished_run_selected(tmp_path):
    from vidcolor.training.train import train

    data = _photos(tmp_path / "photos")
    parent = train(_tiny_options(data, tmp_path / "parent.onnx", checkpoint=tmp_path / "parent.pt"))
    # A near-zero learning rate leaves the starting weights as they are: with --init those are the
    # parent's, without it a fresh network's.
    child = train(_tiny_options(data, tmp_path / "child.onnx", steps=1, lr=1e-12, init=tmp_path / "parent.pt"))
    train(_tiny_options(data, tmp_path / "fresh.onnx", steps=1, lr=1e-12, seed=5))
    assert child["init"] == {"checkpoint": str(tmp_path / "parent.pt"), "steps": parent["steps"]}
    assert child["train_photos_by_folder"] == {str(data): child["train_photos"]}
    # (Batch-norm statistics still move in the child's one step.)
    moved, fresh = _distances_from_parent(tmp_path)
    assert moved < 0.3 * fresh


def _distances_from_parent(folder) -> tuple[float, float]:
    """Mean |ab| difference from parent.onnx of child.onnx and of fresh.onnx, all in `folder`."""
    lightness = np.linspace(0, 100, 64 * 64, dtype=np.float32).reshape(1, 64, 64)
    parent = OnnxColorizer(folder / "parent.onnx").predict_ab(lightness)
    return tuple(
        float(np.abs(OnnxColorizer(folder / name).predict_ab(lightness) - parent).mean())
        for name in ("child.onnx", "fresh.onnx")
    )


def test_init_from_an_exported_model_continues_its_function(tmp_path):
    from vidcolor.training.train import train

    data = _photos(tmp_path / "photos")
    parent = train(_tiny_options(data, tmp_path / "parent.onnx"))
    # The export folded every batch norm into its convolution: --init unfolds them, and on the same
    # validation photos the child starts exactly where the parent was selected.
    child = train(_tiny_options(data, tmp_path / "child.onnx", steps=1, lr=1e-12, init=tmp_path / "parent.onnx"))
    assert child["init"]["model"] == str(tmp_path / "parent.onnx") and child["init"]["steps"] == parent["steps"]
    assert child["init"]["parity_max_ab"] < 0.05
    assert child["history"][0]["step"] == 0
    assert child["history"][0]["val_loss"] == pytest.approx(parent["best_val_loss"], rel=1e-4)
    train(_tiny_options(data, tmp_path / "fresh.onnx", steps=1, lr=1e-12, seed=5))
    moved, fresh = _distances_from_parent(tmp_path)
    assert moved < 0.3 * fresh


def test_init_refuses_an_exported_model_of_another_shape(tmp_path):
    from vidcolor.training.train import train

    data = _photos(tmp_path / "photos")
    train(_tiny_options(data, tmp_path / "parent.onnx"))
    other = ModelDims(widths=(8, 16, 24, 48), blocks=(0, 1, 1, 1))
    with pytest.raises(ValueError, match="not this run's"):
        train(_tiny_options(data, tmp_path / "child.onnx", dims=other, init=tmp_path / "parent.onnx"))


def _git_repo(folder, images):
    folder.mkdir()
    for name, image in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(image, bytes):
            (folder / name).write_bytes(image)
        else:
            cv2.imwrite(str(folder / name), image)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "photos"]):
        subprocess.run(["git", "-C", str(folder), *command], check=True, env={**os.environ, **env})
    return folder / ".git"


def test_curate_keeps_new_colour_photos_once(tmp_path):
    from vidcolor.training.curate import curate, repo_photos

    rng = np.random.default_rng(1)

    def photo():  # smooth random colours
        return cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (400, 300), interpolation=cv2.INTER_CUBIC)

    colour, other, shared = photo(), photo(), photo()
    grey = cv2.cvtColor(cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    (tmp_path / "shared").mkdir()
    cv2.imwrite(str(tmp_path / "shared" / "s.jpg"), cv2.resize(shared, (200, 150)))
    git_dir = _git_repo(
        tmp_path / "repo",
        {
            "imgs/a.png": colour,
            "imgs/a_copy.jpg": colour,  # the same picture again
            "imgs/b.png": other,
            "imgs/grey.png": grey,
            "imgs/shared_big.png": shared,  # a shared photo at another size
            "elsewhere/c.png": photo(),  # outside the folder asked for
            "imgs/empty.jpg": b"",
            "imgs/lfs_pointer.jpg": b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n",
        },
    )
    counts = curate(git_dir, "imgs", tmp_path / "out", [tmp_path / "shared"])
    assert counts == {"found": 7, "unreadable": 2, "greyscale": 1, "duplicate": 2, "kept": 2}
    assert len(repo_photos(git_dir, ["imgs", "elsewhere"])) == 8  # several folders at once
    rows = [line.split("\t") for line in (tmp_path / "out" / "manifest.tsv").read_text().splitlines()]
    assert sorted(r[0] for r in rows) in (["imgs/a.png", "imgs/b.png"], ["imgs/a_copy.jpg", "imgs/b.png"])
    for _, name, size in rows:
        written = cv2.imread(str(tmp_path / "out" / name))
        assert written.shape[:2] == (256, 341) and size == "341x256"
