package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/crmhub/crmhub/internal/placeholder"
)

// Sentinel errors callers test for.
var (
	// ErrInvalidToken: the presented token is malformed, unknown or
	// revoked. Callers answer 401 and do not say which.
	ErrInvalidToken = errors.New("invalid token")
	ErrNotFound     = errors.New("token not found")
	ErrInvalid      = errors.New("invalid input")
	ErrConflict     = errors.New("conflict")
)

// TokenPrefix starts every token, so secret scanners and people can tell
// a crmhub token from other strings.
const TokenPrefix = "crmhub_"

// usedEvery throttles the last_used_at write: a busy client would
// otherwise turn every read into a write.
const usedEvery = time.Minute

// Token is what the database knows about a token: never the secret.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"` // also the actor of steward actions
	Scopes    []Scope   `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Has reports whether the token carries scope s.
func (t Token) Has(s Scope) bool {
	for _, x := range t.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Options configure a Store.
type Options struct {
	// Registerer receives crmhub_auth_verifications_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Store keeps tokens in table api_tokens of the hub's database.
type Store struct {
	db       *sql.DB
	pg       bool
	log      *slog.Logger
	now      func() time.Time
	verified *prometheus.CounterVec
}

// Open connects to the hub's store database (driver as in the config:
// sqlite, postgres or pgx), which the store's migrations have set up
// (ErrNoTable otherwise).
func Open(ctx context.Context, driver, dsn string, opts Options) (*Store, error) {
	s := &Store{log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	switch driver {
	case "sqlite":
		s.db, err = sql.Open("sqlite", sqliteDSN(dsn))
		if err == nil {
			s.db.SetMaxOpenConns(2)
		}
	case "postgres", "pgx":
		s.pg = true
		s.db, err = sql.Open("pgx", dsn)
		if err == nil {
			s.db.SetMaxOpenConns(4)
		}
	default:
		return nil, fmt.Errorf("open token store: unknown driver %q (want sqlite or postgres)", driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open token store (%s): %w", driver, err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open token store (%s): %w", driver, err)
	}
	if err := s.checkTable(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open token store (%s): %w", driver, err)
	}
	s.verified = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmhub_auth_verifications_total",
		Help: "API token checks by result (ok, invalid, revoked, error).",
	}, []string{"result"})
	for _, r := range []string{"ok", "invalid", "revoked", "error"} {
		s.verified.WithLabelValues(r)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.verified); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("register auth metrics: %w", err)
		}
	}
	return s, nil
}

func sqliteDSN(dsn string) string {
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// The hub's store holds the single writer; wait for it, never fail busy.
	return dsn + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

// ErrNoTable is returned by Open when the database has no api_tokens
// table: the hub's store migrations create it (0019_api_tokens), so the
// store is opened (hub/store.Open) on the database first.
var ErrNoTable = errors.New("no api_tokens table: open the hub's store on this database first (its migrations create it)")

// checkTable makes a database the store never migrated fail at Open, not
// at the first request.
func (s *Store) checkTable(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM api_tokens LIMIT 1) AS t`).Scan(&n); err != nil {
		return fmt.Errorf("%w: %v", ErrNoTable, err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites "?" placeholders to "$n" for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	return placeholder.Dollar(query)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$`)

// Hash is what the database stores for a token: hex SHA-256.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Create issues a token and returns its secret, which is not stored and
// cannot be shown again. ErrConflict if a live token has that name.
func (s *Store) Create(ctx context.Context, name string, scopes []Scope) (string, Token, error) {
	if !nameRE.MatchString(name) {
		return "", Token{}, fmt.Errorf("%w: token name %q: want 1-100 letters, digits, '.', '_', '@' or '-'", ErrInvalid, name)
	}
	var list []string
	for _, sc := range scopes {
		list = append(list, string(sc))
	}
	parsed, err := ParseScopes(strings.Join(list, ","))
	if err != nil {
		return "", Token{}, fmt.Errorf("token %s: %w", name, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("token %s: random: %w", name, err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", Token{}, fmt.Errorf("token %s: random: %w", name, err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{ID: hex.EncodeToString(id), Name: name, Scopes: parsed, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	var live int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM api_tokens WHERE name = ? AND revoked_at = 0`), name).Scan(&live); err != nil {
		return "", Token{}, fmt.Errorf("create token %s: %w", name, err)
	}
	if live > 0 {
		return "", Token{}, fmt.Errorf("%w: a live token named %q exists; revoke it first", ErrConflict, name)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO api_tokens (id, name, scopes, hash, created_at) VALUES (?, ?, ?, ?, ?)`),
		t.ID, t.Name, joinScopes(t.Scopes), Hash(secret), t.CreatedAt.UnixNano())
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unique") {
			return "", Token{}, fmt.Errorf("%w: a live token named %q exists; revoke it first", ErrConflict, name)
		}
		return "", Token{}, fmt.Errorf("create token %s: %w", name, err)
	}
	return secret, t, nil
}

// Verify returns the token a secret belongs to. ErrInvalidToken if the
// secret is malformed, unknown or revoked.
func (s *Store) Verify(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		s.verified.WithLabelValues("invalid").Inc()
		return Token{}, ErrInvalidToken
	}
	row := s.db.QueryRowContext(ctx, s.q(`SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_tokens WHERE hash = ?`), Hash(secret))
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		s.verified.WithLabelValues("invalid").Inc()
		return Token{}, ErrInvalidToken
	}
	if err != nil {
		s.verified.WithLabelValues("error").Inc()
		return Token{}, fmt.Errorf("verify token: %w", err)
	}
	if !t.RevokedAt.IsZero() {
		s.verified.WithLabelValues("revoked").Inc()
		return Token{}, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	s.verified.WithLabelValues("ok").Inc()
	now := s.now()
	if now.Sub(t.LastUsed) >= usedEvery {
		// Bookkeeping only: a failed write must not refuse a valid token.
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), now.UnixNano(), t.ID); err != nil {
			s.log.WarnContext(ctx, "token last-used update failed", "token_id", t.ID, "err", err)
		}
	}
	return t, nil
}

// List returns the tokens, oldest first; revoked ones only if asked.
func (s *Store) List(ctx context.Context, withRevoked bool) ([]Token, error) {
	query := `SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_tokens`
	if !withRevoked {
		query += ` WHERE revoked_at = 0`
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// Revoke revokes the live token with this id or name. ErrNotFound if none.
func (s *Store) Revoke(ctx context.Context, idOrName string) (Token, error) {
	var t Token
	row := s.db.QueryRowContext(ctx, s.q(`SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_tokens
WHERE (id = ? OR name = ?) AND revoked_at = 0`), idOrName, idOrName)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("%w: no live token with id or name %q", ErrNotFound, idOrName)
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", idOrName, err)
	}
	t.RevokedAt = s.now().UTC()
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE api_tokens SET revoked_at = ? WHERE id = ?`), t.RevokedAt.UnixNano(), t.ID); err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", idOrName, err)
	}
	return t, nil
}

type scanner interface{ Scan(dst ...any) error }

func scanToken(r scanner) (Token, error) {
	var t Token
	var scopes string
	var created, used, revoked int64
	if err := r.Scan(&t.ID, &t.Name, &scopes, &created, &used, &revoked); err != nil {
		return Token{}, err
	}
	for _, sc := range strings.Split(scopes, ",") {
		if sc != "" {
			t.Scopes = append(t.Scopes, Scope(sc))
		}
	}
	t.CreatedAt = fromNanos(created)
	t.LastUsed = fromNanos(used)
	t.RevokedAt = fromNanos(revoked)
	return t, nil
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
