"""The gateway's public paths, one module per client API, each mapping paths to the relay."""
