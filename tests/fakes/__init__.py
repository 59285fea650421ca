"""Fake upstreams: nothing in the tests leaves the machine.

The wire formats' fake APIs ship in `aiproxy.testing` (a host's tests use them
too); the modules here named `<format>_upstream` only re-export them. The
OAuth endpoints' fakes are the suite's own.
"""
