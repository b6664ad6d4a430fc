"""The toy-ddpm recipe and its pieces: the 2-d shapes, the energy distance, a short run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.cli import main
from nnscratch.data import synthetic
from nnscratch.models import get
from nnscratch.models.runner import train_recipe
from nnscratch.models.toy_ddpm import MLPDenoiser, energy_distance


def test_energy_distance_is_zero_for_one_set_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 2))
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    near, far = energy_distance(a, a + 0.1), energy_distance(a, a + 1.0)
    assert 0 < near < far
    # one dimension, two points each: 2 E|X-Y| - E|X-X'| - E|Y-Y'| by hand
    x, y = np.array([[0.0], [1.0]]), np.array([[3.0], [5.0]])
    by_hand = 2 * np.mean([3, 5, 2, 4]) - np.mean([0, 1, 1, 0]) - np.mean([0, 2, 2, 0])
    assert energy_distance(x, y) == pytest.approx(by_hand)
    with pytest.raises(ValueError, match=r"expected point sets \(N, d\) and \(M, d\)"):
        energy_distance(a, a[:, :1])


@pytest.mark.parametrize("draw", [synthetic.two_moons, synthetic.rings])
def test_the_shapes_come_from_the_seeded_generator(draw):
    ns.manual_seed(4)
    first = draw(300)
    ns.manual_seed(4)
    np.testing.assert_array_equal(draw(300), first)
    assert first.shape == (300, 2) and first.dtype == np.float32
    assert 0.5 < first.std() < 1.5


def test_rings_lie_near_their_radii():
    ns.manual_seed(0)
    radius = np.linalg.norm(synthetic.rings(2000, noise=0.01), axis=1)
    assert np.all((np.abs(radius - 0.5) < 0.05) | (np.abs(radius - 1.0) < 0.05))


def test_the_denoiser_maps_points_and_steps_to_a_noise_of_the_points_shape():
    model = MLPDenoiser()
    out = model(ns.randn(7, 2), ns.tensor(np.arange(7)))
    assert out.shape == (7, 2)


def test_a_short_toy_ddpm_run_beats_the_gaussian_and_draws_its_pictures(tmp_path, capsys):
    summary = train_recipe("toy-ddpm", epochs=12, out=tmp_path, progress=False)
    test = summary["test"]
    assert test["energy_distance"] < 0.6 * test["gaussian_energy_distance"]
    assert test["data_energy_distance"] < test["gaussian_energy_distance"]
    folder = tmp_path / next(p.name for p in tmp_path.iterdir())
    for name in ("denoising.png", "samples.png", "curves.png", "best.npz", "test.json"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "test.json").read_text()) == test
    assert main(["evaluate", str(folder)]) == 0
    assert "energy_distance" in capsys.readouterr().out


def test_toy_ddpm_refuses_an_unknown_shape():
    with pytest.raises(ValueError, match="shape must be one of moons, rings"):
        get("toy-ddpm").with_options(shape="stars")


def test_sample_writes_toy_points_as_npy_and_png(tmp_path, capsys):
    summary = train_recipe("toy-ddpm", epochs=1, out=tmp_path / "runs", progress=False)
    run = summary["folder"]
    assert main(["sample", run, "--count", "50", "--out", str(tmp_path / "p.npy")]) == 0
    points = np.load(tmp_path / "p.npy")
    assert points.shape == (50, 2) and points.dtype == np.float32
    assert main(["sample", run, "--count", "50", "--out", str(tmp_path / "p.npy"),
                 "--seed", "1"]) == 0
    assert not np.array_equal(np.load(tmp_path / "p.npy"), points)
    assert main(["sample", run, "--count", "20", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main(["sample", run]) == 1
    assert "makes points; give --out FILE.png (a scatter)" in capsys.readouterr().err
