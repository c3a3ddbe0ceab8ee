"""The application: every use case once, called by every door.

The command line (``shequ.cli``), the JSON API (``shequ.api``) and the pages (served by the API
with ``shequ.web``'s renderers) are thin adapters over these functions; each takes a ``Workspace``
(the store, the settings and what is kept between calls) and typed parameters, and returns typed
results or raises a ``shequ.errors.ShequError``. Access is checked here too (``access``), so every door
answers alike.

- ``coverage``: walking coverage, service areas, the files of a run
- ``lifecircles``: drawing life circles, auditing them
- ``scorecards``: community scorecards, one community in detail, the written report
- ``drafting``: drafted communities and grids, grid checks
- ``editing``: feature edits (create, replace, update, delete, restore; grid split and merge), history
- ``transfer``: imports (files, OpenStreetMap) and exports
- ``accounts``: logins and users
- ``demo``: the central-Chengdu demo
"""
