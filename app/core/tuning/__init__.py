"""Choosing the cleaning parameters from the data: cross-validation on held-out
background tiles (``cv``) and the coordinate search over parameters (``tune``)."""
