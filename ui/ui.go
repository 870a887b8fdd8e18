// Package ui serves callbox's browser-facing files: the web app at / (and
// its invite-link entry /join), the browser SDK at /sdk/ and the admin
// console at /admin/. It serves what embed/ compiled in and holds no call
// or media logic; the admin console's JSON API is the appliance's.
package ui

import (
	"io/fs"
	"net/http"
	"strings"

	"callbox/embed"
)

// New returns the handler for the web app's static files and the SDK.
func New() http.Handler {
	sdk, err := sdkFiles(embed.SDK())
	if err != nil {
		panic("ui: " + err.Error()) // the files are compiled in; a test builds them
	}
	return handler(embed.Web(), embed.Admin(), sdk)
}

func handler(web, admin fs.FS, sdk map[string]sdkFile) http.Handler {
	static := http.FileServerFS(web)
	console := http.StripPrefix("/admin", http.FileServerFS(admin))
	sdkH := sdkHandler(sdk)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sdk/") {
			sdkH.ServeHTTP(w, r)
			return
		}
		// The app changes with every release; make browsers revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == "/admin":
			http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/admin/"):
			console.ServeHTTP(w, r)
		case r.URL.Path == "/join":
			// An invite link: the app's page reads the sig from the
			// URL fragment, which never reaches the server or its logs.
			http.ServeFileFS(w, r, web, "index.html")
		default:
			static.ServeHTTP(w, r)
		}
	})
}
