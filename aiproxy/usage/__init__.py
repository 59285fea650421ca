"""Usage accounting: the per-request meter and the batch writer behind it."""
