"""The application's version, kept in the core so that nothing below the shell imports ``app``."""

__version__ = "0.1.0"
