// Package demohub starts a whole hub (internal/app/server) on generated demo systems
// with the quickstart configuration: `crmhub demo`, `crmhub bench` and the
// end-to-end tests use it. It lives next to the wiring because it is
// wiring; the generator itself (hub/demo) imports nothing of the hub's.
package demohub
