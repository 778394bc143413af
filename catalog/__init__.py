"""STAC catalogues of Sentinel-2 L2A items, normalized for the engine; the demo catalogue."""
