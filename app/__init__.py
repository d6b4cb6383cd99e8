"""nsclean-gui: paint NIRSpec background masks and remove correlated read noise."""

__version__ = "0.1.0"
