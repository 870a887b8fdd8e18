package appliance

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ParsePublicURL checks a base URL people reach the web app at (serve
// --public-url, user invite --url): http or https, a host, maybe a port
// and a path prefix, no query or fragment. It returns it without a
// trailing slash.
func ParsePublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("public URL %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("public URL %q: want http:// or https://", s)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("public URL %q: no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "", fmt.Errorf("public URL %q: no user, query or fragment allowed", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// publicURL is Config.PublicURL, or else the web address as a URL: the
// HTTP address, or with HTTPS the HTTPS address (its host the --domain
// when there is one, a default port left out), an unspecified host
// (":8080", "0.0.0.0:8080") as localhost.
func (c Config) publicURL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	scheme, addr := "http", c.HTTPAddr
	if c.TLS.On() {
		scheme, addr = "https", c.TLS.HTTPSAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if c.TLS.Domain != "" {
		host = c.TLS.Domain
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	if scheme == "https" && port == "443" {
		return "https://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
