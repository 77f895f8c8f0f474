"""swfd's SWF layer: the one place boto3 clients are built and SWF calls are made.

``swfd.swf.client`` builds clients (endpoint, credentials, timeouts, botocore
retries off); ``swfd.swf.retry.call`` is how every SWF call is made, so the
retry policy of DESIGN.md's Failure semantics lives in one module.
``swfd.swf.settings`` is the seed ``swf`` library's settings (``set()``, ``~/.swf``,
the environment) and the default connection of models, querysets and actors,
for scripts; the daemon does not use it.
"""
