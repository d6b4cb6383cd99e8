"""Pipeline products on disk: reading and writing rate/rateints/cal files, atomic writes,
FITS-safe header text, batch cleaning of whole files and the stack of loaded images."""
