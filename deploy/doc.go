// Package deploy holds what crmhub ships to run it: the quickstart
// configuration `crmhub demo` starts from (embedded, see Quickstart), and
// next to it the Docker, Helm and systemd files.
package deploy
