// Package embed holds callbox's static files, compiled into the binary:
// the web app, the admin console and the browser SDK. It only
// embeds; ui/ serves.
package embed

import (
	"embed"
	"io/fs"
)

//go:embed all:web
var files embed.FS

//go:embed sdk
var sdk embed.FS

//go:embed all:admin
var admin embed.FS

// Web is the web app's file tree, rooted at its index.html.
func Web() fs.FS { return sub(files, "web") }

// Admin is the admin console's file tree, served under /admin/.
func Admin() fs.FS { return sub(admin, "admin") }

// SDK is the browser SDK's tree (docs/sdk.md): parts/*.js, the fragments
// of /sdk/trtc-calling.js, and trtc-calling.mjs.
func SDK() fs.FS { return sub(sdk, "sdk") }

func sub(f embed.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is compiled in; this cannot fail
	}
	return s
}
