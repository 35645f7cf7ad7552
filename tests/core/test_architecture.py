"""The engine's shape, beyond what `lint-imports` checks (.importlinter: layers, no circles, no streamlit):
an import of core inside a function is there only to put off a heavy dependency, and says so; every module
says what it holds."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def _function_level_core_imports():
    for path in sorted(CORE.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        seen = set()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("core") and sub.lineno not in seen:
                    seen.add(sub.lineno)
                    yield path.relative_to(CORE.parent), sub.lineno, "\n".join(lines[sub.lineno - 1 : sub.end_lineno])


def test_every_function_level_import_of_core_says_why():
    unexplained = [
        f"{path}:{line}: {text.strip()}" for path, line, text in _function_level_core_imports() if "# lazy:" not in text
    ]
    assert not unexplained, "import these at the top, or say '# lazy: loads <what>':\n" + "\n".join(unexplained)


def test_the_leaves_import_nothing_of_core():
    for leaf in ("config.py", "device.py", "vectors.py", "errors.py"):
        tree = ast.parse((CORE / leaf).read_text())
        imported = [
            n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("core")
        ]
        assert not imported, f"core/{leaf} imports {imported}"


def test_every_core_module_says_what_it_holds():
    for path in CORE.rglob("*.py"):
        if path.name != "__main__.py":
            assert ast.get_docstring(ast.parse(path.read_text())), (
                f"{path.relative_to(CORE.parent)} has no module docstring"
            )
