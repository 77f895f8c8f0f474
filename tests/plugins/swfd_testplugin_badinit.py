"""A plugin whose post-fork init always fails: children must be respawned with backoff."""

import swfd


@swfd.hookimpl
def swfd_worker_init(pool, kind):
    raise RuntimeError(f"swfd_testplugin_badinit: init of {kind} pool {pool.name} fails on purpose")
