"""OAuth for subscription accounts: PKCE authorizations, token exchange and refresh.

Provider facts (URLs, client ids, scopes, encodings) are data in `providers`,
so Claude, ChatGPT/Codex and Gemini CLI logins share one flow and one refresher.
"""
