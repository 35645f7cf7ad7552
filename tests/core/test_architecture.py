"""The engine stays UI-free: no file in core/ imports streamlit, at any depth of the module."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "__import__",
        ):
            names.update(
                a.value.split(".")[0] for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
    return names


def test_core_never_imports_streamlit():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 10, "core/ should hold the engine modules"
    offenders = [f.name for f in files if "streamlit" in imported_modules(f)]
    assert offenders == []


def test_the_checker_would_notice(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from streamlit import session_state\n")
    assert "streamlit" in imported_modules(bad)


def test_every_core_module_says_what_it_holds():
    for path in CORE.glob("*.py"):
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"
