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
// found by fuzzy matching. Truth.Score scores a resolution against it
// (internal/app/quickstart.ReadCustomers reads the customer records as the
// quickstart maps them, for scoring a resolver in-process). The package
// imports nothing of the hub's: the hub that runs on these systems is
// started by internal/app/demohub.
//
// Rule of evidence: a record that is the same entity as another shares at
// least one piece of evidence besides the name with an earlier record of
// that entity, so each entity's records are connected by evidence. Evidence
// is an address (the ERP and the finance export always carry one, each
// written its own way: "Hauptstr. 5" / "Hauptstraße 5"), an e-mail address,
// a phone number, a tax id or the ERP customer number. E-mail and phone may
// be noisy: in another case or format (equal once normalized), or mistyped
// by one letter of the e-mail's local part (dropped, doubled, swapped with
// its neighbour) or one of the last five digits of the number (changed, or
// two neighbours swapped). Fields stay missing as often as before; a CRM
// contact (the CRM has no addresses) that the other draws left without a
// shared piece gets one, drawn from a random stream of its own so that
// every other record is what it was. A name alone is never evidence:
// at 20,000 people namesakes are common.
//
// Invariant: different real entities never share a normalized e-mail, an
// E.164 phone number or a tax id, so a deterministic matcher that merges on
// those keys can never merge two real entities. A mistyped e-mail or number
// is never another entity's either.
package demo
