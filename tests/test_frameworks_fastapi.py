"""smartseg under FastAPI: the example app (examples/fastapi_app) behind the middleware,
added with ``app.add_middleware`` (docs/frameworks.md)."""

from __future__ import annotations

from framework_contract import FrameworkContract, import_framework

import_framework("fastapi")

from examples.fastapi_app.app import create_app  # noqa: E402


class TestFastAPI(FrameworkContract):
    framework = "FastAPI"
    create_app = staticmethod(create_app)
