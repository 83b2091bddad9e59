"""The scikit-learn persistence compatibility matrix: host side."""

__version__ = "0.1.0"
