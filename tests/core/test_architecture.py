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


ROOT = CORE.parent
OURS = ("core", "pages", "bench")


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_names_used_across_modules(path: Path) -> list[str]:
    """`from core.x import _y`, and `x._y` where `x` names a module of ours: a module's private names are its own.
    (A private *module* — the pages' `_shared.py`, hidden from Streamlit's folder mode — may be imported.)"""
    tree = ast.parse(path.read_text())
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OURS:
            for alias in node.names:
                if _is_module(f"{node.module}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
                elif _private(alias.name):
                    found.append(f"{_shown(path)}:{node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in OURS and alias.asname:
                    modules.add(alias.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if _private(node.attr):
                found.append(f"{_shown(path)}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    files = [ROOT / "app.py", *(p for part in OURS for p in sorted((ROOT / part).rglob("*.py")))]
    used = [hit for path in files for hit in _private_names_used_across_modules(path)]
    assert not used, "make the name public (and say what it promises) or keep its use inside its module:\n" + "\n".join(
        used
    )


def test_the_private_name_check_finds_what_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from core.runs.store import _secret, list_runs\nfrom core import warm\nfrom pages._shared import K\n"
        "warm._loader = None\nwarm.default_items()\n"
    )
    assert [hit.split(": ", 1)[1] for hit in _private_names_used_across_modules(sample)] == [
        "from core.runs.store import _secret",
        "warm._loader",
    ]


def test_both_executors_are_an_executor_and_the_board_never_asks_which():
    """The job board runs trainings through the Executor protocol (core.runs.executors): no isinstance on a kind."""
    import inspect

    import core.jobs
    from core.runs.executors import Executor, LocalExecutor, RayExecutor

    assert isinstance(LocalExecutor(), Executor) and isinstance(RayExecutor(), Executor)
    assert LocalExecutor.connecting == "" and RayExecutor.connecting  # a phase to show while reaching the cluster
    assert "RayExecutor" not in inspect.getsource(core.jobs)


def _engine_names_imported(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every `from core.… import name` in a file, function-level imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "core":
            found += [(node.lineno, node.module, alias.name) for alias in node.names if alias.name != "*"]
    return found


def test_every_name_imported_from_the_engine_exists():
    """A bench is run by hand, never by the tests: an import of a name the engine no longer has (bench/adapters.py's
    `average_baseline`, gone since issue 20) breaks it silently. Every `from core.x import y` in the engine, the pages,
    the benches and the tests must find y (a name in x, or a module x.y)."""
    import importlib
    import importlib.util

    files = [ROOT / "app.py", *(p for part in (*OURS, "tests") for p in sorted((ROOT / part).rglob("*.py")))]
    missing = []
    for path in files:
        for line, module, name in _engine_names_imported(path):
            found = importlib.import_module(module)
            if not hasattr(found, name) and importlib.util.find_spec(f"{module}.{name}") is None:
                missing.append(f"{_shown(path)}:{line}: from {module} import {name}")
    assert not missing, "these names are not in the engine (any more):\n" + "\n".join(missing)
