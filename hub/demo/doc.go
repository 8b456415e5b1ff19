// Package demo simulates the back-office systems of a small German-speaking
// company for `crmhub demo`, the tests and the identity-quality benchmarks.
//
// Generate writes, deterministically for a seed, four systems into a
// directory: a legacy ERP (SQLite erp.db: customers, orders, order_lines), a
// finance export folder (finance/*.csv, ISO-8859-1, ';'-separated, decimal
// commas), a CRM (crm/contacts.json) and a service desk
// (servicedesk/tickets.json). NewServer serves the last two over HTTP with
// pagination, as the rest connector expects. The same real customer appears
// in two or three systems with the differences real systems have: name
// spelling and case, e-mail case, phone formats, missing fields and different
// ids. A few records are broken on purpose; the manifest counts them.
//
// truth.csv is the ground truth: which source customer records are the same
// real entity (a firm, a private person, or a firm's employee, who is never
// the firm). A record is deterministic when it is linked by a chain of strong
// keys (normalized e-mail, E.164 phone, tax id, explicit cross reference) to
// the largest such group of records of its entity; the others can only be
// found by fuzzy matching. Truth.Score scores a resolution against it.
//
// Invariant: different real entities never share a normalized e-mail, an
// E.164 phone number or a tax id, so a deterministic matcher that merges on
// those keys can never merge two real entities.
package demo
