package appliance

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Two checks keep other web pages away from the server. The WebSocket
// Origin check (signaling, with the patterns ParseOrigin makes) stops a
// page on another site from opening /ws in its visitor's browser. The Host
// check (checkHost) stops DNS rebinding: a page on evil.example whose name
// is made to resolve to 127.0.0.1 is same-origin with a `--dev` server on
// that address, so no Origin check applies, but its requests still say
// Host: evil.example.

// ParseOrigin checks an allowed browser origin as the Origin header spells
// it, scheme://host[:port] with scheme http or https (a leading "*." in
// the host allows every subdomain of the rest), and returns the pattern
// signaling's Origin check matches against "scheme://host[:port]" of a
// request's Origin (path.Match syntax, case-insensitive). The scheme is
// kept, and a default port dropped as browsers drop it.
func ParseOrigin(origin string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("invalid --allowed-origin %q: %s; want an origin like https://app.example.com", origin, why)
	}
	u, err := url.Parse(origin)
	if err != nil {
		return bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	defaultPort := map[string]string{"http": "80", "https": "443"}[scheme]
	if defaultPort == "" {
		return bad("the scheme must be http or https")
	}
	if u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return bad("an origin has no user, path, query or fragment")
	}
	host := strings.ToLower(u.Hostname())
	name, wild := strings.CutPrefix(host, "*.")
	if name == "" || strings.ContainsAny(name, `*?[]\`) {
		return bad("bad host")
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		if wild {
			return bad("a wildcard needs a domain name")
		}
		if ip.Is6() {
			name = `\[` + name + `\]` // brackets are a character class in path.Match
		}
	}
	if wild {
		name = "*." + name
	}
	if p := u.Port(); p != "" && p != defaultPort {
		name += ":" + p
	}
	return scheme + "://" + name, nil
}

// originPatterns turns Config.AllowedOrigins into signaling's patterns.
func originPatterns(origins []string) ([]string, error) {
	var out []string
	for _, o := range origins {
		p, err := ParseOrigin(o)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// checkHost answers 421 Misdirected Request to a request whose Host is not
// a name this server answers to (hostAllowed), on every route.
func (a *Appliance) checkHost(h http.Handler) http.Handler {
	names := make(map[string]bool, len(a.cfg.AllowedHosts))
	for _, n := range a.cfg.AllowedHosts {
		names[normalHost(n)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, names) {
			a.log.Debug("request for another host refused", "host", clip(r.Host), "remote", r.RemoteAddr)
			http.Error(w, "misdirected request: this server does not answer to this host name; "+
				"start it with --allowed-host NAME to add one", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether hostport (a request's Host, any port) names
// this server in a way a rebinding page cannot: an IP literal, localhost
// or a subdomain of it (browsers resolve those to loopback themselves), or
// one of names. An empty Host (HTTP/1.0 without one) carries no name to
// rebind and is allowed.
func hostAllowed(hostport string, names map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = normalHost(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || names[host]
}

// normalHost is a host name lower-cased, without the root's trailing dot.
func normalHost(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// clip bounds client input in a log line.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
