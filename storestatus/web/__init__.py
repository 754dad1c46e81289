"""The HTTP service (issue #12): the trigger/poll API and a small dashboard, on the same library
calls as the CLI. Installed with the ``[serve]`` extra; only ``storestatus serve`` imports it.

- ``settings``: what an operator chose (data directory, token, limits), plain values.
- ``guards``: what every request passes first: the body-size limit, the token, the origin.
- ``api``: the JSON/CSV endpoints; ``uploads``: multipart files streamed to disk for ingest.
- ``pages``: the server-rendered HTML pages, with ``templates/`` and ``storestatus.charts``.
- ``app``: puts them together (``create_app``).
"""
