"""How images and results are shown, without Qt: stretches, limits and colour maps with
the display model (``stretch``) and the preview's curves and levels (``curves``)."""
