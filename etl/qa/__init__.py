"""Question-answer generation from declarative templates."""
