"""Helpers the test suites share (never a test module importing another)."""
