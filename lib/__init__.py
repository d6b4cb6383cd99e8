"""The mask library shipped with nsclean-gui (data only; see README.md here)."""
