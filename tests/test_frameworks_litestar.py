"""smartseg under Litestar: the example app (examples/litestar_app) wrapped whole by the
middleware (docs/frameworks.md says why not ``Litestar(middleware=[...])``)."""

from __future__ import annotations

from typing import Any

from framework_contract import FrameworkContract, import_framework

import_framework("litestar")

from examples.litestar_app.app import create_app  # noqa: E402


class TestLitestar(FrameworkContract):
    framework = "Litestar"

    def make_app(self, **options: Any) -> Any:
        return create_app(**options)

    def bare_app(self) -> Any:
        return create_app(personalize=False)
