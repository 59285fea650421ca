// Ready-to-paste client settings, exactly as docs/clients.md gives them, with
// this gateway's URL and the new key filled in.
export function claudeCode(base, key) {
  return `export ANTHROPIC_BASE_URL=${base}/claude
export ANTHROPIC_API_KEY=${key}
claude`
}

export function codexConfig(base) {
  return `model_provider = "aiproxy"
model = "gpt-5"

[model_providers.aiproxy]
name = "aiproxy"
base_url = "${base}/openai/v1"
env_key = "AIPROXY_API_KEY"
wire_api = "responses"`
}

export function codexEnv(key) {
  return `export AIPROXY_API_KEY=${key}
codex`
}

export function geminiSettings() {
  return `{"security": {"auth": {"selectedType": "gemini-api-key"}}}`
}

export function geminiEnv(base, key) {
  return `export GEMINI_API_KEY=${key}
export GOOGLE_GEMINI_BASE_URL=${base}/gemini
gemini`
}
