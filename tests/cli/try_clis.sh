#!/usr/bin/env bash
# Runs Claude Code, Codex CLI and Gemini CLI once each ("say hi") against a
# gateway started by tests/cli/run_gateway.py, each with a scratch HOME.
#
#   CLIS=/tmp/clis            # where `npm install --prefix $CLIS ...` put them
#   ENV_FILE=/tmp/clis/gw.env # the --env-file given to run_gateway.py
#   TOOLS=1                   # also prompts that name a tool (a tool loop with
#                             # run_gateway.py --rich): Codex's exec_command
#                             # (gpt-5) and apply_patch (gpt-5.5), Gemini's list_directory
#   tests/cli/try_clis.sh
#
# A CLI that is not installed in $CLIS is skipped. Every process is bounded
# by `timeout`. Nothing is written outside $SCRATCH.
set -u
CLIS=${CLIS:-/tmp/clis}
ENV_FILE=${ENV_FILE:-$CLIS/gw.env}
SCRATCH=${SCRATCH:-$(mktemp -d /tmp/cli-trial.XXXXXX)}
# shellcheck disable=SC1090
source "$ENV_FILE"   # GATEWAY=http://127.0.0.1:PORT, KEY=ap-...
PATH="$CLIS/node_modules/.bin:/usr/bin:/bin:$(dirname "$(command -v node)")"
mkdir -p "$SCRATCH/work" && cd "$SCRATCH/work" || exit 1
base_env=(PATH="$PATH" TERM=dumb)

TOOLS=${TOOLS:-}
installed() { [ -x "$CLIS/node_modules/.bin/$1" ] || { echo "=== $1: not in $CLIS, skipped"; false; }; }

installed claude && echo "=== Claude Code $(HOME=$SCRATCH timeout 30 claude --version 2>/dev/null)"
installed claude >/dev/null && for var in ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN; do
  mkdir -p "$SCRATCH/claude-$var"
  echo "--- $var"
  env -i "${base_env[@]}" HOME="$SCRATCH/claude-$var" ANTHROPIC_BASE_URL="$GATEWAY/claude" "$var=$KEY" \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
    timeout 120 claude -p "say hi" </dev/null
  echo "rc=$?"
done

codex_run() {  # base_url model prompt
  local home
  home="$SCRATCH/codex-$(echo "$1 $2 $3" | md5sum | cut -c1-6)"
  mkdir -p "$home/.codex"
  cat >"$home/.codex/config.toml" <<EOF
model_provider = "aiproxy"
model = "$2"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.aiproxy]
name = "aiproxy"
base_url = "$1"
env_key = "AIPROXY_API_KEY"
wire_api = "responses"
EOF
  echo "--- base_url = $1, model = $2: $3"
  env -i "${base_env[@]}" HOME="$home" AIPROXY_API_KEY="$KEY" \
    timeout 120 codex exec --skip-git-repo-check --sandbox workspace-write "$3" </dev/null 2>&1 |
    grep -v '^WARNING: proceeding'
  echo "rc=${PIPESTATUS[0]}"
}
if installed codex; then
  echo "=== Codex CLI $(HOME=$SCRATCH timeout 30 codex --version 2>/dev/null)"
  for base in "$GATEWAY/openai/v1" "$GATEWAY" "$GATEWAY/v1"; do
    codex_run "$base" gpt-5 "say hi"
  done
  if [ -n "$TOOLS" ]; then
    codex_run "$GATEWAY/openai/v1" gpt-5 "use exec_command to list the files here"
    codex_run "$GATEWAY/openai/v1" gpt-5.5 "use apply_patch to add hello.txt"
    ls -l hello.txt && rm hello.txt
  fi
fi

if installed gemini; then
  echo "=== Gemini CLI $(HOME=$SCRATCH timeout 30 gemini --version 2>/dev/null)"
  mkdir -p "$SCRATCH/gemini/.gemini"
  cat >"$SCRATCH/gemini/.gemini/settings.json" <<'EOF'
{
  "security": {"auth": {"selectedType": "gemini-api-key"}},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "general": {"disableAutoUpdate": true}
}
EOF
  prompts=("say hi")
  [ -n "$TOOLS" ] && prompts+=("use list_directory to list the files here")
  for prompt in "${prompts[@]}"; do
    echo "--- $prompt"
    env -i "${base_env[@]}" HOME="$SCRATCH/gemini" GEMINI_API_KEY="$KEY" GOOGLE_GEMINI_BASE_URL="$GATEWAY/gemini" \
      timeout 120 gemini --skip-trust -p "$prompt" </dev/null
    echo "rc=$?"
  done
fi
echo "scratch: $SCRATCH"
