"""smartseg under Quart: the example app (examples/quart_app) with the middleware around
``app.asgi_app`` (docs/frameworks.md)."""

from __future__ import annotations

from framework_contract import FrameworkContract, import_framework

import_framework("quart")

from examples.quart_app.app import create_app  # noqa: E402


class TestQuart(FrameworkContract):
    framework = "Quart"
    create_app = staticmethod(create_app)
