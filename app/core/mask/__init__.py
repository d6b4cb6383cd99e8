"""The background mask: layers with undo (``layers``, ``undo``, ``paint``, ``style``), the
file formats it is read from and written to (``formats``), the shipped library
(``library``) and per-line coverage of a mask (``coverage``)."""
