package appliance

import "testing"

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://call.example.com", "https://call.example.com"},
		{"https://call.example.com/", "https://call.example.com"},
		{"http://10.0.0.2:8080/callbox/", "http://10.0.0.2:8080/callbox"},
	} {
		if got, err := ParsePublicURL(tc.in); err != nil || got != tc.want {
			t.Errorf("ParsePublicURL(%q) = %q, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "call.example.com", "ftp://x", "https://", "https://u:p@x", "https://x/?a=1", "https://x/#f", "https://x/?", "http://[::1"} {
		if got, err := ParsePublicURL(bad); err == nil {
			t.Errorf("ParsePublicURL(%q) = %q, want an error", bad, got)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{HTTPAddr: ":8080"}, "http://localhost:8080"},
		{Config{HTTPAddr: "0.0.0.0:80"}, "http://localhost:80"},
		{Config{HTTPAddr: "[::]:8080"}, "http://localhost:8080"},
		{Config{HTTPAddr: "192.168.1.5:8080"}, "http://192.168.1.5:8080"},
		{Config{HTTPAddr: ":8080", PublicURL: "https://call.example.com"}, "https://call.example.com"},
	} {
		if got := tc.cfg.publicURL(); got != tc.want {
			t.Errorf("%+v: publicURL %q, want %q", tc.cfg, got, tc.want)
		}
	}
}
