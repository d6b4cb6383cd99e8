"""Everything that is not Qt: the cleaning engine, file I/O, masks, stretches, simulation.

Nothing in this package may import Qt, pyqtgraph or ``app.widgets`` (checked by the
import-linter contract in pyproject.toml and by ``tests/core/test_qt_free.py``).
"""
