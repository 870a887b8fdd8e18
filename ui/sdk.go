package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"
)

// sdkFile is one file served under /sdk/.
type sdkFile struct {
	body []byte
	etag string
}

// sdkFiles builds the files under /sdk/ (docs/sdk.md) from the SDK tree:
// trtc-calling.js is the parts (parts/*.js, in name order) inside one
// function scope, so that a classic <script> and an ES module import both
// get one global, TRTCCalling, and nothing else; trtc-calling.mjs is
// served as it is.
func sdkFiles(tree fs.FS) (map[string]sdkFile, error) {
	parts, err := fs.Glob(tree, "parts/*.js")
	if err != nil || len(parts) == 0 {
		return nil, fmt.Errorf("sdk parts: %d found, err %v", len(parts), err)
	}
	sort.Strings(parts)
	var js bytes.Buffer
	js.WriteString("// callbox TRTCCalling SDK (docs/sdk.md). Built from embed/sdk/parts/ by the server.\n")
	js.WriteString("(function () {\n'use strict';\n")
	for _, p := range parts {
		b, err := fs.ReadFile(tree, p)
		if err != nil {
			return nil, fmt.Errorf("sdk part %s: %w", p, err)
		}
		fmt.Fprintf(&js, "\n// ---- %s ----\n", p)
		js.Write(b)
	}
	js.WriteString("})();\n")
	mjs, err := fs.ReadFile(tree, "trtc-calling.mjs")
	if err != nil {
		return nil, fmt.Errorf("sdk module: %w", err)
	}
	return map[string]sdkFile{
		"trtc-calling.js":  newSDKFile(js.Bytes()),
		"trtc-calling.mjs": newSDKFile(mjs),
	}, nil
}

func newSDKFile(b []byte) sdkFile {
	sum := sha256.Sum256(b)
	return sdkFile{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// sdkHandler serves /sdk/<name>. The URLs carry no version, so browsers
// revalidate every time (no-cache) and the ETag makes that a 304.
func sdkHandler(files map[string]sdkFile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[strings.TrimPrefix(r.URL.Path, "/sdk/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// A team's own app on another origin imports the module (and
		// the module the script) with CORS; the SDK is public.
		h.Set("Access-Control-Allow-Origin", "*")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}
