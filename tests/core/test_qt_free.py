"""app.core must never import Qt or the shell: importing every core module pulls in neither."""

import ast
import pathlib
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[2] / "app" / "core"


def test_core_imports_no_qt():
    code = (
        "import pkgutil, importlib, sys, app.core\n"
        "for m in pkgutil.walk_packages(app.core.__path__, 'app.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('PyQt6', 'PySide6', 'pyqtgraph', 'superqt', 'qtpy') or n.startswith('app.widgets'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"app.core pulled in: {out}"


def test_core_never_imports_the_app_root():
    """``from app import ...`` or ``import app`` in core would load the shell's package."""
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "app":
                offenders.append(f"{path.relative_to(CORE)}:{node.lineno}")
            if isinstance(node, ast.Import) and any(a.name == "app" for a in node.names):
                offenders.append(f"{path.relative_to(CORE)}:{node.lineno}")
    assert offenders == []
