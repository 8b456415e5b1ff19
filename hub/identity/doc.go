// Package identity decides which source customer records are the same real
// customer and what the golden record says. It is pure Go, without SQL, so
// the store (hub/store) can call it inside its transaction and tests can
// exercise it directly.
//
// Matching is deterministic: each source record yields match keys
// (normalized e-mail, E.164 phone, tax id, cross references), records that
// share a key are candidates, and Cluster groups a set of records by a rule
// set that depends only on the set, never on arrival order: keys are
// processed in a fixed order, a person never joins an organization, and
// organizations with different non-empty tax ids never join
// (Config.TaxIDVeto) unless the ids are one typo apart (a character
// changed or two swapped: one id mistyped). Under the person model an
// e-mail or phone shared by two persons is evidence, not a join: spouses
// share a mailbox, a household its landline, employees a switchboard; the
// model decides whether they are one person (join), doubtful (review) or
// two (apart), and only a record with no name and no birth date joins on
// the key alone (contactVerdicts). A person's identifiers (national id, passport, and
// the tax id where it does not veto) are evidence in the fuzzy score: an
// equal one for, one edit apart weakly against, clearly different
// strongly against (the pair then reaches review, never auto-merges).
// With fuzzy matching on (FuzzyConfig), records sharing a blocking key (several rules,
// unioned: postal code with the phonetic family name or the given name,
// birth date, person identifier, Double Metaphone and Kölner Phonetik of
// the family name with the given initial and swapped, street and house
// number; oversized blocks are skipped and counted) are scored. Persons
// by a Fellegi-Sunter model (fs.go): comparison levels with m and u
// probabilities, summed as match weights into a match probability, with
// the patterns where relatives look alike held for review; the model is
// estimated from the records without labels by Estimate (estimate.go).
// Organizations by name and corroborating evidence: the address, or where
// one record has none an e-mail address or phone number one typo apart; a
// name alone neither merges nor reaches the review queue. A fuzzy link
// never joins two customers that each have addresses and share no postal
// code, unless it is a person link whose two records both have addresses
// (the model has weighed them: a move is evidence, not a veto).
//
// The golden id is derived from the smallest source-record key of a
// cluster, so replaying a stream from the start rebuilds the same ids.
//
// Survive computes the golden record: per field, a configured source
// priority or else the most recent non-empty value; e-mails, phones,
// addresses and external ids are unioned. Lineage records which source
// record and rule produced each golden field.
//
// Over a store (stored.go), Recluster decides what a batch changes: the
// component of stored records connected to it, the clusters, survivorship
// and which old golden ids merge or retire; Relink scores the records just
// written against their blocks. The store answers and persists through
// ResolveStore and LinkStore, declared here, and decides nothing.
package identity
