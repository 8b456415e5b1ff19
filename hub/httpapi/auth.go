package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/crmhub/crmhub/hub/auth"
)

// CodeUnauthenticated answers a request without a valid token (401).
const CodeUnauthenticated = "unauthenticated"

// TokenVerifier checks an API token; *auth.Store implements it. It returns
// auth.ErrInvalidToken for a token that is unknown or revoked.
type TokenVerifier interface {
	Verify(ctx context.Context, secret string) (auth.Token, error)
}

var _ TokenVerifier = (*auth.Store)(nil)

type tokenKey struct{}

// TokenFrom returns the token a request was authenticated with; false
// when authentication is off or the route is public.
func TokenFrom(ctx context.Context) (auth.Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(auth.Token)
	return t, ok
}

// guard wraps a route with authentication and the route's scope check
// (scopes.go). Without Options.Auth every route is open: tests, and hubs
// whose config turns auth off behind their own gateway.
func (a *api) guard(pattern string, h http.Handler) http.Handler {
	need := accessOf(pattern)
	if a.opts.Auth == nil || need == accessPublic {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crmhub"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "an API token is required: Authorization: Bearer <token>")
			return
		}
		tok, err := a.opts.Auth.Verify(r.Context(), secret)
		if errors.Is(err, auth.ErrInvalidToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crmhub", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "the API token is invalid or revoked")
			return
		}
		if err != nil {
			// Fail closed: without the token store nobody is let in.
			a.log.ErrorContext(r.Context(), "token check failed", "pattern", pattern, "err", err)
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "cannot check the API token now; retry")
			return
		}
		if !allows(tok.Scopes, need) {
			writeError(w, http.StatusForbidden, CodeForbidden, "this route needs scope "+need.String())
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	})
}

// bearer reads "Authorization: Bearer <token>". Tokens in query strings
// are refused on purpose: they end up in access logs.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// visibility is what the caller may see of a customer.
func (a *api) visibility(r *http.Request) visibility {
	if a.opts.Auth == nil {
		return fullVisibility
	}
	tok, _ := TokenFrom(r.Context())
	return visibilityOf(tok.Scopes)
}
