"""Forward hooks (Module.register_forward_hook) and the Diagnostics callback: per-layer
gradient and activation statistics per epoch, dead ReLUs, the pictures, --diagnostics."""

from __future__ import annotations

import numpy as np

import nnscratch as ns
from nnscratch import nn
from nnscratch.train import Diagnostics, fit
from test_cli import PNG_MAGIC, train


def test_forward_hooks_see_inputs_and_output_and_can_be_removed():
    layer = nn.Linear(2, 3)
    seen = []
    handle = layer.register_forward_hook(lambda m, inputs, out: seen.append(
        (m, inputs[0].shape, out.shape)))
    x = ns.tensor(np.ones((4, 2), np.float32))
    layer(x)
    assert seen == [(layer, (4, 2), (4, 3))]
    doubled = layer.register_forward_hook(lambda m, inputs, out: out * 2)
    np.testing.assert_allclose(layer(x).data, 2 * layer.forward(x).data)
    handle.remove()
    doubled.remove()
    layer(x)
    assert len(seen) == 2  # the first hook ran for the doubled call, then never again


def tiny_run(dead: bool, epochs: int = 2, folder=None):
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    if dead:  # every first-layer output negative: the ReLU passes nothing
        model[0].bias.data[...] = -100.0
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 2)).astype(np.float32), rng.integers(0, 3, 64)
    diagnostics = Diagnostics(model, folder)
    fit(model, nn.CrossEntropyLoss(), ns.optim.SGD(model.parameters(), lr=0.1), (x, y),
        validation_data=(x, y), epochs=epochs, batch_size=16, callbacks=[diagnostics],
        progress=False)
    return diagnostics


def test_diagnostics_record_each_layer_every_epoch_and_find_dead_units(tmp_path):
    live, dead = tiny_run(False, folder=tmp_path), tiny_run(True)
    assert set(live.history) == {"0", "1", "2"}
    for stats in (live.history["0"], live.history["2"]):
        assert len(stats["grad_mean"]) == 2 and stats["grad_max"][0] >= stats["grad_mean"][0]
    assert live.history["1"]["dead_fraction"][0] < 0.5
    assert dead.history["1"]["dead_fraction"] == [1.0, 1.0]
    assert dead.history["1"]["std"][0] == 0.0 and dead.history["0"]["grad_mean"][0] == 0.0
    for name in ("gradients.png", "activations.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    model = live.model  # the hooks are gone after training
    assert not any(m.__dict__.get("_forward_hooks") for m in model.modules())


def test_cli_diagnostics_draws_into_the_run_folder(capsys, tmp_path):
    _, folder = train(capsys, "spiral", "--epochs", "2", "--diagnostics", "--out", tmp_path)
    assert (folder / "gradients.png").is_file() and (folder / "activations.png").is_file()
