// Package jsonfast is the mapping engine's JSON codec: Decode and Marshal
// are the codec of record (encoding/json with integers as int, no HTML
// escaping), DecodeObject and Append are fast paths for the common,
// well-formed record that give up (ok false) whenever they are not sure to
// answer exactly as the codec of record does; the caller then uses it.
// Keys and KeyOrders are per-caller caches (field names and values, sorted
// key lists) that a caller reuses across records; they are not safe for
// concurrent use.
package jsonfast
