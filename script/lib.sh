# Shared by script/dev and script/test. Sourced, not run.

# The repository root, whatever the caller's directory.
CLEARING_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$CLEARING_ROOT/node_modules/.bin:$PATH"
export FOUNDRY_DISABLE_NIGHTLY_WARNING=1

step() { printf '\n==> %s\n' "$*"; }

# Commands to run when the calling script exits, in the order registered.
CLEARING_AT_EXIT=()
at_exit() { CLEARING_AT_EXIT+=("$1"); }
run_at_exit() { local command; for command in "${CLEARING_AT_EXIT[@]}"; do eval "$command"; done; }
trap run_at_exit EXIT

# Installs the pinned npm toolchain (forge, anvil, cast, solc-js, OpenZeppelin) when node_modules is missing or
# older than package-lock.json. npm ci reaches only the npm registry.
ensure_node_modules() {
  local stamp="$CLEARING_ROOT/node_modules/.clearing-lock.sha256"
  local want
  want="$(sha256sum "$CLEARING_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$CLEARING_ROOT/node_modules/.bin/forge" ]; then
    step "npm ci (toolchain: forge, anvil, cast, solc-js)"
    (cd "$CLEARING_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

# Finds a PostgreSQL for the tests: $DATABASE_URL if set, else the local server, else a private cluster in a
# temporary directory (stopped when the calling shell exits). Exports DATABASE_URL.
ensure_test_database() {
  if [ -n "${DATABASE_URL:-}" ]; then return; fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export DATABASE_URL="$local_url"
    return
  fi
  step "no PostgreSQL on 127.0.0.1:5432: starting a private cluster"
  # Globals, not locals: the exit hook runs after this function has returned.
  CLEARING_PG_BIN="$(pg_config --bindir 2>/dev/null || true)"
  [ -x "$CLEARING_PG_BIN/initdb" ] || CLEARING_PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -x "$CLEARING_PG_BIN/initdb" ] || { echo "PostgreSQL server binaries not found; set DATABASE_URL" >&2; exit 1; }
  CLEARING_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/clearing-test-pg.XXXXXX")"
  CLEARING_PG_AS=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$CLEARING_PG_DIR"; CLEARING_PG_AS=(runuser -u postgres --); fi
  "${CLEARING_PG_AS[@]}" "$CLEARING_PG_BIN/initdb" -D "$CLEARING_PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
  "${CLEARING_PG_AS[@]}" "$CLEARING_PG_BIN/pg_ctl" -D "$CLEARING_PG_DIR/data" -l "$CLEARING_PG_DIR/log" -w \
    -o "-p 54329 -k $CLEARING_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  at_exit '"${CLEARING_PG_AS[@]}" "$CLEARING_PG_BIN/pg_ctl" -D "$CLEARING_PG_DIR/data" -m fast stop >/dev/null; rm -rf "$CLEARING_PG_DIR"' 
  export DATABASE_URL="postgres://postgres@127.0.0.1:54329/postgres"
}
