"""Hashing, encryption and tokens: every secret the gateway handles goes through here."""
