-- API tokens (hub/auth). Before this migration hub/auth created the table
-- itself, so it may exist already: IF NOT EXISTS keeps those databases as
-- they are.
CREATE TABLE IF NOT EXISTS api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);

-- One live token per name, so the actor in the audit log is unambiguous;
-- a revoked name can be issued again.
CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_live_name ON api_tokens (name) WHERE revoked_at = 0;
