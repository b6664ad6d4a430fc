"""Every layer, activation and loss module against its PyTorch twin on the same weights:
forward values, the input's gradient and every parameter's gradient, in float64 (tight)
and float32 (looser); running statistics of BatchNorm1d step by step; Dropout's
statistics; bad input to Linear and BatchNorm1d."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from oracle import DTYPES, TORCH_DTYPES, check_gradient, close, compare_layers


def twin(ours, theirs, dtype, randomize=False):
    """Give `ours` the weights of `theirs` (in dtype), through load_state_dict.
    randomize: first replace torch's (ones / zeros) initial parameters by random ones, so
    a scale or shift that is wrongly applied cannot hide behind 1 or 0."""
    theirs.to(TORCH_DTYPES[dtype])
    ours.to(dtype)
    if randomize:
        generator = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def data(shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


# --- Linear --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4,), (5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias, dtype):
    ours, theirs = twin(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias), dtype)
    compare_layers(ours, theirs, data(shape), dtype, what=f"Linear {shape}")


def test_linear_initial_weights_follow_torchs_default_bounds():
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (300, 400) and b.shape == (300,)
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # fills the range: uniform, not too narrow
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.02)
    assert nn.Linear(2, 3, dtype=np.float64).weight.dtype == np.float64


def test_linear_with_the_wrong_feature_size_names_the_layer_and_both_shapes():
    layer = nn.Linear(3, 4)
    with pytest.raises(ValueError) as info:
        layer(ns.randn(2, 5))
    message = str(info.value)
    assert "Linear(in_features=3, out_features=4, bias=True)" in message
    assert "(*, 3)" in message and "(2, 5)" in message
    with pytest.raises(ValueError, match=r"\(\)"):
        layer(ns.tensor(1.0))
    with pytest.raises(ValueError, match="positive"):
        nn.Linear(0, 3)


# --- Dropout -------------------------------------------------------------------------

def test_dropout_in_eval_mode_is_the_identity_with_a_passing_gradient():
    layer = nn.Dropout(0.7).eval()
    x = ns.tensor(data((20, 30)), requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((20, 30)))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_in_training_has_torchs_statistics(p):
    shape = (200, 250)  # 50,000 draws: the kept fraction is within 1% of 1 - p
    x = np.abs(data(shape)) + 0.5  # no zeros of its own
    xs = ns.tensor(x, requires_grad=True)
    ours = nn.Dropout(p)(xs)
    torch.manual_seed(0)
    theirs = torch.nn.Dropout(p)(torch.tensor(x))
    for out in (ours.numpy(), theirs.numpy()):
        kept = out != 0
        assert abs(kept.mean() - (1 - p)) < 0.01
        # survivors are scaled by 1 / (1 - p): expectations are kept
        np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-12)
    assert abs(ours.numpy().mean() - theirs.numpy().mean()) < 0.03 * x.mean()
    ours.sum().backward()
    np.testing.assert_allclose(xs.grad, (ours.numpy() != 0) / (1 - p))


def test_dropout_edges_seeding_and_bad_p():
    x = ns.tensor(data((4, 5)))
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    assert not np.any(nn.Dropout(1.0)(x).numpy())
    ns.manual_seed(3)
    first = nn.Dropout(0.5)(x).numpy()
    ns.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).numpy(), first)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="probability"):
            nn.Dropout(p)


# --- BatchNorm1d ---------------------------------------------------------------------

BATCHNORM_OPTIONS = [
    {},
    {"momentum": None},
    {"momentum": 0.3, "eps": 1e-3},
    {"affine": False},
    {"bias": False},
    {"track_running_stats": False},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(16, 4), (8, 4, 5)])
@pytest.mark.parametrize("options", BATCHNORM_OPTIONS, ids=lambda o: str(o) or "default")
def test_batchnorm1d_matches_torch_in_training_then_eval(options, shape, dtype):
    ours, theirs = twin(nn.BatchNorm1d(4, **options), torch.nn.BatchNorm1d(4, **options),
                        dtype, randomize=True)
    for step in range(3):
        x = data(shape, seed=10 + step, scale=1 + step, shift=step - 1)
        compare_layers(ours, theirs, x, dtype, seed=step, what=f"train step {step}")
        for name, buffer in theirs.named_buffers():
            close(dict(ours.named_buffers())[name], buffer, dtype, f"{name} after {step}")
    ours.eval(), theirs.eval()
    for step in range(2):
        x = data(shape, seed=20 + step, scale=2.0)
        compare_layers(ours, theirs, x, dtype, seed=step, what=f"eval step {step}")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        close(ours.state_dict()[name], value, dtype if value.is_floating_point() else np.float64,
              f"final {name}")


def test_batchnorm1d_eval_leaves_the_running_statistics_alone():
    layer = nn.BatchNorm1d(3)
    layer(ns.tensor(data((10, 3), shift=5.0)))
    saved = layer.state_dict()
    layer.eval()
    layer(ns.tensor(data((10, 3), seed=1)))
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, saved[key], err_msg=key)


def test_batchnorm1d_bad_input_names_expected_and_received_shapes():
    layer = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"\(N, 4\) or \(N, 4, L\).*\(3, 5\)"):
        layer(ns.randn(3, 5))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 5\)"):
        layer(ns.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than one value"):
        layer(ns.randn(1, 4))
    layer.eval()
    assert layer(ns.randn(1, 4)).shape == (1, 4)  # one sample is fine with running stats


# --- LayerNorm -----------------------------------------------------------------------

LAYERNORM_CASES = [
    ((4,), (3, 4), {}),
    ((4,), (2, 3, 4), {}),
    ((3, 4), (2, 3, 4), {}),
    ((3, 4), (5, 3, 4), {"eps": 1e-3}),
    ((4,), (2, 3, 4), {"elementwise_affine": False}),
    ((3, 4), (2, 3, 4), {"bias": False}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalized, shape, options", LAYERNORM_CASES)
def test_layernorm_matches_torch(normalized, shape, options, dtype):
    ours, theirs = twin(nn.LayerNorm(normalized, **options),
                        torch.nn.LayerNorm(normalized, **options), dtype, randomize=True)
    compare_layers(ours, theirs, data(shape, scale=3.0, shift=1.0), dtype)


def test_layernorm_takes_an_int_and_rejects_a_wrong_trailing_shape():
    assert nn.LayerNorm(5).normalized_shape == (5,)
    with pytest.raises(ValueError, match=r"\(\*, 5\).*\(2, 4\)"):
        nn.LayerNorm(5)(ns.randn(2, 4))


# --- activations ---------------------------------------------------------------------

ACTIVATIONS = [
    ("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {}), ("ELU", {"alpha": 0.7}), ("GELU", {}), ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}), ("Sigmoid", {}), ("Tanh", {}), ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 5.0}), ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": 0}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 1}),
    ("LogSoftmax", {"dim": 0}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, options", ACTIVATIONS, ids=lambda v: str(v))
def test_activation_module_matches_torch(name, options, dtype):
    ours, theirs = getattr(nn, name)(**options), getattr(torch.nn, name)(**options)
    x = data((4, 3, 5), scale=3.0)
    compare_layers(ours, theirs, x, dtype, what=name)
    if name not in ("Softmax", "LogSoftmax"):  # torch's default dim is None (deprecated)
        assert repr(ours) == repr(theirs)


def test_activation_modules_sit_in_a_sequential():
    ours = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4), nn.ELU(), nn.Linear(4, 2),
                         nn.LogSoftmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 4),
                                 torch.nn.ELU(), torch.nn.Linear(4, 2),
                                 torch.nn.LogSoftmax(dim=1))
    twin(ours, theirs, np.float64)
    compare_layers(ours, theirs, data((6, 3)), np.float64)


def test_sparsemax_projects_onto_the_simplex():
    layer = nn.Sparsemax(dim=-1)
    out = layer(ns.tensor(np.array([[1.0, 0.5, -1.0], [0.0, 0.0, 0.0]])))
    np.testing.assert_allclose(out.numpy(), [[0.75, 0.25, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    x = data((5, 7), scale=2.0)
    probs = layer(ns.tensor(x)).numpy()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    assert probs.min() >= 0 and (probs == 0).any()  # exact zeros, unlike softmax
    np.testing.assert_array_equal(probs.argmax(axis=-1), x.argmax(axis=-1))
    np.testing.assert_allclose(nn.Sparsemax(dim=0)(ns.tensor(x.T)).numpy(), probs.T)
    check_gradient(lambda t: nn.Sparsemax(dim=1)(t), [x])


def test_bru_is_continuous_with_slope_r_at_zero_and_has_a_checked_gradient():
    for mode in ("exponential", "odd"):
        layer = nn.BRU(r=2.0, mode=mode)
        tiny = 1e-7
        left, middle, right = layer(ns.tensor(np.array([-tiny, 0.0, tiny]))).numpy()
        assert abs(right - left) < 1e-5  # no jump at 0
        np.testing.assert_allclose((right - left) / (2 * tiny), 2.0, rtol=1e-4)
        x = data((4, 5)) + 0.05  # keep away from the kink at 0
        check_gradient(lambda t, layer=layer: layer(t), [x])
    # exponential mode with r = 1 is ELU
    x = data((3, 4))
    np.testing.assert_allclose(nn.BRU(1.0)(ns.tensor(x)).numpy(),
                               torch.nn.ELU()(torch.tensor(x)).numpy() + 0.0, atol=1e-12)
    assert repr(nn.BRU()) == "BRU(r=2.0, mode='exponential')"


def test_step_is_a_heaviside_that_passes_no_gradient():
    x = ns.tensor(np.array([-2.0, 0.0, 0.5, 3.0]), requires_grad=True)
    out = nn.Step()(x)
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 1.0, 1.0])
    assert out.dtype == np.float64 and not out.requires_grad


# --- losses --------------------------------------------------------------------------

def run_loss(ours, theirs, x, target, dtype, target_t=None, what=""):
    """Compare a loss module's value and input gradient with torch's."""
    x = np.asarray(x, dtype=dtype)
    xs, xt = ns.tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
    if target_t is None:
        target_t = torch.tensor(target)
    out, out_t = ours(xs, ns.tensor(target)), theirs(xt, target_t)
    close(out, out_t, dtype, f"{what} value")
    assert out.dtype == dtype, f"{what}: loss dtype {out.dtype}"
    weights = np.random.default_rng(5).standard_normal(out.shape).astype(dtype)
    (out * ns.tensor(weights)).sum().backward()
    (out_t * torch.tensor(weights)).sum().backward()
    close(xs.grad, xt.grad, dtype, f"{what} gradient")


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, options", [("MSELoss", {}), ("L1Loss", {}), ("HuberLoss", {}),
                                           ("HuberLoss", {"delta": 0.5})])
def test_regression_loss_modules_match_torch(name, options, reduction, dtype):
    ours = getattr(nn, name)(reduction=reduction, **options)
    theirs = getattr(torch.nn, name)(reduction=reduction, **options)
    run_loss(ours, theirs, data((6, 3), scale=2.0), data((6, 3), seed=1).astype(dtype), dtype,
             what=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_loss_module_matches_torch(weighted, reduction, dtype):
    probs = 1 / (1 + np.exp(-data((5, 4), scale=2.0)))
    target = (data((5, 4), seed=1) > 0).astype(dtype)
    weight = np.abs(data((4,), seed=2)).astype(dtype) + 0.1 if weighted else None
    ours = nn.BCELoss(weight=None if weight is None else ns.tensor(weight), reduction=reduction)
    theirs = torch.nn.BCELoss(weight=None if weight is None else torch.tensor(weight),
                              reduction=reduction)
    run_loss(ours, theirs, probs, target, dtype, what="BCELoss")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"pos_weight": True}, {"weight": True},
                                     {"weight": True, "pos_weight": True}], ids=str)
def test_bce_with_logits_loss_module_matches_torch(options, reduction, dtype):
    logits = data((5, 4), scale=4.0)
    target = (data((5, 4), seed=1) > 0).astype(dtype)
    kwargs = {}
    if options.get("pos_weight"):
        kwargs["pos_weight"] = np.array([0.5, 1.0, 2.0, 3.0], dtype=dtype)
    if options.get("weight"):
        kwargs["weight"] = np.abs(data((5, 1), seed=2)).astype(dtype) + 0.1
    ours = nn.BCEWithLogitsLoss(reduction=reduction,
                                **{k: ns.tensor(v) for k, v in kwargs.items()})
    theirs = torch.nn.BCEWithLogitsLoss(reduction=reduction,
                                        **{k: torch.tensor(v) for k, v in kwargs.items()})
    run_loss(ours, theirs, logits, target, dtype, what="BCEWithLogitsLoss")


CLASS_OPTIONS = [
    {}, {"weight": True}, {"ignore_index": 1}, {"weight": True, "ignore_index": 2},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CLASS_OPTIONS, ids=str)
def test_nll_loss_module_matches_torch(options, reduction, dtype):
    log_probs = torch.log_softmax(torch.tensor(data((8, 4), scale=2.0)), 1).numpy()
    labels = np.random.default_rng(3).integers(0, 4, 8)
    kwargs = dict(options)
    weight = np.array([0.5, 1.0, 2.0, 1.5], dtype=dtype)
    if kwargs.pop("weight", False):
        ours = nn.NLLLoss(weight=ns.tensor(weight), reduction=reduction, **kwargs)
        theirs = torch.nn.NLLLoss(weight=torch.tensor(weight), reduction=reduction, **kwargs)
    else:
        ours = nn.NLLLoss(reduction=reduction, **kwargs)
        theirs = torch.nn.NLLLoss(reduction=reduction, **kwargs)
    run_loss(ours, theirs, log_probs, labels, dtype, what="NLLLoss")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CLASS_OPTIONS + [
    {"label_smoothing": 0.1}, {"label_smoothing": 0.2, "weight": True},
    {"label_smoothing": 0.1, "ignore_index": 0},
    {"label_smoothing": 0.3, "weight": True, "ignore_index": 3},
], ids=str)
def test_cross_entropy_loss_module_matches_torch(options, reduction, dtype):
    logits = data((8, 4), scale=3.0)
    labels = np.random.default_rng(3).integers(0, 4, 8)
    kwargs = dict(options)
    weight = np.array([0.5, 1.0, 2.0, 1.5], dtype=dtype)
    if kwargs.pop("weight", False):
        ours = nn.CrossEntropyLoss(weight=ns.tensor(weight), reduction=reduction, **kwargs)
        theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), reduction=reduction,
                                           **kwargs)
    else:
        ours = nn.CrossEntropyLoss(reduction=reduction, **kwargs)
        theirs = torch.nn.CrossEntropyLoss(reduction=reduction, **kwargs)
    run_loss(ours, theirs, logits, labels, dtype, what="CrossEntropyLoss")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_loss_module_takes_class_probabilities(dtype):
    logits = data((6, 5), scale=2.0)
    soft = torch.softmax(torch.tensor(data((6, 5), seed=1)), 1).numpy().astype(dtype)
    ours = nn.CrossEntropyLoss(label_smoothing=0.1)
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    run_loss(ours, theirs, logits, soft, dtype, what="CrossEntropyLoss with probabilities")


def torch_categorical(reduction):
    """The oracle of CategoricalCrossEntropy: torch's NLL of log-probabilities."""
    def loss(probs, target):
        if target.ndim == 2:
            per_row = -(target * torch.log(probs)).sum(1)
            return {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
        return torch.nn.functional.nll_loss(torch.log(probs), target, reduction=reduction)
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("one_hot", [False, True])
def test_categorical_cross_entropy_is_torchs_nll_of_log_probabilities(one_hot, reduction,
                                                                      dtype):
    probs = torch.softmax(torch.tensor(data((7, 4), scale=2.0)), 1).numpy()
    labels = np.random.default_rng(3).integers(0, 4, 7)
    target = np.eye(4, dtype=dtype)[labels] if one_hot else labels
    run_loss(nn.CategoricalCrossEntropy(reduction=reduction), torch_categorical(reduction),
             probs, target, dtype, what="CategoricalCrossEntropy")


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_then_categorical_cross_entropy_is_cross_entropy_of_logits(dtype):
    ours = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LogSoftmax(dim=1))
    twin(ours, theirs, dtype)
    labels = np.random.default_rng(3).integers(0, 4, 6)
    x = data((6, 3)).astype(dtype)
    loss = nn.CategoricalCrossEntropy()(ours(ns.tensor(x)), labels)
    loss_t = torch.nn.NLLLoss()(theirs(torch.tensor(x)), torch.tensor(labels))
    close(loss, loss_t, dtype, "value")
    loss.backward()
    loss_t.backward()
    for (name, p), p_t in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        close(p.grad, p_t.grad, dtype, f"gradient of {name}")


def test_loss_modules_reject_an_unknown_reduction_and_show_a_non_default_one():
    for name in ("MSELoss", "L1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss",
                 "CrossEntropyLoss", "CategoricalCrossEntropy"):
        with pytest.raises(ValueError, match="reduction"):
            getattr(nn, name)(reduction="average")
        assert repr(getattr(nn, name)()) == f"{name}()"
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
