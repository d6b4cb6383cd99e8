"""Thin Qt views and controls that bind to the models in :mod:`app.core`."""
