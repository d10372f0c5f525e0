"""matsight: explain what deep-learning models of scientific images have learned."""

__version__ = "0.1.0"
