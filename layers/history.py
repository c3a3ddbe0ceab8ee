"""Feature history: every edit through the API is a row here — who, when, what, and the version
before it — so nothing an editor does is ever lost and any version can be restored."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text


def history_table(metadata: MetaData) -> Table:
    return Table(
        "feature_history", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("layer", String, nullable=False),
        Column("key", String, nullable=False),
        Column("version", Integer, nullable=False, comment="the feature's version after this edit"),
        Column("previous_version", Integer, nullable=True),
        Column("action", String, nullable=False, comment="create, replace, update, delete, restore"),
        Column("user_name", String, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("properties", Text, nullable=False, comment="the feature's fields and extra attributes, JSON"),
        Column("wkb", LargeBinary, nullable=True, comment="its geometry (WGS84), well-known binary"),
        Column("note", Text, nullable=True, comment="what a repair (?fix=true) changed"),
        comment="every edit of a feature through the API",
    )


#: for queries (never used for DDL, like the layer tables)
HISTORY = history_table(MetaData())
