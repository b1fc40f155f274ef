"""Runs: a run as its events and samples arrive, its journal while it goes, and the run library that keeps it."""
