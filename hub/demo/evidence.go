package demo

import (
	"slices"
	"strings"
)

// The ground truth's rule of evidence: a record that is the same real
// entity as another record shares at least one piece of evidence besides
// the name with an earlier record of that entity, so each entity's records
// are connected by evidence. Pieces of evidence are an address (the ERP
// and the finance export always carry one, each system writing it its own
// way: "Hauptstr." / "Hauptstraße"), an e-mail address, a phone number, a
// tax id and the ERP customer number. E-mail and phone may be noisy: in
// another case or format (still equal once normalized), or mistyped by one
// letter of the e-mail's local part or one of the last five digits of the
// phone number (not equal, only near). A name alone is never evidence:
// namesakes are common.
//
// The CRM is the only system without addresses, so its contacts are the
// records that need another piece. corroborate adds one where the draws of
// the record left none.

// corroborate gives the CRM contact r, just drawn, a piece of evidence
// shared with an earlier record of its entity if it has none: a mistyped
// e-mail address or phone number that an earlier record carries (the only
// kind a fuzzy case gets: its contact stays out of the deterministic keys),
// or for the others that e-mail address or number in another case or
// format, or the ERP customer number. A firm's employee never needs one:
// its duplicate contacts share the work e-mail address.
func (w *world) corroborate(e *entity, r *custRec) {
	var earlier []*custRec
	for _, o := range e.recs {
		if o != r {
			earlier = append(earlier, o)
		}
	}
	if len(earlier) == 0 || e.kind == 'E' || sharesKey(r, earlier) {
		return
	}
	main := w.rng
	w.rng = w.ev // every draw below, variants included, comes from the evidence stream
	defer func() { w.rng = main }()

	var emails []string
	var phones []phoneNum
	seen := map[string]bool{}
	for _, o := range earlier {
		for _, k := range o.keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			switch {
			case strings.HasPrefix(k, "e:"):
				emails = append(emails, k[2:])
			case strings.HasPrefix(k, "p:"):
				if p, ok := e.phoneByE164(k[2:]); ok {
					phones = append(phones, p)
				}
			}
		}
	}
	erp := e.erp != nil && e.erp != r
	const (
		typoEmail = iota
		typoPhone
		sameEmail
		samePhone
		erpNumber
	)
	weights := []int{30, 20, 20, 15, 15}
	if e.fuzzy {
		weights = []int{60, 40, 0, 0, 0}
	}
	if len(emails) == 0 {
		weights[typoEmail], weights[sameEmail] = 0, 0
	}
	if len(phones) == 0 {
		weights[typoPhone], weights[samePhone] = 0, 0
	}
	if !erp {
		weights[erpNumber] = 0
	}
	if weights[0]+weights[1]+weights[2]+weights[3]+weights[4] == 0 {
		if erp {
			weights[erpNumber] = 1
		} else {
			// No earlier record has an e-mail, a phone or an ERP number to
			// share: the earliest learns one of this contact's.
			w.shareBack(e, earlier[0], r)
			return
		}
	}
	switch w.weighted(weights...) {
	case typoEmail:
		a := w.pick(emails)
		if t, ok := w.emailTypo(a); ok {
			w.setEmail(r, w.emailVariant(t), "")
			return
		}
		w.setEmail(r, w.emailVariant(a), a)
	case sameEmail:
		a := w.pick(emails)
		w.setEmail(r, w.emailVariant(a), a)
	case typoPhone:
		p := phones[w.rng.IntN(len(phones))]
		if t, ok := w.phoneTypo(p); ok {
			w.setPhone(e, r, p, w.phoneVariant(t), "")
			return
		}
		w.setPhone(e, r, p, w.phoneVariant(p), p.e164())
	case samePhone:
		p := phones[w.rng.IntN(len(phones))]
		w.setPhone(e, r, p, w.phoneVariant(p), p.e164())
	case erpNumber:
		r.f["erp_customer_no"] = "=" + e.id
		r.keys = append(r.keys, "x:erp:"+e.id)
	}
}

// sharesKey reports whether r shares a strong key with one of others (an
// ERP record's key is its own number, which a reference to it shares).
func sharesKey(r *custRec, others []*custRec) bool {
	for _, o := range others {
		for _, k := range o.keys {
			if slices.Contains(r.keys, k) {
				return true
			}
		}
	}
	return false
}

func (e *entity) phoneByE164(n string) (phoneNum, bool) {
	for _, p := range e.phones {
		if p.sub != "" && p.e164() == n {
			return p, true
		}
	}
	return phoneNum{}, false
}

// setEmail writes the CRM contact's (only) e-mail field; key is the
// normalized address when it is one another record carries, "" for a
// mistyped one.
func (w *world) setEmail(r *custRec, value, key string) {
	if old := r.f["email"]; old != "" {
		r.keys = dropKey(r.keys, "e:"+normalizeEmail(old))
	}
	r.f["email"] = value
	if key != "" {
		r.keys = append(r.keys, "e:"+key)
	}
}

// setPhone writes a number into the CRM contact's phone field if it is
// the entity's landline, else into the mobile field, replacing what was
// there; key is the E.164 number when it is one another record carries.
func (w *world) setPhone(e *entity, r *custRec, p phoneNum, value, key string) {
	field := "mobile"
	if landline, ok := e.phone(0); ok && landline == p {
		field = "phone"
	}
	if old := r.f[field]; old != "" {
		for _, q := range e.phones {
			if q.sub != "" && w.formats(q, old) {
				r.keys = dropKey(r.keys, "p:"+q.e164())
			}
		}
	}
	r.f[field] = value
	if key != "" {
		r.keys = append(r.keys, "p:"+key)
	}
}

// formats reports whether value is p written in one of phoneVariant's
// formats: the digits of p's national number end value's digits.
func (w *world) formats(p phoneNum, value string) bool {
	var d strings.Builder
	for i := 0; i < len(value); i++ {
		if value[i] >= '0' && value[i] <= '9' {
			d.WriteByte(value[i])
		}
	}
	return strings.HasSuffix(d.String(), p.ndc+p.sub)
}

// shareBack makes from, an earlier record with neither e-mail nor phone,
// and the contact r share one: the contact's e-mail address or phone
// number, else the entity's, else a mobile number the entity gets now
// (a customer without any is asked for one).
func (w *world) shareBack(e *entity, from, r *custRec) {
	for _, k := range r.keys {
		switch {
		case strings.HasPrefix(k, "e:"):
			from.f["email"] = w.emailVariant(k[2:])
			from.keys = append(from.keys, k)
			return
		case strings.HasPrefix(k, "p:"):
			if p, ok := e.phoneByE164(k[2:]); ok {
				from.f["phone"] = w.phoneVariant(p)
				from.keys = append(from.keys, k)
				return
			}
		}
	}
	for _, a := range e.emails {
		if a != "" {
			from.f["email"] = w.emailVariant(a)
			from.keys = append(from.keys, "e:"+a)
			w.setEmail(r, w.emailVariant(a), a)
			return
		}
	}
	var p phoneNum
	for _, q := range e.phones {
		if q.sub != "" {
			p = q
			break
		}
	}
	if p.sub == "" {
		p = w.newPhone(e.country, e.place, true)
		e.phones = append(e.phones, p)
	}
	from.f["phone"] = w.phoneVariant(p)
	from.keys = append(from.keys, "p:"+p.e164())
	w.setPhone(e, r, p, w.phoneVariant(p), p.e164())
}

func dropKey(keys []string, k string) []string {
	out := keys[:0]
	for _, x := range keys {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }

// emailTypo mistypes one letter of the address's local part: a letter
// dropped (oeztuerk -> oztuerk), doubled or swapped with its neighbour.
// Digits, dots and the domain stay as they are. ok is false when no typo
// gives an address no entity holds.
func (w *world) emailTypo(addr string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	local, dom := addr[:at], addr[at:]
	for try := 0; try < 20; try++ {
		i := w.rng.IntN(len(local))
		if !isLetter(local[i]) {
			continue
		}
		var t string
		switch w.rng.IntN(3) {
		case 0:
			if len(local) < 5 {
				continue
			}
			t = local[:i] + local[i+1:]
		case 1:
			t = local[:i+1] + local[i:]
		default:
			if i+1 >= len(local) || !isLetter(local[i+1]) || local[i] == local[i+1] {
				continue
			}
			t = local[:i] + string(local[i+1]) + string(local[i]) + local[i+2:]
		}
		cand := t + dom
		if !w.usedEmail[cand] {
			w.usedEmail[cand] = true // no other entity may draw it later
			return cand, true
		}
	}
	return "", false
}

// phoneTypo mistypes one of the last five digits of the number: another
// digit, or two neighbours swapped. ok is false when no typo gives a
// number no entity holds.
func (w *world) phoneTypo(p phoneNum) (phoneNum, bool) {
	for try := 0; try < 20; try++ {
		sub := []byte(p.sub)
		if w.rng.IntN(2) == 0 {
			i := len(sub) - 1 - w.rng.IntN(5)
			sub[i] = byte('0' + (int(sub[i]-'0')+1+w.rng.IntN(9))%10)
		} else {
			i := len(sub) - 1 - w.rng.IntN(4) // swaps i-1 and i, both among the last five
			if sub[i-1] == sub[i] {
				continue
			}
			sub[i-1], sub[i] = sub[i], sub[i-1]
		}
		if sub[0] < '2' {
			continue
		}
		t := p
		t.sub = string(sub)
		if !w.usedPhone[t.e164()] {
			w.usedPhone[t.e164()] = true
			return t, true
		}
	}
	return phoneNum{}, false
}
