package identity

import (
	"strings"

	"github.com/crmhub/crmhub/hub"
)

// Tax-id veto settings (Config.TaxIDVeto): whose differing tax ids keep
// two records apart whatever else they share.
const (
	VetoOrganizations = "organizations" // default: a firm's tax id is authoritative
	VetoAll           = "all"           // persons' tax ids veto too (the behaviour before identifiers were evidence)
	VetoNone          = "none"          // tax ids are evidence only
)

// IDEvidence is what two records' person identifiers say about the pair.
type IDEvidence int

// Identifier comparison levels, from no evidence to strong evidence for.
const (
	IDNone   IDEvidence = iota // no scheme both records carry
	IDDiffer                   // clearly different values: strong evidence against
	IDNear                     // one edit apart (a typo or a different person): weak evidence against
	IDEqual                    // the same value: strong evidence for
)

// IDWeights sets how much identifier evidence moves a fuzzy score (0..1).
// Defaults: an equal identifier lifts the score to at least 0.5 + 0.5 x
// the name similarity (so a similar name with the same national id
// merges without an address), one edit apart subtracts 0.04, clearly
// different subtracts 0.15 and never auto-merges: the pair then reaches
// review, visibly, instead of being vetoed silently.
type IDWeights struct {
	EqualFloor float64 // default 0.5
	NearPenalty,
	DifferPenalty float64 // defaults 0.04 and 0.15
}

func (w *IDWeights) defaults() {
	if w.EqualFloor == 0 {
		w.EqualFloor = 0.5
	}
	if w.NearPenalty == 0 {
		w.NearPenalty = 0.04
	}
	if w.DifferPenalty == 0 {
		w.DifferPenalty = 0.15
	}
}

// normID reduces an identifier to letters and digits, upper-cased:
// "12 345 678-9" and "123456789" are one value.
func normID(v string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(v) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// personIDs returns a person's identifiers by scheme ("ssn", "DE|steuer_id"
// when the country is known), values normalized; a person's tax id counts
// as scheme "tax_id" unless tax ids veto for persons (then it is a veto,
// not evidence).
func personIDs(c hub.Customer, taxIsEvidence bool) map[string][]string {
	out := map[string][]string{}
	for _, id := range c.Identifiers {
		if v := normID(id.Value); v != "" && id.Scheme != "" {
			s := strings.ToLower(id.Scheme)
			out[s] = append(out[s], v)
		}
	}
	if taxIsEvidence {
		if v := NormalizeTaxID(c.TaxID); v != "" {
			out["tax_id"] = append(out["tax_id"], v)
		}
	}
	return out
}

// compareIDs compares the identifiers of two persons scheme by scheme.
// An equal value in any scheme wins (systems keep stale second ids);
// otherwise the weakest disagreement found is reported: one edit apart
// before clearly different, as a typo is the likelier story.
func compareIDs(a, b hub.Customer, taxIsEvidence bool) IDEvidence {
	return compareIDSets(idSets(personIDs(a, taxIsEvidence)), idSets(personIDs(b, taxIsEvidence)))
}

// idSet is one scheme's identifiers of a person.
type idSet struct {
	scheme string
	values []string
}

// idSets are personIDs as a list: a person has one or two schemes, and
// walking a map per pair compared cost a tenth of the estimate.
func idSets(ids map[string][]string) []idSet {
	var out []idSet
	for s, vs := range ids {
		out = append(out, idSet{s, vs})
	}
	return out
}

// compareIDSets is compareIDs of two persons' identifiers (idSets).
func compareIDSets(ia, ib []idSet) IDEvidence {
	ev := IDNone
	for _, a := range ia {
		var ys []string
		for _, b := range ib {
			if b.scheme == a.scheme {
				ys = b.values
			}
		}
		for _, x := range a.values {
			for _, y := range ys {
				switch {
				case x == y:
					return IDEqual
				case oneEditApart(x, y, func(byte) bool { return true }):
					ev = max(ev, IDNear)
				default:
					ev = max(ev, IDDiffer)
				}
			}
		}
	}
	return ev
}

// idBlockKeys are the blocking keys of a person's identifiers: records
// with the same national id are compared whatever their names and
// addresses say.
func idBlockKeys(c hub.Customer, taxIsEvidence bool) []string {
	var keys []string
	for s, vs := range personIDs(c, taxIsEvidence) {
		for _, v := range vs {
			keys = append(keys, "id:"+s+":"+v)
		}
	}
	return keys
}
