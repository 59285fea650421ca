// Account types per platform and how each takes its credentials
// (docs/admin-api.md, "Account types").
export const PLATFORMS = ['claude', 'openai', 'gemini']

export const PLATFORM_TYPES = {
  claude: ['claude-console', 'claude-official', 'ccr', 'bedrock'],
  openai: ['openai', 'azure-openai', 'openai-responses'],
  gemini: ['gemini-api', 'gemini-oauth'],
}

export const OAUTH_TYPES = ['claude-official', 'gemini-oauth', 'openai-responses']

// Credential input modes offered per type; the first is the default.
export const CRED_MODES = {
  'claude-console': ['apikey'],
  ccr: ['apikey'],
  openai: ['apikey'],
  'azure-openai': ['apikey'],
  'gemini-api': ['apikey'],
  bedrock: ['aws', 'apikey'],
  'claude-official': ['oauth', 'json'],
  'gemini-oauth': ['oauth', 'json'],
  'openai-responses': ['oauth', 'json', 'apikey'],
}

export const BASE_URL_REQUIRED = ['azure-openai', 'ccr']

// Placeholders for base_url: the type's default upstream.
export const BASE_URL_HINT = {
  'claude-console': 'https://api.anthropic.com',
  'claude-official': 'https://api.anthropic.com',
  ccr: 'http://127.0.0.1:3456',
  bedrock: 'https://bedrock-runtime.{region}.amazonaws.com',
  openai: 'https://api.openai.com',
  'azure-openai': 'https://{resource}.openai.azure.com',
  'openai-responses': 'https://chatgpt.com/backend-api/codex',
  'gemini-api': 'https://generativelanguage.googleapis.com',
  'gemini-oauth': 'https://cloudcode-pa.googleapis.com',
}

// Options edited with their own fields; any other option key is kept in the
// "other options" JSON box.
export const KNOWN_OPTIONS = {
  bedrock: ['region', 'cross_region_prefix', 'model_ids'],
  'azure-openai': ['api_version', 'responses_api_version', 'deployments', 'v1'],
  'gemini-oauth': ['project_id'],
}
