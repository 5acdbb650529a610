"""Tests of kernelbridge.client (in-process peer, framing, spawned fake daemon)."""
