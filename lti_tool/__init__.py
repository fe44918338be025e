"""Microcred: an LTI 1.3 tool that issues Open Badges 3.0 micro-credentials."""

__version__ = "0.1.0"
