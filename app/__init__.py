"""nsclean-gui: paint NIRSpec background masks and remove correlated read noise."""

from app.core.version import __version__

__all__ = ["__version__"]
