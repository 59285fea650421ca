"""Which upstream account serves a request."""
