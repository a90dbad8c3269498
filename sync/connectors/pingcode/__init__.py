"""PingCode Open API (``/v1/project/...``), facts from ``shared/vendor-api/FACTS.md`` §5.

Milestones come from two places, both synced as ``Resource.MILESTONES``:

- project versions (发布, ``GET /v1/project/projects/{id}/versions``), with vendor ids
  prefixed ``version:`` (``version:<version id>``), reached when ``status`` is ``published``;
- work items of the milestone type (里程碑, waterfall projects), under their own work-item id.
  They are milestones only: work-item fetches and census leave them out.
"""
