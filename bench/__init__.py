"""swfd's benchmark harness: swfd against the floor (a raw boto3 loop) and the peer
(simpleflow), measured side by side in one run. See bench/README.md."""
