"""Hosts: the machines runbook drives (this machine, SSH hosts)."""
