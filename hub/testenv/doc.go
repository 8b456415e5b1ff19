// Package testenv gives tests the real services of the machine they run on
// (PostgreSQL, MariaDB), each test in its own schema or database. Where a
// service is not reachable the test is skipped with a clear message, except
// under CI=true or CRMHUB_REQUIRE_SERVICES=1, where it fails: CI must not
// pass by skipping.
package testenv
