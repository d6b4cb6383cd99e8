"""Run-time resources for the GUI: icons and style sheets (data only)."""
