package signaling_test

import (
	"encoding/json"
	"errors"
	"testing"

	"callbox/signaling"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		id     uint64
		typ    string
		data   string
		failID uint64 // id echoed on failure
		fail   bool
	}{
		{name: "full", in: `{"id":7,"type":"call","data":{"userID":"b"}}`, id: 7, typ: "call", data: `{"userID":"b"}`},
		{name: "no id", in: `{"type":"ping"}`, typ: "ping"},
		{name: "null data", in: `{"id":1,"type":"ping","data":null}`, id: 1, typ: "ping"},
		{name: "spaces", in: " \n{\"id\":2,\"type\":\"x\"} \n", id: 2, typ: "x"},
		{name: "empty", in: ``, fail: true},
		{name: "array", in: `[]`, fail: true},
		{name: "null", in: `null`, fail: true},
		{name: "truncated", in: `{"id":1,`, fail: true},
		{name: "trailing", in: `{"id":1,"type":"a"}{}`, fail: true},
		{name: "float id", in: `{"id":1.5,"type":"a"}`, fail: true},
		{name: "string id", in: `{"id":"1","type":"a"}`, fail: true},
		{name: "huge id", in: `{"id":1e30,"type":"a"}`, fail: true},
		{name: "no type", in: `{"id":9}`, fail: true, failID: 9},
		{name: "data string", in: `{"id":9,"type":"a","data":"x"}`, fail: true, failID: 9},
		{name: "number type", in: `{"id":9,"type":7}`, fail: true, failID: 9},
		// Keys match exactly, as in JSON.parse: "ID" is not the id.
		{name: "other case", in: `{"id":10,"type":"ping","data":null,"ID":1,"Type":"x","DATA":{}}`, id: 10, typ: "ping"},
		{name: "only other case", in: `{"ID":1,"TYPE":"ping"}`, fail: true},
		{name: "repeated key", in: `{"id":10,"type":"ping","id":11}`, id: 11, typ: "ping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := signaling.DecodeRequest([]byte(tt.in))
			if tt.fail {
				var e *signaling.Error
				if !errors.As(err, &e) || e.Code != signaling.CodeBadRequest {
					t.Fatalf("err %v, want code 4000", err)
				}
				if req.ID != tt.failID {
					t.Fatalf("id %d, want %d", req.ID, tt.failID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.ID != tt.id || req.Type != tt.typ || string(req.Data) != tt.data {
				t.Fatalf("got %+v", req)
			}
		})
	}
}

// FuzzDecode: the decoder never panics, fails only with code 4000, and
// what it accepts has a type and object-or-absent data.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"type":"login","data":{"sdkappid":1400000000,"userID":"a","userSig":"x"}}`,
		`{"id":2,"type":"groupCall","data":{"userIDList":["a","b"],"type":2}}`,
		`{"type":"ping"}`, `{"id":-1}`, `[`, `{"id":1e99,"type":1}`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := signaling.DecodeRequest(b)
		if err != nil {
			var e *signaling.Error
			if !errors.As(err, &e) || e.Code != signaling.CodeBadRequest {
				t.Fatalf("error %v is not a 4000", err)
			}
			return
		}
		if req.Type == "" {
			t.Fatal("accepted a request without type")
		}
		if req.Data != nil {
			var m map[string]json.RawMessage
			if json.Unmarshal(req.Data, &m) != nil {
				t.Fatalf("data %q is not an object", req.Data)
			}
		}
	})
}
