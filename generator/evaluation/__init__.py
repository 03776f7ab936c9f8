"""Evaluation of what the models make: harmony of added voices (harmony.py)."""
