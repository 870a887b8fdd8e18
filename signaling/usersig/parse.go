package usersig

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
)

// parsed is a token that passed parsing; nothing in it is trusted yet.
type parsed struct {
	sdkappid   uint32
	identifier string
	time       int64
	expire     int64
	mac        []byte
	userbuf64  *string // canonical base64 of TLS.userbuf, nil when absent
	userbuf    []byte
}

// wireToken is the JSON of spec §1 as received. Numbers are kept raw so
// that only plain non-negative integers are accepted: every official
// library (Go, PHP intval, Node Number) writes them as JSON numbers.
type wireToken struct {
	Ver        *string         `json:"TLS.ver"`
	Identifier *string         `json:"TLS.identifier"`
	SDKAppID   json.RawMessage `json:"TLS.sdkappid"`
	Expire     json.RawMessage `json:"TLS.expire"`
	Time       json.RawMessage `json:"TLS.time"`
	Sig        *string         `json:"TLS.sig"`
	UserBuf    *string         `json:"TLS.userbuf"`
}

// parse decodes a sig: base64 (Tencent alphabet) -> zlib -> JSON.
// Every failure is ErrMalformed (70003).
func parse(sig string) (parsed, error) {
	if sig == "" {
		return parsed{}, fail(ErrMalformed, "empty", nil)
	}
	if len(sig) > maxSigLen {
		return parsed{}, fail(ErrMalformed, fmt.Sprintf("longer than %d characters", maxSigLen), nil)
	}
	raw, err := decodeToken(sig)
	if err != nil {
		return parsed{}, fail(ErrMalformed, "base64 decode", err)
	}
	doc, err := inflate(raw)
	if err != nil {
		return parsed{}, err
	}
	var w wireToken
	if err := json.Unmarshal(doc, &w); err != nil {
		return parsed{}, fail(ErrMalformed, "decode JSON", err)
	}
	return w.check()
}

// decodeToken accepts the token with or without its '_' padding, as the
// Node and PHP libraries do.
func decodeToken(s string) ([]byte, error) {
	if len(s)%4 != 0 {
		return tokenEncodingRaw.DecodeString(s)
	}
	return tokenEncoding.DecodeString(s)
}

// inflaters recycles zlib readers: a fresh one costs about 40 KiB, far
// more than the rest of Verify.
var inflaters sync.Pool

// inflate decompresses a zlib stream of at most maxDocLen bytes, checksum
// included (reading to EOF makes the zlib reader verify it).
func inflate(raw []byte) ([]byte, error) {
	src := bytes.NewReader(raw)
	var zr io.ReadCloser
	if v, ok := inflaters.Get().(io.ReadCloser); ok {
		zr = v
		if err := zr.(zlib.Resetter).Reset(src, nil); err != nil {
			inflaters.Put(zr)
			return nil, fail(ErrMalformed, "decompress", err)
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(src); err != nil {
			return nil, fail(ErrMalformed, "decompress", err)
		}
	}
	defer inflaters.Put(zr)
	doc, err := io.ReadAll(io.LimitReader(zr, maxDocLen+1))
	if err != nil {
		return nil, fail(ErrMalformed, "decompress", err)
	}
	if len(doc) > maxDocLen {
		return nil, fail(ErrMalformed, fmt.Sprintf("decompresses to more than %d bytes", maxDocLen), nil)
	}
	return doc, nil
}

func (w *wireToken) check() (parsed, error) {
	var p parsed
	if w.Ver == nil || *w.Ver != version {
		return p, fail(ErrMalformed, `TLS.ver is not "2.0"`, nil)
	}
	if w.Identifier == nil {
		return p, fail(ErrMalformed, "TLS.identifier missing", nil)
	}
	p.identifier = *w.Identifier
	app, err := number(w.SDKAppID, "TLS.sdkappid", math.MaxUint32)
	if err != nil {
		return p, err
	}
	p.sdkappid = uint32(app)
	t, err := number(w.Time, "TLS.time", maxTime)
	if err != nil {
		return p, err
	}
	p.time = int64(t)
	exp, err := number(w.Expire, "TLS.expire", maxExpire)
	if err != nil {
		return p, err
	}
	p.expire = int64(exp)
	if w.Sig == nil {
		return p, fail(ErrMalformed, "TLS.sig missing", nil)
	}
	if p.mac, err = strictStd.DecodeString(*w.Sig); err != nil {
		return p, fail(ErrMalformed, "TLS.sig", err)
	}
	if w.UserBuf != nil {
		if p.userbuf, err = strictStd.DecodeString(*w.UserBuf); err != nil {
			return p, fail(ErrMalformed, "TLS.userbuf", err)
		}
		if p.userbuf == nil {
			p.userbuf = []byte{}
		}
		// The HMAC covers the canonical encoding, as the official Go
		// library computes it (the decoder skips stray newlines).
		canon := base64.StdEncoding.EncodeToString(p.userbuf)
		p.userbuf64 = &canon
	}
	return p, nil
}

// number parses a JSON number that must be an integer in [0, limit].
func number(raw json.RawMessage, name string, limit uint64) (uint64, error) {
	if len(raw) == 0 {
		return 0, fail(ErrMalformed, name+" missing", nil)
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fail(ErrMalformed, name+" is not a non-negative integer", nil)
	}
	if n > limit {
		return 0, fail(ErrMalformed, fmt.Sprintf("%s %d out of range", name, n), nil)
	}
	return n, nil
}
