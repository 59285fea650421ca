"""Translators between a client's wire format and an account's (issue: any client on any account).

One module per (client format, upstream format) pair, each three pure parts
over dicts and bytes, no I/O: the request (client body -> upstream body), the
whole answer (upstream JSON -> client JSON) and a stream translator fed the
upstream's bytes chunk by chunk (upstream events -> client events, relayed
as they come). Pairs are written where one side is Anthropic Messages: from
Messages to every other format (Anthropic clients on OpenAI and Gemini
accounts) and from every other format to Messages (their clients on Claude
accounts). Every mapping rule that trips translators (tool-call fragments,
cache tokens, stop reasons, vendor-only thinking data) is written where both
sides are in view, and tested per pair on its own fixtures. Any other
crossing (an OpenAI chat client on a Gemini account) is two pairs through
Messages, joined by `compose`: Messages, the richest of the formats, is the
pivot, so each rule is written once. What several pairs emit is written once
per client format (`anthropic_events` for Anthropic clients).

`base` holds what every pair shares: `Bridge` (the three parts and the
upstream path), `Untranslatable` (a 400 in the client's shape, naming the
field) and the `StreamTranslator` protocol.
"""
