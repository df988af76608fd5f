#include "supervisor/config/templates.hpp"

namespace fence::supervisor {
namespace {

constexpr std::string_view kCode = R"jsonc({
  // For AI coding agents (Claude Code, Codex, Cursor, OpenCode, Amp...): the project is
  // writable, the model APIs, git hosts and package registries are reachable, credentials are
  // unreadable, and commands that publish or rewrite shared history are refused.
  // Agents drive interactive tools through pseudo-terminals.
  "allowPty": true,

  "network": {
    // Only names an agent's work needs: model APIs and agent backends, git hosting, the package
    // registries of the common languages. Everything else is refused by the proxy.
    "allowedDomains": [
      "api.anthropic.com", "*.anthropic.com", "claude.ai",
      "api.openai.com", "*.openai.com", "chatgpt.com",
      "generativelanguage.googleapis.com", "aiplatform.googleapis.com", "oauth2.googleapis.com",
      "api.mistral.ai", "api.cohere.com", "api.together.xyz", "openrouter.ai",
      "api.deepseek.com", "api.x.ai", "api.groq.com",
      "opencode.ai", "*.opencode.ai", "models.dev", "ampcode.com", "*.ampcode.com",
      "*.cursor.sh", "*.cursor.com", "*.factory.ai", "api.githubcopilot.com",
      "*.githubcopilot.com", "*.charm.sh",
      "github.com", "api.github.com", "codeload.github.com", "objects.githubusercontent.com",
      "raw.githubusercontent.com", "gitlab.com", "registry.gitlab.com", "bitbucket.org",
      "registry.npmjs.org", "registry.yarnpkg.com", "repo.yarnpkg.com",
      "pypi.org", "files.pythonhosted.org",
      "crates.io", "index.crates.io", "static.crates.io",
      "proxy.golang.org", "sum.golang.org", "storage.googleapis.com",
      "rubygems.org", "formulae.brew.sh", "ghcr.io"
    ],
    // Cloud metadata services (instance credentials) and agent telemetry: refused even when a
    // wider rule, here or in a file extending this one, would allow them.
    "deniedDomains": [
      "169.254.169.254", "metadata.google.internal", "instance-data.ec2.internal",
      "statsig.anthropic.com", "*.sentry.io"
    ]
  },

  "filesystem": {
    // The project, the package caches and the agents' own state. A missing entry may be
    // created by the command (a fresh machine has no ~/.npm yet). Not ~/.config or
    // ~/.local/share as a whole: they hold other programs' startup files (git, shells, editors).
    "allowWrite": [
      ".",
      "~/.npm", "~/.cache/npm", "~/.yarn", "~/.cache/yarn", "~/.local/share/pnpm",
      "~/.cache/pip", "~/.cache/uv", "~/.cargo/registry", "~/.cargo/git", "~/go/pkg/mod",
      "~/.cache/go-build", "~/.bun/install/cache",
      "~/.claude", "~/.claude.json", "~/.codex", "~/.cursor", "~/.gemini", "~/.factory",
      "~/.config/opencode", "~/.local/share/opencode", "~/.local/state/opencode",
      "~/.config/amp", "~/.local/share/amp", "~/.cache/opencode"
    ],
    // Secrets in the project stay read-only wherever they are (checked by name at any depth,
    // so no tree walk at start-up).
    "denyWrite": ["**/.env", "**/.env.*", "**/*.key", "**/*.pem", "**/*.p12", "**/*.pfx"],
    // Credentials of the user's other tools: hidden.
    "denyRead": [
      "~/.ssh", "~/.gnupg", "~/.aws", "~/.azure", "~/.config/gcloud", "~/.kube",
      "~/.docker/config.json", "~/.pypirc", "~/.netrc", "~/.git-credentials",
      "~/.cargo/credentials", "~/.cargo/credentials.toml", "~/.config/gh/hosts.yml"
    ]
  },

  "command": {
    // What an agent must not do on the user's behalf without asking: publish packages, push
    // or rewrite shared history, act on GitHub as the user, or become root.
    "deny": [
      "git push", "git reset --hard", "git clean", "git checkout --", "git rebase", "git merge",
      "npm publish", "pnpm publish", "yarn publish", "yarn npm publish", "bun publish",
      "cargo publish", "twine upload", "gem push", "sudo", "su", "doas",
      "gh api", "gh auth", "gh pr create", "gh pr merge", "gh pr close", "gh pr edit",
      "gh pr comment", "gh pr review", "gh issue create", "gh issue close", "gh issue edit",
      "gh issue comment", "gh release create", "gh release delete", "gh repo create",
      "gh repo delete", "gh repo edit", "gh secret", "gh variable", "gh workflow run"
    ]
  }
})jsonc";

constexpr std::string_view kCodeRelaxed = R"jsonc({
  // Like "code", for agents whose tools ignore HTTP_PROXY: every public destination through
  // fence's proxies ("*"), still SSRF-guarded, audited, and deniedDomains still refused.
  "extends": "code",
  "network": {
    "allowedDomains": ["*"]
  }
})jsonc";

constexpr std::string_view kCodeStrict = R"jsonc({
  // Like "code", but reads are denied by default too: the agent reads the project, the system,
  // its own state and the toolchains, not the rest of $HOME.
  "extends": "code",
  "filesystem": {
    "defaultDenyRead": true,
    // The project and the agents' configuration and caches.
    "allowRead": [
      ".", "~/.claude", "~/.claude.json", "~/.codex", "~/.cursor", "~/.gemini", "~/.factory",
      "~/.config", "~/.cache", "~/.gitconfig"
    ]
  }
})jsonc";

constexpr std::string_view kLocalDevServer = R"jsonc({
  // A development server and its tests: the project writable, and the host's own loopback
  // services (a database, another dev server) reachable through the proxy.
  "network": {
    // Servers inside the sandbox always listen; this is what upstream's files say.
    "allowLocalBinding": true,
    // The host's 127.0.0.1 / ::1 through the proxy (allowLocalOutboundPorts for programs
    // that ignore the proxy variables).
    "allowLocalOutbound": true
  },
  "filesystem": {
    "allowWrite": ["."]
  }
})jsonc";

constexpr std::string_view kGitReadonly = R"jsonc({
  // Work in a checkout without touching its history: the files are writable, .git is not,
  // and the commands that rewrite or publish history are refused.
  "filesystem": {
    "allowWrite": ["."],
    "denyWrite": [".git"]
  },
  "command": {
    "deny": [
      "git push", "git reset", "git clean", "git checkout --", "git rebase", "git merge",
      "git commit", "git stash", "git tag", "git branch -D", "rm -rf"
    ]
  }
})jsonc";

constexpr std::string_view kDisableTelemetry = R"jsonc({
  // Any destination but the analytics and error-reporting services: for tools that work
  // online and report home.
  "allowPty": true,
  "network": {
    "allowedDomains": ["*"],
    // Analytics, crash reporting and feature-flag telemetry endpoints.
    "deniedDomains": [
      "*.sentry.io", "sentry.io", "*.ingest.sentry.io",
      "*.posthog.com", "posthog.com",
      "*.statsig.com", "statsig.anthropic.com", "featuregates.org", "*.featuregates.org",
      "*.segment.io", "*.segment.com", "api.segment.io",
      "*.mixpanel.com", "*.amplitude.com", "*.heap.io", "*.heapanalytics.com",
      "*.bugsnag.com", "*.rollbar.com", "*.honeybadger.io",
      "*.datadoghq.com", "*.datadoghq.eu", "browser-intake-datadoghq.com",
      "*.newrelic.com", "*.nr-data.net",
      "*.launchdarkly.com", "*.optimizely.com",
      "*.hotjar.com", "*.fullstory.com", "*.logrocket.com", "*.logrocket.io",
      "*.google-analytics.com", "*.googletagmanager.com", "*.doubleclick.net",
      "*.appcenter.ms", "*.app-measurement.com", "firebaselogging.googleapis.com",
      "telemetry.individual.githubcopilot.com", "dc.services.visualstudio.com",
      "*.applicationinsights.azure.com", "*.events.data.microsoft.com"
    ]
  },
  "filesystem": {
    // The same writable set as "code".
    "allowWrite": [
      ".", "~/.npm", "~/.cache", "~/.yarn", "~/.local/share/pnpm", "~/.cargo/registry",
      "~/.cargo/git", "~/go/pkg/mod", "~/.claude", "~/.claude.json", "~/.codex", "~/.cursor",
      "~/.gemini", "~/.config/opencode", "~/.local/share/opencode"
    ]
  }
})jsonc";

constexpr std::string_view kHermes = R"jsonc({
  // Like "code", for the Hermes agent: its messaging platforms, search, memory and speech
  // services are reachable, and its own state and workspace are writable.
  "extends": "code",
  "network": {
    "allowedDomains": [
      "api.telegram.org", "discord.com", "*.discord.com", "gateway.discord.gg",
      "slack.com", "*.slack.com", "api.twilio.com", "graph.facebook.com", "matrix.org",
      "*.matrix.org", "api.search.brave.com", "api.tavily.com", "serpapi.com", "api.exa.ai",
      "api.firecrawl.dev", "api.honcho.dev", "api.elevenlabs.io", "api.fish.audio",
      "api.nousresearch.com", "inference-api.nousresearch.com"
    ]
  },
  "filesystem": {
    "allowWrite": ["~/.hermes", "~/hermes-workspace"]
  }
})jsonc";

constexpr std::string_view kNpmInstall = R"jsonc({
  // `npm install` / `yarn` / `pnpm install` in an unfamiliar repository: the registries and
  // git hosts for dependencies, the project and the package caches writable, no publishing.
  "network": {
    "allowedDomains": [
      "registry.npmjs.org", "registry.yarnpkg.com", "repo.yarnpkg.com",
      "github.com", "codeload.github.com", "objects.githubusercontent.com", "gitlab.com",
      "nodejs.org"
    ]
  },
  "filesystem": {
    // node_modules in the project; npm's, yarn's and pnpm's caches (created if missing);
    // node-gyp's headers.
    "allowWrite": [
      ".", "~/.npm", "~/.cache/npm", "~/.yarn", "~/.cache/yarn", "~/.local/share/pnpm",
      "~/.cache/node-gyp"
    ],
    // Install scripts have no business with the user's credentials.
    "denyRead": ["~/.ssh", "~/.gnupg", "~/.aws", "~/.config/gh/hosts.yml", "~/.git-credentials"]
  },
  "command": {
    "deny": ["npm publish", "yarn publish", "yarn npm publish", "pnpm publish", "git push"]
  }
})jsonc";

constexpr std::string_view kPipInstall = R"jsonc({
  // `pip install` / `uv pip install` / `poetry install`: the Python package index and git
  // hosts, the project (virtual environments) and the caches writable, no uploads.
  "network": {
    "allowedDomains": [
      "pypi.org", "files.pythonhosted.org", "github.com", "codeload.github.com",
      "objects.githubusercontent.com", "gitlab.com"
    ]
  },
  "filesystem": {
    "allowWrite": [".", "~/.cache/pip", "~/.cache/uv", "~/.cache/pypoetry"],
    // Build backends run arbitrary code: the user's credentials stay hidden.
    "denyRead": ["~/.ssh", "~/.gnupg", "~/.aws", "~/.pypirc", "~/.netrc", "~/.git-credentials"]
  },
  "command": {
    "deny": ["twine upload", "poetry publish", "uv publish", "git push"]
  }
})jsonc";

}  // namespace

const std::vector<PolicyTemplate>& builtin_templates() {
  static const std::vector<PolicyTemplate> kTemplates = {
      {"code", "AI coding agents: project writable, model APIs/git/registries, secrets hidden",
       kCode},
      {"code-relaxed", "Like code, with every public destination reachable through the proxy",
       kCodeRelaxed},
      {"code-strict", "Like code, with reads denied outside the project and agent state",
       kCodeStrict},
      {"local-dev-server", "Dev servers: project writable, the host's loopback services reachable",
       kLocalDevServer},
      {"git-readonly", "Edit a checkout without changing its history (.git read-only)",
       kGitReadonly},
      {"disable-telemetry", "Any destination except analytics and error-reporting services",
       kDisableTelemetry},
      {"hermes", "Like code, plus the Hermes agent's messaging and search services", kHermes},
      {"npm-install", "npm/yarn/pnpm install: registries, project and caches writable",
       kNpmInstall},
      {"pip-install", "pip/uv/poetry install: PyPI, project and caches writable", kPipInstall},
  };
  return kTemplates;
}

const PolicyTemplate* find_template(std::string_view name) {
  if (name.ends_with(".jsonc"))
    name.remove_suffix(6);
  else if (name.ends_with(".json"))
    name.remove_suffix(5);
  for (const PolicyTemplate& t : builtin_templates())
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace fence::supervisor
