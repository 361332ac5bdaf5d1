"""Thin orchestration: each flow reads as a list of named steps."""
