"""The web layer and the command line of l3a: orders, jobs, products, tiles, the viewer."""
