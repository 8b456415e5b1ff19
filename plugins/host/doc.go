// Package host runs connectors for the hub: it knows the built-in connectors
// and discovers external plugin binaries (one folder with a manifest each),
// starts every configured instance in its own plugin process (or in-process
// for tests and development), and supervises it: a crashed plugin is
// restarted with exponential backoff and jitter and resumes at the last
// acknowledged position; after too many consecutive failures the instance
// is reported failed without touching the others. Pipeline code receives
// plain sdk.Source and sdk.Destination values and cannot tell which way a
// connector runs.
package host
