"""tools' imports point down: the low tools (gradcheck, shapes) use none of the high ones
(summary, plot), and no tool imports the package root (which imports tools)."""

import ast
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "src" / "nnscratch" / "tools"
PACKAGE = TOOLS.parent
LOW, HIGH = ("gradcheck", "shapes"), ("summary", "plot")


def imported(module: str) -> list[tuple[int, str | None, list[str]]]:
    """(level, module, names) of every import in tools/<module>.py, nested ones too."""
    tree = ast.parse((TOOLS / f"{module}.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(0, alias.name, []) for alias in node.names]
    return found


@pytest.mark.parametrize("module", LOW)
def test_low_tools_import_no_high_tool(module):
    for level, name, names in imported(module):
        assert not (level == 1 and (name in HIGH or (name is None and set(names) & set(HIGH)))), \
            f"tools/{module}.py imports a higher tool: {name or names}"


@pytest.mark.parametrize("module", LOW + HIGH)
def test_no_tool_imports_the_package_root(module):
    for level, name, names in imported(module):
        assert not (level == 0 and name is not None and name.split(".")[0] == "nnscratch"), \
            f"tools/{module}.py imports {name}"
        # `from .. import x` is a submodule x, or a name re-exported by the root package
        if level == 2 and name is None:
            for x in names:
                assert (PACKAGE / f"{x}.py").exists() or (PACKAGE / x).is_dir(), \
                    f"tools/{module}.py takes {x} from the package root"
