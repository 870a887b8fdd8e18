// Package ui serves callbox's browser-facing files: the web app at / (and
// later the admin console at /admin and the SDK at /sdk/). It serves what
// embed/ compiled in and holds no call or media logic.
package ui

import (
	"io/fs"
	"net/http"

	"callbox/embed"
)

// New returns the handler for the web app's static files.
func New() http.Handler {
	return handler(embed.Web())
}

func handler(files fs.FS) http.Handler {
	static := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The app changes with every release; make browsers revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
}
