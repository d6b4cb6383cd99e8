"""app.core must never import Qt: importing every core module pulls in no Qt binding."""

import subprocess
import sys


def test_core_imports_no_qt():
    code = (
        "import pkgutil, importlib, sys, app.core\n"
        "for m in pkgutil.iter_modules(app.core.__path__):\n"
        "    importlib.import_module('app.core.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('PyQt6', 'PySide6', 'pyqtgraph', 'superqt', 'qtpy') or n.startswith('app.widgets'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"app.core pulled in: {out}"
