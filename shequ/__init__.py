"""shequ (社区): plan and manage Chinese urban and rural communities on a map.

The repository's top-level folders are this package's subpackages (``gis/`` is
``shequ.gis``, ``layers/`` is ``shequ.layers`` …), mapped in pyproject.toml, so the
layout of the design card is the layout on disk.
"""

__version__ = "0.1.0"
