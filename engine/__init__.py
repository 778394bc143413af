"""The mosaicking engine: pure computation from normalized items to COG products."""
