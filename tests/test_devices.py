"""Every layer family trains on a device exactly as on the CPU.

The device is NNSCRATCH_TEST_DEVICE (make test-gpu: 'cuda'), by default the strict
stand-in ('strict', nnscratch.strict_device): arrays that, as CuPy's, refuse to mix with
NumPy arrays or to become one silently, so NumPy hard-wiring left anywhere on the
training path fails here, on a machine without a GPU. Each case builds a model twice from
one seed, moves one copy to the device, and runs the same training steps on both
(forward, loss, backward, Adam step) in float64: losses, gradients and weights must agree.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import backend, nn
from nnscratch import functional as F
from oracle import float64_default

DEVICE = ns.device(os.environ.get("NNSCRATCH_TEST_DEVICE", "strict"))


def _rng(seed=0):
    return np.random.default_rng(seed)


class Recurrent(nn.Module):
    """Embedding -> LSTM -> GRU -> RNN(relu) -> Linear over the last step."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 6, padding_idx=0)
        self.lstm = nn.LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(10, 4, batch_first=True)
        self.rnn = nn.RNN(4, 4, nonlinearity="relu", batch_first=True)
        self.cell = nn.LSTMCell(4, 3)
        self.head = nn.Linear(3, 3)

    def forward(self, ids):
        x, _ = self.lstm(self.embed(ids))
        x, _ = self.gru(x)
        x, h = self.rnn(x)
        h, _ = self.cell(h[0])
        return self.head(h)


class Packed(nn.Module):
    """Variable-length sequences through pack_padded_sequence."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        packed = nn.utils.rnn.pack_padded_sequence(x, [5, 3, 2], batch_first=True)
        _, (h, _) = self.lstm(packed)
        return self.head(h[0])


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        mask = np.zeros((x.shape[0], x.shape[1]), dtype=bool)
        mask[:, -1] = True  # a host key_padding_mask: the layer moves it to the device
        return self.head(self.encoder(x, src_key_padding_mask=mask).mean(dim=1))


def _classify(outputs, targets):
    return F.cross_entropy(outputs, targets)


def _regress(outputs, targets):
    return F.mse_loss(outputs, targets)


def _gpt():
    return ns.models.GPT(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8)


def _gpt_loss(outputs, targets):
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def _unet():
    return ns.models.UNet(in_channels=1, channels=(4, 8), blocks=1, num_classes=3, heads=2,
                          groups=2)


CASES = {
    "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8),
                                  nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 3)),
            lambda r: (r.standard_normal((6, 3, 4)), r.integers(0, 3, 6)), _classify),
    "cnn": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                                  nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2,
                                                                       padding=1),
                                  nn.LeakyReLU(0.1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4, 3)),
            lambda r: (r.standard_normal((4, 1, 8, 8)), r.integers(0, 3, 4)), _classify),
    "dcgan": (lambda: nn.Sequential(nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1),
                                    nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1),
                                    nn.Tanh(), nn.Conv2d(1, 2, 4, stride=2, padding=1),
                                    nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(32, 1)),
              lambda r: (r.standard_normal((3, 3, 2, 2)), r.integers(0, 2, (3, 1)) * 1.0),
              lambda o, t: F.binary_cross_entropy_with_logits(o, t)),
    "recurrent": (Recurrent, lambda r: (r.integers(0, 11, (3, 5)), r.integers(0, 3, 3)),
                  _classify),
    "packed": (Packed, lambda r: (r.standard_normal((3, 5, 3)), r.integers(0, 2, 3)),
               _classify),
    "transformer": (Encoder, lambda r: (r.standard_normal((2, 5, 8)), r.integers(0, 3, 2)),
                    _classify),
    "gpt": (_gpt, lambda r: (r.integers(0, 13, (2, 8)), r.integers(0, 13, (2, 8))),
            _gpt_loss),
}


def _step(model, optimizer, inputs, targets, loss_fn):
    loss = loss_fn(model(inputs), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def _assert_same(cpu_model, device_model, what):
    device_params = dict(device_model.named_parameters())
    for name, p in cpu_model.named_parameters():
        q = device_params[name]
        assert backend.device_of(q.data) == DEVICE, f"{what}: {name} left the device"
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=f"{what}: {name}")
        if p.grad is not None:
            np.testing.assert_allclose(backend.to_host(q.grad), p.grad, rtol=1e-9,
                                       atol=1e-11, err_msg=f"{what}: gradient of {name}")


@pytest.mark.parametrize("name", CASES)
def test_a_training_step_of_every_family_on_the_device_equals_the_cpu(name):
    build, batch, loss_fn = CASES[name]
    with float64_default():
        ns.manual_seed(0)
        cpu_model = build()
        ns.manual_seed(0)
        device_model = build().to(DEVICE)
        inputs, targets = batch(_rng())
        on_cpu = ns.tensor(inputs), ns.tensor(targets)
        on_device = ns.tensor(inputs, device=DEVICE), ns.tensor(targets, device=DEVICE)
        cpu_optimizer = ns.optim.AdamW(cpu_model.parameters(), lr=1e-2)
        device_optimizer = ns.optim.AdamW(device_model.parameters(), lr=1e-2)
        for step in range(2):
            ours = _step(device_model, device_optimizer, *on_device, loss_fn)
            theirs = _step(cpu_model, cpu_optimizer, *on_cpu, loss_fn)
            assert ours.device == DEVICE
            np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-10)
            _assert_same(cpu_model, device_model, f"{name} step {step + 1}")
        device_model.eval()
        cpu_model.eval()
        with ns.no_grad():
            np.testing.assert_allclose(device_model(on_device[0]).numpy(),
                                       cpu_model(on_cpu[0]).numpy(), rtol=1e-9, atol=1e-11)


def test_a_unet_denoising_step_with_guidance_labels_on_the_device():
    with float64_default():
        ns.manual_seed(0)
        cpu_model, device_model = _unet(), None
        ns.manual_seed(0)
        device_model = _unet().to(DEVICE)
        r = _rng(1)
        x, t, y = r.standard_normal((2, 1, 8, 8)), np.array([3, 70]), np.array([1, 3])
        noise = r.standard_normal((2, 1, 8, 8))
        losses = []
        for model, device in ((cpu_model, "cpu"), (device_model, DEVICE)):
            out = model(ns.tensor(x, device=device), ns.tensor(t, device=device),
                        ns.tensor(y, device=device))
            loss = F.mse_loss(out, ns.tensor(noise, device=device))
            loss.backward()
            losses.append(loss.item())
        np.testing.assert_allclose(losses[1], losses[0], rtol=1e-10)
        _assert_same(cpu_model, device_model, "unet")


def test_tensors_and_modules_move_between_devices_with_their_gradients():
    x = ns.tensor([[1.0, 2.0]], requires_grad=True)
    on = x.to(DEVICE)
    assert on.device == DEVICE and x.device == ns.device("cpu") and on.to(DEVICE) is on
    (on * on).sum().backward()  # the copy is part of the graph: x gets the gradient
    np.testing.assert_allclose(x.grad, [[2.0, 4.0]])
    assert isinstance(x.grad, np.ndarray)
    assert ns.zeros(2, 3, device=DEVICE).device == DEVICE
    assert ns.randn(4, device=DEVICE).device == DEVICE
    assert ns.arange(3, device=DEVICE).device == DEVICE
    assert ns.zeros_like(on).device == DEVICE
    model = nn.Linear(2, 2).to(DEVICE)
    assert model.weight.device == DEVICE and model.to("cpu").weight.device == ns.device("cpu")
    assert str(ns.device("cuda:1")) == "cuda:1" if backend.cupy is not None else True
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda', 'cuda:N' or 'strict'"):
        ns.device("tpu")


def test_device_draws_are_made_there_and_follow_the_seed():
    ns.manual_seed(3)
    a = ns.randn(5, device=DEVICE)
    ns.manual_seed(3)
    b = ns.randn(5, device=DEVICE)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    dropped = F.dropout(ns.ones(1000, device=DEVICE), 0.5, training=True)
    assert dropped.device == DEVICE and 300 < int((dropped.numpy() == 0).sum()) < 700


def test_fit_trains_a_model_on_its_device_and_checkpoints_host_arrays(tmp_path):
    r = _rng(2)
    x, y = r.standard_normal((40, 4)).astype(np.float32), r.integers(0, 3, 40)

    def run(device):
        ns.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
        optimizer = ns.optim.Adam(model.parameters(), lr=1e-2)
        folder = tmp_path / str(device)
        history = ns.train.fit(model, nn.CrossEntropyLoss(), optimizer, (x, y), epochs=2,
                               batch_size=8, validation_data=(x[:8], y[:8]), progress=False,
                               callbacks=[ns.train.GradientClipping(1.0),
                                          ns.train.ModelCheckpoint(folder)])
        return model, history, folder

    cpu_model, cpu_history, _ = run("cpu")
    device_model, device_history, folder = run(DEVICE)
    assert device_model[0].weight.device == DEVICE
    for key, values in cpu_history.history.items():
        np.testing.assert_allclose(device_history.history[key], values, rtol=1e-5, err_msg=key)
    checkpoint = ns.load(folder / "last.npz")  # host arrays, loadable anywhere
    assert all(isinstance(v, np.ndarray) for v in checkpoint["model"].values())
    cpu_model.load_state_dict(checkpoint["model"])
    device_model.load_state_dict(checkpoint["model"])
    assert device_model[0].weight.device == DEVICE
    predicted = ns.train.predict(device_model, x)
    assert isinstance(predicted, np.ndarray)
    np.testing.assert_allclose(predicted, ns.train.predict(cpu_model, x), rtol=1e-5,
                               atol=1e-6)


def test_sampling_runs_on_the_device_model_as_on_the_cpu():
    from nnscratch.models import diffusion, generation

    with float64_default():
        ns.manual_seed(0)
        cpu_gpt = _gpt()
        ns.manual_seed(0)
        device_gpt = _gpt().to(DEVICE)
        for use_cache in (True, False):  # the KV cache lives on the model's device
            ours = generation.generate(device_gpt, [1, 2, 3], 6, seed=4, top_k=5,
                                       use_cache=use_cache)
            theirs = generation.generate(cpu_gpt, [1, 2, 3], 6, seed=4, top_k=5,
                                         use_cache=use_cache)
            np.testing.assert_array_equal(ours, theirs)
        ns.manual_seed(0)
        cpu_unet = _unet()
        ns.manual_seed(0)
        device_unet = _unet().to(DEVICE)
        schedule = diffusion.NoiseSchedule(diffusion.linear_betas(50))
        x0 = ns.tensor(_rng(3).standard_normal((2, 1, 8, 8)), device=DEVICE)
        loss = diffusion.diffusion_loss(device_unet, x0, schedule, y=ns.tensor([0, 2]))
        loss.backward()
        assert loss.device == DEVICE and np.isfinite(loss.item())
        noise = _rng(4).standard_normal((2, 1, 8, 8))
        labels = [1, 2]
        ours = diffusion.ddim_sample(diffusion.guided(device_unet, labels, 2.0, 3), noise.shape,
                                     schedule, steps=4, clip_denoised=True, noise=noise,
                                     device=DEVICE)
        theirs = diffusion.ddim_sample(diffusion.guided(cpu_unet, labels, 2.0, 3), noise.shape,
                                       schedule, steps=4, clip_denoised=True, noise=noise)
        assert backend.device_of(ours) == DEVICE
        np.testing.assert_allclose(backend.to_host(ours), theirs, rtol=1e-9, atol=1e-11)
        noisy = nn.GaussianNoise(0.5)(ns.zeros(100, device=DEVICE))
        assert noisy.device == DEVICE and 0.3 < float(noisy.numpy().std()) < 0.7


def test_collectives_and_ddp_take_device_arrays():
    from nnscratch import distributed as dist

    a = backend.to_device(np.arange(3.0), DEVICE)
    assert dist.all_reduce(a, "mean") is a and dist.broadcast(a) is a
    np.testing.assert_array_equal(backend.to_host(a), [0.0, 1.0, 2.0])
    model = nn.Linear(3, 2).to(DEVICE)
    ddp = dist.DistributedDataParallel(model)
    F.mse_loss(ddp(ns.ones(4, 3, device=DEVICE)), ns.zeros(4, 2, device=DEVICE)).backward()
    assert backend.device_of(model.weight.grad) == DEVICE
    ddp.close()


def test_initialisers_fill_device_tensors_with_the_seeds_host_draws():
    cpu, device = nn.Linear(4, 3), nn.Linear(4, 3).to(DEVICE)
    for init in (nn.init.xavier_uniform_, nn.init.kaiming_normal_, nn.init.orthogonal_):
        for layer in (cpu, device):
            ns.manual_seed(5)
            init(layer.weight)
        assert device.weight.device == DEVICE
        np.testing.assert_array_equal(device.weight.numpy(), cpu.weight.numpy())


def test_a_device_tensor_says_where_it_is_and_tools_probe_the_model_there():
    x = ns.tensor([1.0, 2.0], device=DEVICE)
    assert repr(x) == f"tensor([1., 2.], device='{DEVICE}')"
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)).to(DEVICE)
    assert "Linear" in ns.tools.summary(model, (1, 4, 4))


def test_a_cnn_on_the_device_draws_its_filters_and_feature_maps(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten()).to(DEVICE)
    ns.tools.plot.filters(model[0], tmp_path / "filters.png")
    ns.tools.plot.feature_maps(model, np.zeros((1, 6, 6), np.float32), 1,
                               tmp_path / "maps.png")
    assert (tmp_path / "filters.png").is_file() and (tmp_path / "maps.png").is_file()
