"""The application's state without Qt: what a session saves and the autosave (``session``)."""
