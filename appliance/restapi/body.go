package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"
)

// Body limits: Tencent's requests are small; a larger body or a deeply
// nested one is refused before it is decoded.
const (
	MaxBody  = 1 << 20 // bytes
	MaxDepth = 16      // nesting of objects and arrays
)

// readBody reads the request body, at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, badParam("body over %d bytes", MaxBody)
	}
	if err != nil {
		return nil, badParam("read body: %v", err)
	}
	return b, nil
}

// decodeBody parses a command's body into v: one JSON object, valid
// UTF-8, nested at most MaxDepth deep, nothing after it. Unknown fields
// are ignored (a Tencent client may send fields callbox does not use); an
// empty body, or null, is an empty object. Values of the wrong type are refused.
func decodeBody(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		b = []byte("{}")
	}
	if len(b) > MaxBody {
		return badParam("body over %d bytes", MaxBody)
	}
	if b[0] != '{' {
		return badParam("body must be a JSON object")
	}
	if !utf8.Valid(b) {
		return badParam("body is not valid UTF-8")
	}
	if d := depth(b); d > MaxDepth {
		return badParam("body nested deeper than %d", MaxDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badParam("field %s: want %s", te.Field, te.Type)
		}
		return badParam("body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badParam("body has data after its JSON object")
	}
	return nil
}

// depth is the deepest nesting of objects and arrays in b, skipping
// strings (it does not validate; the decoder does).
func depth(b []byte) int {
	d, maxD := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			d++
			maxD = max(maxD, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return maxD
}
