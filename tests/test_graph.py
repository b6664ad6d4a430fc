"""ns.tools.graph: the nodes and edges of a small expression's graph, the names of a
module's parameters and their gradients' shapes, the drawings, and `nnscratch graph`."""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.tools import graph, graph_nodes, to_dot
from test_cli import PNG_MAGIC, assert_one_line_error, run


def small_expression():
    w = ns.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    x = ns.tensor(np.ones((4, 2), np.float32))
    return w, x, ns.functional.relu(x @ w).sum()


def test_the_graph_of_relu_of_a_product_summed():
    w, x, y = small_expression()
    nodes, edges = graph_nodes(y)
    by_id = {node.id: node for node in nodes}
    assert sorted((n.kind, n.label, n.shape) for n in nodes) == sorted([
        ("parameter", "leaf", (2, 3)), ("constant", "constant", (4, 2)),
        ("op", "matmul", (4, 3)), ("op", "relu", (4, 3)), ("op", "sum", ())])
    named = {(by_id[a].label, by_id[b].label) for a, b in edges}
    assert named == {("leaf", "matmul"), ("constant", "matmul"), ("matmul", "relu"),
                     ("relu", "sum")}
    assert nodes[-1].id == id(y)  # the root last, parents before children
    order = [node.id for node in nodes]
    assert all(order.index(a) < order.index(b) for a, b in edges)


def test_module_names_and_gradient_shapes_after_backward():
    model = ns.nn.Sequential(ns.nn.Linear(2, 3), ns.nn.ReLU(), ns.nn.Linear(3, 1))
    loss = model(ns.tensor(np.ones((5, 2), np.float32))).mean()
    loss.backward(retain_graph=True)
    parameters = {n.label: n for n in graph_nodes(loss, model)[0] if n.kind == "parameter"}
    assert set(parameters) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert parameters["0.weight"].grad_shape == (3, 2)
    source = to_dot(*graph_nodes(loss, model))
    assert source.startswith("digraph") and source.count("->") == 8  # 3 + 1 + 3 + 1
    assert "0.weight\\n3x2\\ngrad 3x2" in source


def test_drawings_are_written_and_bad_paths_refused(tmp_path):
    _, _, y = small_expression()
    assert graph(y, tmp_path / "g.png", engine="matplotlib").read_bytes().startswith(PNG_MAGIC)
    assert (graph(y, tmp_path / "g.dot")).read_text().startswith("digraph")
    with pytest.raises(ValueError, match=r"must end in \.png, \.svg or \.dot, got 'g\.jpg'"):
        graph(y, tmp_path / "g.jpg")
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        graph_nodes(np.ones(3))
    with pytest.raises(ValueError, match="without Graphviz the drawing is a .png"):
        graph(y, tmp_path / "g.svg", engine="matplotlib")


def test_cli_graph_of_a_recipe_step_supervised_or_its_own(capsys, tmp_path):
    code, out, err = run(capsys, "graph", "spiral", "--out", tmp_path / "s.dot")
    assert code == 0, err
    source = (tmp_path / "s.dot").read_text()
    assert "cross_entropy" in source and "0.weight" in source and "grad 64x2" in source
    code, out, err = run(capsys, "graph", "toy-ddpm", "--out", tmp_path / "t.dot")
    assert code == 0, err  # a recipe with a train step of its own: the loss it backprops
    source = (tmp_path / "t.dot").read_text()
    assert "mse_loss" in source and "net.0.weight" in source
    code, _, err = run(capsys, "graph", "spiral", "--out", tmp_path / "a.jpg")
    assert_one_line_error(code, err, "--out must end in .png, .svg or .dot", "a.jpg")
    assert not (tmp_path / "a.jpg").exists()
