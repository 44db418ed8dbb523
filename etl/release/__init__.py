"""Releases: Hugging Face dataset repositories with a card and a manifest."""
