"""HTTP routes, one module per resource: landing, processes, jobs, products."""
