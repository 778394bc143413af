"""XYZ tiles, TileJSON, previews of statistics and features of the products, through TiTiler.

This package owns ``/products/{id}/tiles/...``: `routes` builds the router from titiler's
factory; `products` finds a product's COGs (through the job store) and `reader` reads them;
`styles` holds the layers a client may ask for (true and false colour, each band, each
quality layer) with their stretches, colormaps and legends; `deps` parses the query
parameters, `guards` refuses what titiler would answer with a 500 (bad colormaps, formulas,
geometries), `responses` sets media types and caching, and `errors` turns every failure into a
problem body.
"""
