"""Planning: a runbook compiled against a lab into concrete per-host actions, before anything connects."""
