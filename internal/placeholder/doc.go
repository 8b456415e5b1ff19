// Package placeholder rewrites the "?" parameters the hub's SQL is written
// with into PostgreSQL's "$1, $2, …": one rewriter for the store and the
// token store, whose statements hold no "?" inside literals.
package placeholder
