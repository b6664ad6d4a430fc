"""The computational graph behind a tensor: which ops made it, from which leaves.

`graph_nodes(tensor, module)` walks the recorded graph (each op's output remembers its
parents, `Tensor._parents`, and its op's name, `_op`) back from `tensor`:

- op nodes: the op's name and its output's shape;
- leaves that need a gradient (parameters): their name in `module` when given (e.g.
  "0.weight"), their shape and, after a backward, their gradient's shape;
- constants (inputs and targets that need no gradient): their shape.

`graph(tensor, path, module)` draws it: through Graphviz's `dot` when it is installed
(.svg or .png), else with matplotlib (.png), ops in layers from the leaves up. Draw before
backward(), or after backward(retain_graph=True): a plain backward frees the graph.
`to_dot` gives the Graphviz source itself.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_open
from ..tensor import Tensor


@dataclass
class Node:
    id: int
    kind: str  # "op", "parameter" (a leaf that needs a gradient) or "constant"
    label: str
    shape: tuple
    grad_shape: tuple | None = None

    def text(self) -> str:
        shape = "x".join(map(str, self.shape)) or "scalar"
        grad = "" if self.grad_shape is None else \
            f"\ngrad {'x'.join(map(str, self.grad_shape)) or 'scalar'}"
        return f"{self.label}\n{shape}{grad}"


def graph_nodes(tensor: Tensor, module=None) -> tuple[list[Node], list[tuple[int, int]]]:
    """(nodes, edges (from, to)) of the graph that made `tensor`, the root last; module:
    names the parameters it holds."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(tensor).__name__}")
    names = {id(p): name for name, p in module.named_parameters()} if module else {}
    nodes, edges, seen, order = {}, [], set(), []

    def visit(t: Tensor) -> None:  # iterative: deep graphs (RNNs) would overflow recursion
        stack = [(t, False)]
        while stack:
            current, expanded = stack.pop()
            key = id(current)
            if expanded:
                order.append(key)
                continue
            if key in seen:
                continue
            seen.add(key)
            if current._op is not None:
                nodes[key] = Node(key, "op", current._op, tuple(current.shape))
            elif current.requires_grad:
                grad = None if current.grad is None else tuple(current.grad.shape)
                nodes[key] = Node(key, "parameter", names.get(key, "leaf"),
                                  tuple(current.shape), grad)
            else:
                nodes[key] = Node(key, "constant", "constant", tuple(current.shape))
            stack.append((current, True))
            for parent in current._parents:
                edges.append((id(parent), key))
                stack.append((parent, False))

    visit(tensor)
    return [nodes[key] for key in order], list(dict.fromkeys(edges))


def to_dot(nodes, edges) -> str:
    """Graphviz source: ops as boxes, parameters as filled ellipses, constants plain."""
    styles = {"op": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
              "parameter": 'shape=ellipse, style=filled, fillcolor="#fde2c8"',
              "constant": "shape=ellipse"}
    lines = ["digraph graph_of_a_tensor {", "  rankdir=BT;", '  node [fontname="Helvetica"];']
    for node in nodes:
        label = node.text().replace('"', "'").replace("\n", "\\n")
        lines.append(f'  n{node.id} [label="{label}", {styles[node.kind]}];')
    lines += [f"  n{a} -> n{b};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layers(nodes, edges) -> dict[int, int]:
    """Each node's row in the drawing: an op one above its highest op parent (the first
    ops at 1), a leaf just below the first op that reads it, so its arrow is short."""
    kinds = {node.id: node.kind for node in nodes}
    parents: dict[int, list[int]] = {}
    children: dict[int, list[int]] = {}
    for a, b in edges:
        parents.setdefault(b, []).append(a)
        children.setdefault(a, []).append(b)
    layer = {}
    for node in nodes:  # parents come first
        if node.kind == "op":
            layer[node.id] = 1 + max((layer[p] for p in parents.get(node.id, ())
                                      if kinds[p] == "op"), default=0)
    for node in nodes:
        if node.kind != "op":
            readers = [layer[c] for c in children.get(node.id, ()) if c in layer]
            layer[node.id] = min(readers, default=1) - 1
    return layer


def _draw_matplotlib(nodes, edges, path: Path) -> None:
    from .plot import _figure, _save

    layer = _layers(nodes, edges)
    rows: dict[int, list[Node]] = {}
    for node in nodes:
        rows.setdefault(layer[node.id], []).append(node)
    width = max(len(row) for row in rows.values())
    figure = _figure(max(4.0, 2.2 * width), max(3.0, 1.3 * len(rows)), layout=None)
    ax = figure.add_axes([0, 0, 1, 1])
    ax.axis("off")
    where = {}
    for depth, row in rows.items():
        for i, node in enumerate(row):
            where[node.id] = ((i + 1) / (len(row) + 1), (depth + 0.5) / len(rows))
    colours = {"op": "#dbe9f6", "parameter": "#fde2c8", "constant": "white"}
    for a, b in edges:
        ax.annotate("", xy=where[b], xytext=where[a],
                    arrowprops={"arrowstyle": "->", "color": "grey", "shrinkA": 14,
                                "shrinkB": 14})
    for node in nodes:
        x, y = where[node.id]
        ax.text(x, y, node.text(), ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round" if node.kind == "op" else "ellipse",
                      "facecolor": colours[node.kind], "edgecolor": "grey"})
    _save(figure, path)


def graph(tensor: Tensor, path, module=None, engine: str | None = None) -> Path:
    """Draw the graph behind `tensor` at `path` (.png; .svg or .dot need Graphviz's dot for
    the picture, .dot is the source). engine: 'dot' or 'matplotlib' (default: dot when
    installed, else matplotlib). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".dot"):
        raise ValueError(f"graph: the path must end in .png, .svg or .dot, got {path.name!r}")
    nodes, edges = graph_nodes(tensor, module)
    source = to_dot(nodes, edges)
    if suffix == ".dot":
        with atomic_open(path, "w") as file:
            file.write(source)
        return path
    dot = shutil.which("dot")
    engine = engine or ("dot" if dot else "matplotlib")
    if engine == "dot":
        if dot is None:
            raise FileNotFoundError("graph: engine 'dot' needs Graphviz's dot on the PATH")
        picture = subprocess.run([dot, f"-T{suffix[1:]}"], input=source.encode(),
                                 capture_output=True, check=True).stdout
        with atomic_open(path) as file:
            file.write(picture)
        return path
    if engine != "matplotlib":
        raise ValueError(f"graph: engine must be 'dot' or 'matplotlib', got {engine!r}")
    if suffix != ".png":
        raise ValueError("graph: without Graphviz the drawing is a .png")
    _draw_matplotlib(nodes, edges, path)
    return path
