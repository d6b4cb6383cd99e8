"""Simulated NIRSpec exposures with known truth (``simulate``, ``noise``, ``scene``) and
the metrics that score a cleaning against that truth (``metrics``)."""
