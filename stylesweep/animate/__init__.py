"""Deforum-style animation with the sweep's models: schedules, frame operations, rendering."""
