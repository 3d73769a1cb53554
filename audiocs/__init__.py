"""audiocs: audio classification and embedding learning with cosine-similarity margin losses."""

__version__ = "0.1.0"
