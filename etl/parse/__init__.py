"""Raw source formats -> bronze rows."""
