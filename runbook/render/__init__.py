"""Rendering: Jinja templating, secrets and their masking, lab secret needs, step headers."""
