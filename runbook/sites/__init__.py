"""Multi-site execution (docs/sites.md): runbook workers inside each lab site, one run, one report.

A lab with `sites` is driven from two kinds of process sharing one Redis broker:

- the **controller** (`runbook apply`, `controller.SiteRun`) compiles the plan once, runs the
  hosts without a site itself and sends each site one Celery task (`share.build_task`) with the
  files that site needs; it merges the events the workers stream back (`merge.Merger`) into the
  one `EventBus` the local run uses, so the console, the recap and the reports see one run;
- a **worker** (`runbook worker --site NAME`, `worker.py`) consumes its site's queue, runs its
  share through `runbook.api` with the secrets of its own environment, and streams events and
  heartbeats back (`channel.py`, events as JSON by `codec.py`).

celery and redis (the `runbook[sites]` extra) are imported only inside functions.
"""
