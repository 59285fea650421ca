"""Fake upstreams: nothing in the tests leaves the machine."""
