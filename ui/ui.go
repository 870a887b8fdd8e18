// Package ui serves callbox's browser-facing files: the web app at /, the
// browser SDK at /sdk/ (and later the admin console at /admin). It serves
// what embed/ compiled in and holds no call or media logic.
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
	return handler(embed.Web(), sdk)
}

func handler(web fs.FS, sdk map[string]sdkFile) http.Handler {
	static := http.FileServerFS(web)
	sdkH := sdkHandler(sdk)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sdk/") {
			sdkH.ServeHTTP(w, r)
			return
		}
		// The app changes with every release; make browsers revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
}
