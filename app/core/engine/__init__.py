"""The cleaning engine: NSClean's per-line Fourier fits and their variants.

``fourier`` (the batched full-frame fit), ``fourier_real`` (the real-valued fit with a
1/f prior), ``fourier_basis`` (apodizer, kernels, fit settings), ``conditioning`` (which
lines' normal matrices can be trusted), ``maskplan`` and ``packing`` (what a mask costs
once, kept across frames), ``robust`` (per-line statistics), ``subarray`` and ``median``
(the other two variants), ``readtime`` (when each pixel is read), ``time_fit`` and
``time_equations`` (the read-time fit, the four outputs together) and ``incremental`` /
``incremental_time`` (refit only the lines a stroke changed, for the live preview). The
public entry for scripts is :mod:`app.core.clean`.
"""
