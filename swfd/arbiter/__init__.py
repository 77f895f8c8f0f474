"""Pieces of the master (``swfd.master.Arbiter``) kept out of its main file:
respawn accounting, fork helpers, and the entry points of the real children."""
