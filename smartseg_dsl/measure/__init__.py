"""Measurement (SPEC §1.7, §6): events the middleware records, and the report.

`events.py` owns the event's shape, its JSON-lines form and its table.
"""
