"""Measurement (SPEC §1.7, §6): does personalization pay?

The pipeline, in file order:

* `buckets.py` — `bucket(key, visitor_id)`: who is in the holdout, and
  `pick_variant`: which experiment variant an eligible visitor is enrolled in;
* `events.py` — the event's shape, its JSON-lines form, its table, and
  `outcome_events` (an engine step → the events it produces);
* `recorder.py` — the middleware's in-memory queue and the task that writes it in
  batches to the answer bank's database (drops counted, retention);
* `spec.py` — what the report needs from the rules (groups, goals, holdout);
* `sources.py` — a database (`--db`) or a JSON-lines export (`--events`) to query;
* `aggregate.py` — the report's SQL (GROUP BY in the database, SQLite and PostgreSQL);
* `stats.py` — lift, interval, p-value, chance to beat and SRM, as gbstats computes them;
* `report.py` — the JSON document of SPEC §6; `wording.py`, `render_text.py`,
  `render_html.py` — the same for people.
"""
