"""ns.tools.shapes: conv/pool/transposed output sizes against PyTorch's actual outputs
(hypothesis), receptive fields of known stacks, the `nnscratch shape` command and the
receptive-field column of `summary`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import nnscratch as ns
from nnscratch import cli, nn
from nnscratch.tools import (
    conv_output_shape,
    conv_transpose_output_shape,
    pool_output_shape,
    receptive_field,
    summary,
)

FEW = settings(max_examples=40, deadline=None)
pair = st.tuples(st.integers(1, 4), st.integers(1, 4))


@FEW
@given(size=st.tuples(st.integers(1, 12), st.integers(1, 12)), kernel=pair,
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_conv_output_shape_matches_conv2d(size, kernel, stride, padding, dilation):
    x, w = torch.zeros(1, 1, *size), torch.zeros(1, 1, *kernel)
    try:
        expected = tuple(TF.conv2d(x, w, None, stride, padding, dilation).shape[-2:])
    except RuntimeError:
        expected = None  # kernel larger than the padded input
    if expected is None:
        with pytest.raises(ValueError, match="is larger than the padded input"):
            conv_output_shape(size, kernel, stride, padding, dilation)
    else:
        assert conv_output_shape(size, kernel, stride, padding, dilation) == expected


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@FEW
@given(size=st.tuples(st.integers(1, 10), st.integers(1, 10)), kernel=pair,
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["same", "valid"]))
def test_string_padding_matches_conv2d(size, kernel, dilation, padding):
    x, w = torch.zeros(1, 1, *size), torch.zeros(1, 1, *kernel)
    try:
        expected = tuple(TF.conv2d(x, w, None, 1, padding, dilation).shape[-2:])
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            conv_output_shape(size, kernel, 1, padding, dilation)
    else:
        assert conv_output_shape(size, kernel, 1, padding, dilation) == expected


def test_nnscratch_conv2d_agrees():
    x, w = ns.zeros((1, 2, 9, 7)), ns.zeros((3, 2, 3, 2))
    y = ns.functional.conv2d(x, w, None, (2, 1), (1, 0), (1, 2))
    assert conv_output_shape((9, 7), (3, 2), (2, 1), (1, 0), (1, 2)) == tuple(y.shape[-2:])


@FEW
@given(size=st.tuples(st.integers(1, 12), st.integers(1, 12)), kernel=pair,
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), ceil_mode=st.booleans())
def test_pool_output_shape_matches_max_pool2d(size, kernel, stride, padding, dilation,
                                              ceil_mode):
    padding = tuple(min(p, k // 2) for p, k in zip(padding, kernel, strict=True))  # PyTorch's rule
    x = torch.zeros(1, 1, *size)
    try:
        expected = tuple(TF.max_pool2d(x, kernel, stride, padding, dilation,
                                       ceil_mode).shape[-2:])
    except RuntimeError:
        expected = None
    if expected is None or min(expected) < 1:
        with pytest.raises(ValueError, match="is larger than the padded input"):
            pool_output_shape(size, kernel, stride, padding, dilation, ceil_mode)
    else:
        assert pool_output_shape(size, kernel, stride, padding, dilation,
                                 ceil_mode) == expected


@FEW
@given(size=st.tuples(st.integers(1, 6), st.integers(1, 6)), kernel=pair,
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       extra=st.tuples(st.integers(0, 2), st.integers(0, 2)))
def test_conv_transpose_output_shape_matches(size, kernel, stride, padding, dilation, extra):
    extra = tuple(min(e, max(s, d) - 1) for e, s, d in zip(extra, stride, dilation, strict=True))
    x, w = torch.zeros(1, 1, *size), torch.zeros(1, 1, *kernel)
    try:
        expected = tuple(TF.conv_transpose2d(x, w, None, stride, padding, extra, 1,
                                             dilation).shape[-2:])
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            conv_transpose_output_shape(size, kernel, stride, padding, extra, dilation)
    else:
        assert conv_transpose_output_shape(size, kernel, stride, padding, extra,
                                           dilation) == expected


def test_worked_example_and_scalars():
    assert conv_output_shape((28, 28), 5) == (24, 24)
    assert conv_output_shape(28, 5) == 24
    assert conv_output_shape(28, 3, padding=1) == 28  # not "+ 2 * 1" with padding 0
    assert conv_output_shape(28, 3, padding="same", dilation=2) == 28
    assert pool_output_shape(24, 2) == 12
    assert pool_output_shape(5, 2, ceil_mode=True) == 3
    assert conv_transpose_output_shape(12, 2, stride=2) == 24


@pytest.mark.parametrize("call, message", [
    (lambda: conv_output_shape(4, 7), r"conv_output_shape: the kernel \(size 7, dilation 1: "
                                      r"spans 7\) is larger than the padded input along "
                                      r"length; expected a padded length of at least 7, got 4"),
    (lambda: conv_output_shape(8, 3, stride=2, padding="same"), "'same' needs stride 1"),
    (lambda: conv_output_shape((8, 8), (3, 3, 3)), "tuple of 2 ints"),
    (lambda: conv_output_shape(0, 3), "input_size must be a positive int"),
    (lambda: conv_output_shape(8, 0), "kernel_size must be >= 1"),
    (lambda: pool_output_shape(8, 2, padding=2), "at most half the kernel"),
    (lambda: conv_transpose_output_shape(4, 3, stride=2, output_padding=2), "output_padding"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- receptive fields --------------------------------------------------------------------

def fields(model, shape=(1, 16, 16)):
    return [(row.r, row.j, row.start) for row in receptive_field(model, shape)]


def test_two_3x3_convs_give_5():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3))
    assert fields(model) == [((3, 3), (1, 1), (1.5, 1.5)), ((5, 5), (1, 1), (2.5, 2.5))]


def test_conv3_pool2_conv3_gives_8():
    # r: 1 -> 3 (conv) -> 3 + 1*1 = 4 (pool, j 1 -> 2) -> 4 + 2*2 = 8 (conv, j 2)
    # start: 0.5 -> 1.5 -> 1.5 + 0.5 = 2.0 -> 2.0 + 1*2 = 4.0
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
    rows = receptive_field(model, (1, 16, 16))
    assert [row.r for row in rows] == [(3, 3), (3, 3), (4, 4), (8, 8)]
    assert [row.j for row in rows] == [(1, 1), (1, 1), (2, 2), (2, 2)]
    assert [row.start for row in rows] == [(1.5, 1.5), (1.5, 1.5), (2.0, 2.0), (4.0, 4.0)]
    assert [row.output_shape for row in rows] == [(2, 14, 14), (2, 14, 14), (2, 7, 7),
                                                  (2, 5, 5)]
    assert [row.layer for row in rows] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d"]


def test_dilated_conv_padding_and_non_square():
    assert fields(nn.Conv2d(1, 1, 3, dilation=2)) == [((5, 5), (1, 1), (2.5, 2.5))]
    # padding 1 centres the first output on pixel 0; stride 2 doubles the jump
    assert fields(nn.Conv2d(1, 1, 3, stride=2, padding=1)) == [((3, 3), (2, 2), (0.5, 0.5))]
    assert fields(nn.Conv2d(1, 1, (3, 1), padding="same")) == [((3, 1), (1, 1), (0.5, 0.5))]


def test_pool_without_a_stride_strides_by_its_kernel():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.LPPool2d(2, 2), nn.AvgPool2d(2))
    assert fields(model) == [((3, 3), (1, 1), (1.5, 1.5)), ((4, 4), (2, 2), (2.0, 2.0)),
                             ((6, 6), (4, 4), (3.0, 3.0))]


def test_passthrough_nested_flatten_and_linear():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Dropout(0.5)),
        nn.Flatten(), nn.Linear(2 * 10 * 12, 3))
    rows = receptive_field(model, (1, 10, 12))
    assert [row.name for row in rows] == ["0.0", "0.1", "0.2", "1", "2"]
    assert [row.r for row in rows] == [(3, 3)] * 3 + [(10, 12)] * 2
    assert rows[-1].j is None and rows[-1].start is None


def test_unknown_geometry_gives_none_and_bad_shape_raises():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3))
    assert [row.r for row in receptive_field(model, (1, 8, 8))] == [(3, 3), None, None]
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        receptive_field(nn.Linear(4, 2), (4,))


def test_summary_shows_the_receptive_field():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3),
                          nn.Flatten(), nn.Linear(50, 3))
    lines = summary(model, (1, 16, 16)).splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    column = header.index("Receptive field")
    rows = [line for line in lines if line[:1].isdigit()]
    assert [row[column:].split()[0] for row in rows] == ["3x3", "3x3", "4x4", "8x8",
                                                        "16x16", "16x16"]
    assert [row.split()[-1] for row in rows] == ["20", "0", "0", "38", "0", "153"]
    assert {len(row) for row in rows} == {len(header)}
    assert "Receptive field" not in summary(nn.Linear(4, 2), (4,))


# --- nnscratch shape ---------------------------------------------------------------------

def run(capsys, *args):
    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    return (code, *capsys.readouterr())


@pytest.mark.parametrize("args, printed", [
    (("conv2d", "--in", "3x28x28", "--out-channels", "16", "--kernel", "5"), "16x24x24"),
    (("maxpool2d", "--in", "16x24x24", "--kernel", "2"), "16x12x12"),
    (("conv2d", "--in", "3x28x28", "--out-channels", "8", "--kernel", "3", "--stride", "2",
      "--padding", "1", "--dilation", "1"), "8x14x14"),
    (("conv2d", "--in", "3x9x9", "--out-channels", "4", "--kernel", "3", "--padding", "same",
      "--dilation", "2"), "4x9x9"),
    (("maxpool2d", "--in", "2x5x5", "--kernel", "2", "--ceil-mode"), "2x3x3"),
])
def test_shape_command(capsys, args, printed):
    code, out, err = run(capsys, "shape", *args)
    assert (code, out, err) == (0, printed + "\n", "")


def test_impossible_shape_exits_1_with_one_line(capsys):
    code, out, err = run(capsys, "shape", "conv2d", "--in", "3x4x4", "--out-channels", "2",
                         "--kernel", "7")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "is larger than the padded input along height" in err


@pytest.mark.parametrize("bad", ["3x28", "3x28x0", "axbxc", "3x28x28x1"])
def test_malformed_input_size_exits_2(capsys, bad):
    code, _, err = run(capsys, "shape", "conv2d", "--in", bad, "--out-channels", "2",
                       "--kernel", "3")
    assert code == 2 and "CxHxW" in err
