"""Settings: where the data is, who may run analyses, how long a login lasts, basemaps and limits.

Read once from the environment (``SHEQU_*`` variables, e.g. ``SHEQU_ANALYSES_ACCESS=public``) or
given in code; every door (command line, API, pages) reads the same object, so they answer alike.
README lists every setting.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///shequ.db"


class Settings(BaseSettings):
    """One deployment's settings; unknown ``SHEQU_*`` variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="SHEQU_", extra="ignore", frozen=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, description="sqlite:///path.db (SpatiaLite) or "
                              "postgresql+psycopg://user:pw@host/db (PostGIS)")
    analyses_access: Literal["login", "public"] = Field(
        "login", description="login: coverage maps, service areas, life-circle audits and scorecards need a login "
        "with a role allowed to run them (API and pages alike); public: anyone may run them (an intranet)")
    token_hours: float = Field(8.0, gt=0, le=24 * 30, description="how long a login lasts")
    cookie_secure: bool = Field(False, description="send the login cookie over HTTPS only (set behind TLS)")
    basemap: Literal["none", "tianditu", "xyz"] = Field(
        "none", description="the coverage map's default basemap: none (offline; the data's streets), tianditu or xyz")
    tianditu_key: SecretStr | None = Field(None, description="Tianditu key for basemap=tianditu")
    basemap_url: str | None = Field(None, description="XYZ tile URL template for basemap=xyz")
    basemap_gcj02: bool = Field(False, description="the XYZ basemap is in GCJ-02 (Amap, Tencent): shift the data")
    max_page_items: int = Field(10_000, ge=1, le=100_000, description="most features per API page (limit)")
    max_facility_types: int = Field(8, ge=1, le=50, description="most facility types in one coverage analysis")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(False, description="log one JSON object per line instead of key=value text")


@lru_cache(maxsize=1)
def from_environment() -> Settings:
    """The settings of this process, read from ``SHEQU_*`` once."""
    return Settings()
