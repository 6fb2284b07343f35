"""smartseg under Litestar: the example app (examples/litestar_app) wrapped whole by the
middleware (docs/frameworks.md says why not ``Litestar(middleware=[...])``)."""

from __future__ import annotations

from framework_contract import FrameworkContract, import_framework

import_framework("litestar")

from examples.litestar_app.app import create_app  # noqa: E402


class TestLitestar(FrameworkContract):
    framework = "Litestar"
    create_app = staticmethod(create_app)
