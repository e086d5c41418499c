"""Printing for the command line: tables, CSV, JSON, progress. Part of the CLI layer."""
