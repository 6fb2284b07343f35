"""The language's vocabulary: what a rule set may say, and what a survey accepts.

Kept free of any other smartseg module but `ast`, so the engine, the answer
bank, the middleware and the checker can all import it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ANSWER_LABELS",
    "NO",
    "OTHER",
    "YES",
    "answer_choices",
]

# ==================================================================== surveys

#: The answers to a yes/no survey (about a segment `G.S`).
YES, NO = "yes", "no"
#: "None of these": the answer to a choice survey (about a group `G`) that picks no segment.
OTHER = "other"
#: How the survey form labels the answers that are not segments.
ANSWER_LABELS = {YES: "Yes", NO: "No", OTHER: "None of these"}


def answer_choices(about: str, segments: Sequence[str]) -> tuple[str, ...]:
    """The answers a survey about `about` accepts (SPEC §3.5): the one rule.

    About a segment `G.S`: `yes` or `no`. About a group `G` (whose segment names
    are `segments`): one of them, or `other`. `about` is assumed to name a
    group or segment that exists; callers check that first.
    """
    return (YES, NO) if "." in about else (*segments, OTHER)
