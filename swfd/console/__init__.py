"""swfd's web console: executions, histories and activity timelines in the browser.

It reads through the SWF API only, so the same code serves the local endpoint
and AWS. Server-rendered pages (``pages``), the timeline as server-drawn SVG
(``timeline`` the model, ``svg`` the drawing), a small own script for zooming
and a stylesheet shipped in ``static/`` (no CDN: no payload leaves the
machine). ``command`` runs it: ``swfd --config F console``, or as a child of
the supervisor with ``[embedded] console = yes``.
"""
