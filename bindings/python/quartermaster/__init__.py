"""Quartermaster: scheduling and resource management for fleets of AI agents."""

from quartermaster._quartermaster import __version__

__all__ = ["__version__"]
