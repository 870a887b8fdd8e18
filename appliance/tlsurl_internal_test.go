package appliance

import "testing"

// TestPublicURLWithTLS: with HTTPS on, invite links and the like default
// to https:// on the domain or the HTTPS address.
func TestPublicURLWithTLS(t *testing.T) {
	for _, tc := range []struct {
		tls  TLSConfig
		want string
	}{
		{TLSConfig{Domain: "call.example.com"}, "https://call.example.com"},
		{TLSConfig{Domain: "call.example.com", HTTPSAddr: ":8443"}, "https://call.example.com:8443"},
		{TLSConfig{SelfSigned: true, HTTPSAddr: "192.168.1.5:443"}, "https://192.168.1.5"},
		{TLSConfig{CertFile: "c", KeyFile: "k", HTTPSAddr: "0.0.0.0:8443"}, "https://localhost:8443"},
	} {
		cfg := Config{HTTPAddr: "127.0.0.1:8080", TLS: tc.tls}.withDefaults()
		if got := cfg.publicURL(); got != tc.want {
			t.Errorf("%+v: publicURL %q, want %q", tc.tls, got, tc.want)
		}
	}
}
