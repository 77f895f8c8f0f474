"""The generation's arbiter: pools of forked children kept alive, drained and stopped.

Free of SWF and of plugins: ``arbiter.Arbiter`` is given what to run
(``ChildSpec``) by ``swfd.generation``; ``respawn`` holds the per-slot policy
and ``fork`` the fork itself.
"""
