//go:build ignore

// gen_corpus writes the committed seed corpus of FuzzVerify. Run it from
// this directory with `go generate` (or `go run gen_corpus.go`). The app,
// key, user and times must match fuzz_test.go.
package main

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"callbox/signaling/usersig"
)

const (
	app  = 1400000000
	key  = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	user = "xiaojun"
	tm   = 1700000000
)

var enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-").WithPadding('_')

func deflate(doc string) string {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	zw.Write([]byte(doc))
	zw.Close()
	return enc.EncodeToString(b.Bytes())
}

func must(s string, err error) string {
	if err != nil {
		log.Fatal(err)
	}
	return s
}

func main() {
	issued := time.Unix(tm, 0)
	valid := must(usersig.Issue(app, key, user, 180*24*time.Hour, issued))
	doc := `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":%s,"TLS.expire":%s,"TLS.time":%s,"TLS.sig":"LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="}`
	seeds := map[string]string{
		"valid":           valid,
		"valid_userbuf":   must(usersig.IssueWithBuf(app, key, user, time.Hour, issued, []byte("\x00\x07xiaojun"))),
		"valid_unpadded":  strings.TrimRight(valid, "_"),
		"expired":         must(usersig.Issue(app, key, user, 10*time.Second, issued)),
		"other_user":      must(usersig.Issue(app, key, "xiaojun2", time.Hour, issued)),
		"other_app":       must(usersig.Issue(app+1, key, user, time.Hour, issued)),
		"other_key":       must(usersig.Issue(app, "other", user, time.Hour, issued)),
		"empty":           "",
		"truncated":       valid[:len(valid)/2],
		"bad_base64":      "eJyrVkrOz!!~",
		"std_base64":      strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(valid),
		"not_zlib":        enc.EncodeToString([]byte("hello, world")),
		"zlib_not_json":   deflate("hello, world"),
		"zlib_json_array": deflate(`[1,"TLS.ver"]`),
		"vector_doc":      deflate(fmt.Sprintf(doc, "1400000000", "15552000", "1700000000")),
		"huge_numbers":    deflate(fmt.Sprintf(doc, "99999999999999999999999", "1e400", "18446744073709551616")),
		"negative_time":   deflate(fmt.Sprintf(doc, "1400000000", "15552000", "-1700000000")),
		"string_numbers":  deflate(fmt.Sprintf(doc, `"1400000000"`, `"15552000"`, `"1700000000"`)),
		"float_expire":    deflate(fmt.Sprintf(doc, "1400000000", "15552000.5", "1700000000")),
		"zero_expire":     deflate(fmt.Sprintf(doc, "1400000000", "0", "0")),
		"null_fields":     deflate(`{"TLS.ver":null,"TLS.identifier":null,"TLS.sdkappid":null,"TLS.sig":null,"TLS.userbuf":null}`),
		"empty_userbuf":   deflate(strings.Replace(fmt.Sprintf(doc, "1400000000", "15552000", "1700000000"), "}", `,"TLS.userbuf":""}`, 1)),
		"zlib_bomb":       deflate(strings.Repeat(" ", 1<<17)),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	for name, s := range seeds {
		body := "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
