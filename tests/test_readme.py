"""The README's autograd example runs as printed, and is ten lines."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_autograd_example_runs_and_is_right():
    text = README.read_text()
    section = text.split("## Autograd in ten lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(compile(code.replace("print(", "(lambda *a: None)("), "README", "exec"), namespace)
    logits, b = namespace["logits"].numpy(), namespace["b"]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    np.testing.assert_allclose(b.grad, p[0] - np.eye(4)[2], rtol=1e-5, atol=1e-6)


def test_readme_training_example_runs_and_learns():
    section = README.read_text().split("## Train a network", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README", "exec"), namespace)
    ns, model, x, y = namespace["ns"], namespace["model"], namespace["x"], namespace["y"]
    with ns.no_grad():
        accuracy = (model(ns.tensor(x)).argmax(1).numpy() == y).mean()
    assert accuracy >= 0.9


def test_readme_train_step_example_runs(tmp_path, monkeypatch):
    section = README.read_text().split("**Your own train step.**", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("epochs=20", "epochs=2"), "README", "exec"), namespace)
    history = namespace["history"]
    assert len(history["d_loss"]) == 2 and len(history["g_loss"]) == 2
    assert "lr_G" in history and "lr_D" in history
    assert (tmp_path / "runs" / "gan" / "last.npz").exists()
