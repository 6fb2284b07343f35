"""Example apps: smartseg under FastAPI, Django, Litestar and Quart (see README.md)."""
