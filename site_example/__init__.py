"""Ledgerly: the example site that shows smartseg personalising a real-looking B2B website.

Run it with ``python -m site_example`` (or ``smartseg demo`` once the CLI exists) and
open http://127.0.0.1:8000.
"""
