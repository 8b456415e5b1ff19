package hub

// Topic names. The prefix comes from config (kafka.topic_prefix).
type Topics struct{ Prefix string }

// Canonical is the topic of one canonical entity, e.g. crmhub.customer.v1.
func (t Topics) Canonical(entity string) string {
	return t.Prefix + "." + entity + "." + SchemaVersion
}

// AllCanonical lists the canonical topics in entity order.
func (t Topics) AllCanonical() []string {
	out := make([]string, 0, len(Entities))
	for _, e := range Entities {
		out = append(out, t.Canonical(e))
	}
	return out
}

// DeadLetter is the topic of records that could not go on.
func (t Topics) DeadLetter() string { return t.Prefix + ".deadletter" }

// GoldenChanges is the compacted topic of golden-customer states, keyed by golden id.
func (t Topics) GoldenChanges() string { return t.Prefix + ".golden.customer" }
