"""nn.Embedding against torch.nn.Embedding on the same weights: lookups with repeated ids
of several shapes, padding_idx (its row gets no gradient), float64 and float32; SGD steps
step by step; from_pretrained; PyTorch's initialisation and repr; bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn, optim
from oracle import DTYPES, TORCH_DTYPES, close

IDS = np.array([[1, 4, 4, 0, 2], [2, 2, 9, 1, 4]])  # repeats, and both ends of the table


def twin(dtype, **kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(10, 3, **kwargs).to(TORCH_DTYPES[dtype])
    ours = nn.Embedding(10, 3, **kwargs).to(dtype)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("ids", [IDS, IDS[0], IDS[:, :, None], np.array(4)],
                         ids=lambda a: str(a.shape))
def test_embedding_matches_torch(ids, padding_idx, dtype):
    ours, theirs = twin(dtype, padding_idx=padding_idx)
    out, out_t = ours(ns.tensor(ids)), theirs(torch.tensor(ids))
    close(out, out_t, dtype, "lookup")
    assert out.shape == ids.shape + (3,) and out.dtype == dtype
    weights = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    (out * ns.tensor(weights)).sum().backward()
    (out_t * torch.tensor(weights)).sum().backward()
    close(ours.weight.grad, theirs.weight.grad, dtype, "weight gradient (repeats add up)")
    if padding_idx is not None:
        assert not np.any(ours.weight.grad[padding_idx % 10])


def test_sgd_steps_with_a_padding_row_match_torch():
    ours, theirs = twin(np.float64, padding_idx=0)
    head, their_head = nn.Linear(3, 1, dtype=np.float64), torch.nn.Linear(3, 1).double()
    head.load_state_dict({k: v.detach().numpy() for k, v in their_head.state_dict().items()})
    params = list(ours.parameters()) + list(head.parameters())
    their_params = list(theirs.parameters()) + list(their_head.parameters())
    optimizer = optim.SGD(params, lr=0.5, momentum=0.9)
    their_optimizer = torch.optim.SGD(their_params, lr=0.5, momentum=0.9)
    for step in range(3):
        ids = np.random.default_rng(step).integers(0, 10, (4, 6))
        loss = head(ours(ns.tensor(ids))).mean()
        loss_t = their_head(theirs(torch.tensor(ids))).mean()
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-12)
        optimizer.zero_grad(), their_optimizer.zero_grad()
        loss.backward(), loss_t.backward()
        optimizer.step(), their_optimizer.step()
    close(ours.weight, theirs.weight, np.float64, "table after 3 steps")
    assert not np.any(ours.weight.numpy()[0])  # the padding row never moved


def test_initial_table_is_standard_normal_with_a_zero_padding_row():
    layer = nn.Embedding(1000, 64, padding_idx=-3)
    w = layer.weight.numpy()
    assert w.shape == (1000, 64) and w.dtype == np.float32
    assert layer.padding_idx == 997 and not np.any(w[997])
    rest = np.delete(w, 997, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01
    assert nn.Embedding(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_from_pretrained_copies_and_freezes_as_torch():
    table = np.random.default_rng(0).standard_normal((5, 2))
    layer = nn.Embedding.from_pretrained(ns.tensor(table), padding_idx=1)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), padding_idx=1)
    assert not layer.weight.requires_grad and not theirs.weight.requires_grad
    close(layer(ns.tensor([1, 3])), theirs(torch.tensor([1, 3])), np.float64, "lookup")
    table[0] = 99  # a copy, not a view
    assert layer.weight.numpy()[0, 0] != 99
    trainable = nn.Embedding.from_pretrained(table, freeze=False)
    assert trainable.weight.requires_grad and trainable.weight.dtype == np.float64
    trainable(np.array([0, 0])).sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad[0], [2.0, 2.0])
    with pytest.raises(ValueError, match=r"\(num_embeddings, embedding_dim\), got \(5,\)"):
        nn.Embedding.from_pretrained(np.zeros(5))


def test_repr_is_torchs_and_lists_are_accepted():
    assert repr(nn.Embedding(5, 3)) == repr(torch.nn.Embedding(5, 3))
    assert repr(nn.Embedding(5, 3, padding_idx=-1)) == repr(
        torch.nn.Embedding(5, 3, padding_idx=-1))
    layer = nn.Embedding(5, 3)
    np.testing.assert_array_equal(layer([[0, 4]]).numpy(), layer.weight.numpy()[[[0, 4]]])


def test_bad_arguments_and_ids_are_refused():
    with pytest.raises(ValueError, match=r"positive ints.*num_embeddings=0"):
        nn.Embedding(0, 3)
    with pytest.raises(ValueError, match=r"positive ints.*embedding_dim=2.5"):
        nn.Embedding(4, 2.5)
    for padding_idx in (5, -6, 1.0):
        with pytest.raises(ValueError, match=r"padding_idx.*\[-5, 5\).*got"):
            nn.Embedding(5, 3, padding_idx=padding_idx)
    layer = nn.Embedding(5, 3)
    with pytest.raises(TypeError, match="integer indices.*float32"):  # refused by the op
        layer(ns.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"0\.\.4.*got 5"):
        layer(ns.tensor([0, 5]))
    with pytest.raises(ValueError, match="got -1"):
        layer(ns.tensor([-1]))
