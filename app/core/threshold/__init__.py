"""Finding the spectral traces automatically: the smooth background under a rate image
(``background``, ``picture_frame``), masked smoothing, binary morphology (``regions``),
the threshold itself (``traces``) and its cached worker for the live overlay (``live``)."""
