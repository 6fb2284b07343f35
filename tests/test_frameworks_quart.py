"""smartseg under Quart: the example app (examples/quart_app) with the middleware around
``app.asgi_app`` (docs/frameworks.md)."""

from __future__ import annotations

from typing import Any

from framework_contract import FrameworkContract, import_framework

import_framework("quart")

from examples.quart_app.app import create_app  # noqa: E402


class TestQuart(FrameworkContract):
    framework = "Quart"

    def make_app(self, **options: Any) -> Any:
        return create_app(**options)

    def bare_app(self) -> Any:
        return create_app(personalize=False)
