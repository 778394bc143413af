"""Orders become jobs, jobs become products.

This package owns the life of an order once it is valid JSON: `orders` checks it against the
domain and settles it in canonical form (the API's and ``l3a build``'s one validation),
`sources` resolves the catalogue it names, `store` keeps jobs in SQLite (states, progress,
recovery after a crash), `worker` runs accepted jobs on threads, `process` runs each build in
a child process that a cancellation or a shutdown can stop, and `publish` makes a finished
product visible in one rename. Nothing here speaks HTTP: the routes are in `api.routes`.
"""
