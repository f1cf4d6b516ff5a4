"""Test helpers shared across suites (real servers started by fixtures)."""
