// Package embed holds callbox's static files, compiled into the binary:
// the web app (and later the admin console and the browser SDK). It only
// embeds; ui/ serves.
package embed

import (
	"embed"
	"io/fs"
)

//go:embed all:web
var files embed.FS

// Web is the web app's file tree, rooted at its index.html.
func Web() fs.FS {
	sub, err := fs.Sub(files, "web")
	if err != nil {
		panic(err) // the directory is compiled in; this cannot fail
	}
	return sub
}
