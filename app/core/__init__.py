"""Everything that is not Qt, in subpackages by subject.

- :mod:`app.core.clean`: the public cleaning API (``clean``, ``CleanParams``,
  ``clean_product``): the entry for users' scripts.
- :mod:`app.core.engine`: the NSClean fits and their variants.
- :mod:`app.core.files`: pipeline products on disk, atomic writes, batch cleaning.
- :mod:`app.core.mask`: mask layers, undo, painting, file formats, library, coverage.
- :mod:`app.core.display`: stretches, limits, colour maps, preview curves.
- :mod:`app.core.threshold`: automatic trace masks.
- :mod:`app.core.simulation`: simulated exposures and quality metrics.
- :mod:`app.core.tuning`: cross-validated parameter choice.
- :mod:`app.core.state`: sessions and autosave.
- ``errors``, ``orientation``, ``paths``, ``perf``, ``version``: shared by all of them.

Nothing in this package may import Qt, pyqtgraph, ``app.widgets`` or the ``app`` shell
(import-linter contracts in pyproject.toml, and ``tests/core/test_qt_free.py``).
"""
