// Package auth keeps the API tokens of the hub: who may call the HTTP API
// and with which scopes. A token is shown once, when it is created; the
// database holds only its SHA-256 hash (the secret is 32 random bytes, so a
// fast hash is enough: there is nothing to brute-force). Tokens live in the
// hub's own store database (table api_tokens), so every hub instance on the
// same database sees a new or revoked token at once; nothing is cached. The
// table comes with the store's migrations (hub/store, 0019_api_tokens): the
// store is opened on a database before its tokens are.
//
//	tokens, err := auth.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, auth.Options{})
//	secret, tok, err := tokens.Create(ctx, "erp-sync", []auth.Scope{auth.ScopeFinance})
//	tok, err = tokens.Verify(ctx, secret) // auth.ErrInvalidToken if unknown or revoked
package auth
