"""Settings of the service and the CLI, from ``L3A_*`` environment variables.

Read when the app or a command starts (never at import time), and passed down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator may set. Each field is ``L3A_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="L3A_", extra="ignore")

    data_dir: Path = Field(Path("l3a-data"), description="Job database, products, demo data.")
    source: str = Field(
        "demo",
        description="Default catalogue: 'demo' (embedded, offline), a preset such as "
        "'earth-search', a STAC API URL or a local item file.",
    )
    dask_scheduler: str | None = Field(
        None, description="Address of a dask.distributed scheduler (tcp://host:8786); "
        "unset: a local cluster sized to the machine."
    )

    @property
    def products_dir(self) -> Path:
        """Where finished products live, one folder each."""
        return self.data_dir / "products"
