"""Reading: YAML files into checked model objects (runbooks, labs, vars) and their findings."""
