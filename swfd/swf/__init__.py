"""swfd's SWF layer: the one place boto3 clients are built and SWF calls are made.

``swfd.swf.client`` builds clients (endpoint, credentials, timeouts, botocore
retries off); ``swfd.swf.retry.call`` is how every SWF call is made, so the
retry policy of DESIGN.md's Failure semantics lives in one module.
"""
