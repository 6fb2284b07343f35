"""smartseg under FastAPI: the example app (examples/fastapi_app) behind the middleware,
added with ``app.add_middleware`` (docs/frameworks.md)."""

from __future__ import annotations

from typing import Any

from framework_contract import FrameworkContract, import_framework

import_framework("fastapi")

from examples.fastapi_app.app import create_app  # noqa: E402


class TestFastAPI(FrameworkContract):
    framework = "FastAPI"

    def make_app(self, **options: Any) -> Any:
        return create_app(**options)

    def bare_app(self) -> Any:
        return create_app(personalize=False)
