package funcs

import (
	"testing"
)

// emailEdges are strings at the edges of emailRe (and of the schemas'
// e-mail pattern).
var emailEdges = []string{"a@b.de", "a@b.c", "a@b", "a@.de", "a@b.", "@b.de", "a@@b.de", "a@b@c.de", "a b@c.de", "a@b.d e", "a\t@b.de", "a@b..de", "a.b@c.de", "a.b@cde", "a@b.de\n", "ä@ö.de", "a@b.c.d", "a@.b.c", "a@b.\xff", "\xff@b.de", "a@\v.de",
	"a@b.de", "a@b.d", "a@b.", "a@.de", "@b.de", "a@b", "ab.de", "a@b.DE", "a@b.dE", "a@b.c.de", "a@b.c1", "a@b.de.",
	"a@@b.de", "a@b@c.de", "a b@c.de", "a<b@c.de", "a@c.de>", "a(b)@c.de", "a,b@c.de", "a;b@c.de", "a:b@c.de", "\"a\"@c.de", "[a]@c.de",
	"a@c.de\n", "a@c.de ", "\ta@c.de", "ä@ö.de", "a@ö.dé", "a@\xff.de", "a.@b.de", ".a@b.de", "a@b..de", "a@b.de\v", "a@-.de", "a@b.c.d", "a@.b.cd"}

// TestEmailAddressMatcher: email()'s matcher agrees with emailRe.
func TestEmailAddressMatcher(t *testing.T) {
	for _, s := range emailEdges {
		if got, want := matchEmailAddress(s), emailRe.MatchString(s); got != want {
			t.Errorf("%q: %v, emailRe %v", s, got, want)
		}
	}
}

// FuzzEmailAddressMatcher: any string, the same answer as emailRe.
func FuzzEmailAddressMatcher(f *testing.F) {
	for _, s := range emailEdges {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := matchEmailAddress(s), emailRe.MatchString(s); got != want {
			t.Fatalf("%q: %v, emailRe %v", s, got, want)
		}
	})
}
