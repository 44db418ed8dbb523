"""Normalization of molecules, sequences and text: plain functions, tested without Spark."""
