"""ns.tools.summary: layer rows, output shapes, parameter counts and an aligned table."""

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import backend, nn
from nnscratch.tools import SummaryRow, summary, summary_rows


def mlp():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def test_exports():
    assert ns.tools.summary is summary and ns.tools.summary_rows is summary_rows
    assert callable(ns.tools.plot.curves) and callable(ns.tools.gradcheck)


def test_mlp_rows_and_totals():
    model = mlp()
    rows = summary_rows(model, (784,))
    assert [r.name for r in rows] == ["0", "1", "2"]
    assert [r.output_shape for r in rows] == [(128,), (128,), (10,)]
    assert [r.params for r in rows] == [100480, 0, 1290]
    assert [r.trainable for r in rows] == [100480, 0, 1290]
    assert rows[0].layer == "Linear(in_features=784, out_features=128, bias=True)"
    assert rows[1].layer == "ReLU()"
    assert rows[2].module is model[2]
    assert rows[0] == SummaryRow("0", rows[0].layer, (128,), 100480, 100480)
    assert sum(r.params for r in rows) == model.num_parameters() == 101770


def test_table_text_is_aligned():
    text = summary(mlp(), (784,))
    lines = text.splitlines()
    assert "0  Linear(in_features=784, out_features=128, bias=True)" in text
    assert "Total params: 101,770" in lines
    assert "Trainable params: 101,770" in lines
    assert "Non-trainable params: 0" in lines
    header = next(line for line in lines if line.startswith("Layer"))
    rows = [line for line in lines if line[:1].isdigit()]
    assert len(rows) == 3
    shape_column = header.index("Output shape")
    assert [row[shape_column:].split()[0] for row in rows] == ["(128,)", "(128,)", "(10,)"]
    assert all(row[shape_column - 1] == " " for row in rows)
    # parameter counts are right-aligned under "Param #"
    assert {len(row) for row in rows} == {len(header)}
    assert [row.split()[-1] for row in rows] == ["100,480", "0", "1,290"]
    assert all("\n" not in row for row in rows)


def test_nested_sequential_is_opened():
    model = nn.Sequential(
        nn.Linear(20, 16),
        nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(16, 8), nn.Tanh())),
        nn.Linear(8, 2),
    )
    rows = summary_rows(model, (20,))
    assert [r.name for r in rows] == ["0", "1.0", "1.1.0", "1.1.1", "2"]
    assert [r.output_shape for r in rows] == [(16,), (16,), (8,), (8,), (2,)]
    assert [r.params for r in rows] == [336, 0, 136, 0, 18]
    text = summary(model, (20,))
    assert "1.1.0  Linear(in_features=16, out_features=8, bias=True)" in text
    assert "0      Linear(in_features=20, out_features=16, bias=True)" in text


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 5), nn.Linear(5, 3)
        self.seen_grad_mode = None

    def forward(self, x):
        self.seen_grad_mode = ns.is_grad_enabled()
        return self.fc2(self.fc1(x).relu())


def test_other_models_are_one_row_with_a_one_line_repr():
    model = TwoLayers()
    rows = summary_rows(model, (6,))
    assert len(rows) == 1
    assert rows[0].name == "" and rows[0].output_shape == (3,) and rows[0].params == 53
    assert "\n" not in rows[0].layer and rows[0].layer.startswith("TwoLayers((fc1): Linear(")
    assert model.seen_grad_mode is False  # ran under no_grad
    assert "Total params: 53" in summary(model, 6)


def test_sequential_subclass_with_own_forward_is_one_row():
    class Residual(nn.Sequential):
        def forward(self, x):
            return x + super().forward(x)

    model = nn.Sequential(nn.Linear(4, 4), Residual(nn.Linear(4, 4), nn.ReLU()))
    rows = summary_rows(model, (4,))
    assert [r.name for r in rows] == ["0", "1"]
    assert rows[1].params == 20


@pytest.mark.parametrize("start_training", [True, False])
def test_mode_is_restored(start_training):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model.train(start_training)
    summary(model, (4,))
    assert all(m.training is start_training for m in model.modules())


def test_mixed_modes_are_restored_module_by_module():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model[1].eval()  # e.g. frozen batch statistics while the rest trains
    summary(model, (4,))
    assert [m.training for m in model.modules()] == [True, True, False, True]


def test_dropout_and_batchnorm_model_changes_nothing():
    model = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(6, 2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    rng_before = backend.get_rng_state()
    rows = summary_rows(model, (8,))
    assert [r.output_shape for r in rows] == [(6,)] * 4 + [(2,)]
    assert [r.params for r in rows] == [54, 12, 0, 0, 14]
    after = model.state_dict()
    for key, value in before.items():  # running statistics untouched
        np.testing.assert_array_equal(after[key], value)
    assert backend.get_rng_state() == rng_before  # no dropout mask drawn
    assert all(p.grad is None for p in model.parameters())


def test_frozen_parameters_are_not_trainable():
    model = mlp()
    model[0].requires_grad_(False)
    rows = summary_rows(model, (784,))
    assert [r.trainable for r in rows] == [0, 0, 1290]
    text = summary(model, (784,))
    assert "Trainable params: 1,290" in text and "Non-trainable params: 100,480" in text


def test_tied_parameters_are_counted_once_in_the_total():
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    model = nn.Sequential(first, second)
    assert [r.params for r in summary_rows(model, (4,))] == [20, 20]
    assert "Total params: 24" in summary(model, (4,))


def test_image_shapes_and_tuple_outputs():
    class Both(nn.Module):
        def forward(self, x):
            return x, x.sum(axis=-1)

    model = nn.Sequential(nn.Unflatten(1, (2, 3)), nn.Flatten(), Both())
    rows = summary_rows(model, (6,))
    assert [r.output_shape for r in rows] == [(2, 3), (6,), ((6,), ())]


def test_input_dtype_follows_model_or_argument():
    class Record(nn.Module):
        def forward(self, x):
            self.dtype = x.dtype
            return x

    record = Record()
    summary(nn.Sequential(nn.Linear(3, 3).double(), record), (3,))
    assert record.dtype == np.float64
    summary(record, (3,), dtype=np.int64)
    assert record.dtype == np.int64
    summary(record, (3,))
    assert record.dtype == np.float32


def test_wrong_input_shape_names_the_layer():
    with pytest.raises(ValueError, match=r"layer 0 Linear failed on input of shape \(1, 100\)"
                                         r".*expected input of shape \(\*, 784\), got \(1, 100\)"):
        summary(mlp(), (100,))
    model = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), nn.Linear(5, 2)))
    with pytest.raises(ValueError, match=r"layer 1\.1 Linear .*\(\*, 5\), got \(1, 8\)"):
        summary_rows(model, (4,))
    with pytest.raises(ValueError, match=r"model TwoLayers failed .*\(\*, 6\), got \(1, 7\)"):
        summary(TwoLayers(), (7,))


def test_failure_still_restores_mode():
    model = mlp()
    with pytest.raises(ValueError):
        summary(model, (3,))
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("shape", [(), (0,), (3, -1), "784", (2.0,), None, (True,)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        summary(mlp(), shape)


def test_not_a_module():
    with pytest.raises(TypeError, match="expected an nn.Module, got function"):
        summary(lambda x: x, (3,))
