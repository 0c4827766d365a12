"""Test-suite settings: Hypothesis runs derandomized, so every run explores the same
examples and a CI failure reproduces locally with the same command."""

from hypothesis import settings

settings.register_profile("smtp-hil", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("smtp-hil")
