package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"callbox/signaling/call/record"
	"callbox/store"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func openTemp(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), store.FileName)
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestOpenRefusesSecondProcess(t *testing.T) {
	s, path := openTemp(t)
	_, err := store.Open(path, store.Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: got %v, want ErrLocked", err)
	}
	if want := "callbox is already running on this data directory"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not say %q", err, want)
	}
	s.Close()
	s2, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	foreignBolt := filepath.Join(dir, "other.db")
	db, err := bolt.Open(foreignBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// A bbolt file of ours claiming a schema from the future.
	future := filepath.Join(dir, "future.db")
	s, err := store.Open(future, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err = bolt.Open(future, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, 999))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// One of ours cut short (a bad copy, a full disk): bbolt would fault
	// on the pages its header counts but the file lacks.
	whole := filepath.Join(dir, "whole.db")
	s, err = store.Open(whole, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	wholeBytes, err := os.ReadFile(whole)
	if err != nil || len(wholeBytes) < 3*8192 {
		t.Fatalf("a new store is %d bytes (%v); the truncation case needs three pages of 4 KiB past the headers", len(wholeBytes), err)
	}

	corrupt := make([]byte, 16384)
	copy(corrupt, "this is not a database")
	tests := []struct {
		name    string
		path    string
		content []byte // nil: keep the file as made above
		want    error
	}{
		{"text file", filepath.Join(dir, "text.db"), []byte("hello, world\n"), store.ErrForeign},
		{"short file", filepath.Join(dir, "short.db"), []byte{1, 2, 3}, store.ErrForeign},
		{"zeroed pages", filepath.Join(dir, "zero.db"), corrupt, store.ErrForeign},
		{"someone else's bbolt", foreignBolt, nil, store.ErrForeign},
		{"newer schema", future, nil, store.ErrTooNew},
		{"truncated", filepath.Join(dir, "cut.db"), wholeBytes[:3*4096], store.ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.content != nil {
				if err := os.WriteFile(tc.path, tc.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(tc.path)
			_, err := store.Open(tc.path, store.Options{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			after, _ := os.ReadFile(tc.path)
			if !bytes.Equal(before, after) {
				t.Errorf("a failed open changed the file")
			}
		})
	}
}

func TestAppsPersistAcrossReopen(t *testing.T) {
	s, path := openTemp(t)
	seen := map[uint32]bool{}
	var apps []store.App
	for range 20 {
		a, err := s.CreateApp("team", t0)
		if err != nil {
			t.Fatal(err)
		}
		if a.SDKAppID < store.MinSDKAppID || a.SDKAppID > store.MaxSDKAppID || seen[a.SDKAppID] {
			t.Fatalf("bad or duplicate SDKAppID %d", a.SDKAppID)
		}
		if len(a.Key) != 64 {
			t.Fatalf("key %q is not 64 hex chars", a.Key)
		}
		seen[a.SDKAppID] = true
		apps = append(apps, a)
	}
	s.Close()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key, err := s.AppKey(apps[3].SDKAppID)
	if err != nil || key != apps[3].Key {
		t.Fatalf("AppKey after reopen = %q, %v; want %q", key, err, apps[3].Key)
	}
	err = s.Update(func(tx *store.Tx) error { return tx.DeleteApp(apps[0].SDKAppID) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AppKey(apps[0].SDKAppID)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted app: got %v, want ErrNotFound", err)
	}
	err = s.Update(func(tx *store.Tx) error { return tx.DeleteApp(apps[0].SDKAppID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
	must(t, s.View(func(tx *store.Tx) error {
		all, err := tx.Apps()
		if err != nil || len(all) != 19 {
			t.Errorf("Apps() = %d, %v; want 19", len(all), err)
		}
		return nil
	}))
}

func call(app uint32, id string, start time.Time, state string, users ...string) record.Call {
	rec := record.Call{SDKAppID: app, CallID: id, RoomID: "1", RoomIDType: 1, MediaType: "video",
		CallType: "single", Caller: users[0], State: state, StartAt: start}
	for i, u := range users {
		role := "callee"
		if i == 0 {
			role = "caller"
		}
		rec.Participants = append(rec.Participants, record.Participant{UserID: u, Role: role, State: record.PartJoined, JoinedAt: start})
	}
	if state == record.CallEnded {
		rec.Result = record.ResultNormalEnd
	}
	return rec
}

func ids(recs []record.Call) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.CallID)
	}
	return out
}

func TestCallIndexes(t *testing.T) {
	s, path := openTemp(t)
	err := s.Update(func(tx *store.Tx) error {
		for _, r := range []record.Call{
			call(1400000001, "c1", t0, record.CallEnded, "alice", "bob"),
			call(1400000001, "c2", t0.Add(time.Minute), record.CallEnded, "bob", "carol"),
			call(1400000001, "c3", t0.Add(2*time.Minute), record.CallActive, "alice", "carol"),
			call(1400000002, "c4", t0.Add(3*time.Minute), record.CallRinging, "alice", "dave"),
		} {
			if err := tx.PutCall(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    store.CallFilter
		want []string
	}{
		{"all newest first", store.CallFilter{}, []string{"c4", "c3", "c2", "c1"}},
		{"by app", store.CallFilter{SDKAppID: 1400000001}, []string{"c3", "c2", "c1"}},
		{"by user", store.CallFilter{SDKAppID: 1400000001, User: "alice"}, []string{"c3", "c1"}},
		{"user in other app", store.CallFilter{SDKAppID: 1400000002, User: "alice"}, []string{"c4"}},
		{"user prefix is not a match", store.CallFilter{SDKAppID: 1400000001, User: "ali"}, nil},
		{"since", store.CallFilter{Since: t0.Add(time.Minute)}, []string{"c4", "c3", "c2"}},
		{"until exclusive", store.CallFilter{Until: t0.Add(2 * time.Minute)}, []string{"c2", "c1"}},
		{"limit", store.CallFilter{Limit: 2}, []string{"c4", "c3"}},
		{"result", store.CallFilter{Result: record.ResultNormalEnd}, []string{"c2", "c1"}},
	}
	must(t, s.View(func(tx *store.Tx) error {
		for _, tc := range tests {
			got, err := tx.Calls(tc.f)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if g := ids(got); !equal(g, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, g, tc.want)
			}
		}
		live, _ := tx.LiveCalls()
		if len(live) != 2 {
			t.Errorf("live calls = %v, want c3 and c4", ids(live))
		}
		return nil
	}))

	// Live calls found after a reopen can be ended, durably.
	s.Close()
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var closed []record.Call
	must(t, s.Update(func(tx *store.Tx) error {
		if closed, err = tx.LiveCalls(); err != nil {
			return err
		}
		for _, rec := range closed {
			rec.State, rec.Result, rec.EndAt = record.CallEnded, record.ResultInterrupt, t0.Add(time.Hour)
			rec.Participants[0].Interrupted = true
			if err := tx.PutCall(rec); err != nil {
				return err
			}
		}
		return nil
	}))
	if len(closed) != 2 {
		t.Fatalf("ended %v, want 2 calls", ids(closed))
	}
	must(t, s.View(func(tx *store.Tx) error {
		rec, err := tx.Call(1400000002, "c4")
		if err != nil || rec.State != record.CallEnded || rec.Result != record.ResultInterrupt || !rec.Participants[0].Interrupted {
			t.Errorf("c4 after restart = %+v, %v", rec, err)
		}
		if live, _ := tx.LiveCalls(); len(live) != 0 {
			t.Errorf("still live: %v", ids(live))
		}
		if _, err := tx.Call(1400000002, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing call: %v", err)
		}
		return nil
	}))
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOutboxSequenceSurvivesReopen(t *testing.T) {
	s, path := openTemp(t)
	appendN := func(n int) []uint64 {
		var seqs []uint64
		must(t, s.Update(func(tx *store.Tx) error {
			for range n {
				seq, err := tx.AppendOutbox(store.OutboxEntry{SDKAppID: 1, Command: "caller_start_call", Body: []byte(`{}`)})
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
			}
			return nil
		}))
		return seqs
	}
	first := appendN(3)
	must(t, s.Update(func(tx *store.Tx) error { return tx.DeleteOutbox(first[2]) }))
	s.Close()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	second := appendN(2)
	if second[0] <= first[2] {
		t.Fatalf("sequence went back: %v then %v", first, second)
	}
	must(t, s.View(func(tx *store.Tx) error {
		got, _ := tx.Outbox(first[0], 0)
		if len(got) != 3 || got[0].Seq != first[1] || got[1].Seq != second[0] {
			t.Errorf("outbox after %d = %+v", first[0], got)
		}
		return nil
	}))
}

// A failed transaction leaves nothing behind: record and outbox go together.
func TestUpdateIsAtomic(t *testing.T) {
	s, _ := openTemp(t)
	boom := errors.New("boom")
	err := s.Update(func(tx *store.Tx) error {
		if err := tx.PutCall(call(1, "c1", t0, record.CallActive, "a", "b")); err != nil {
			return err
		}
		if _, err := tx.AppendOutbox(store.OutboxEntry{SDKAppID: 1, Command: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	must(t, s.View(func(tx *store.Tx) error {
		if _, err := tx.Call(1, "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record survived a rolled-back transaction")
		}
		if out, _ := tx.Outbox(0, 0); len(out) != 0 {
			t.Errorf("outbox survived a rolled-back transaction")
		}
		return nil
	}))
}

func TestBackupIsAUsableDatabase(t *testing.T) {
	s, _ := openTemp(t)
	a, err := s.CreateApp("x", t0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(context.Background(), &buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if key, err := r.AppKey(a.SDKAppID); err != nil || key != a.Key {
		t.Fatalf("restored key = %q, %v", key, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Backup(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v", err)
	}
}

func TestSettings(t *testing.T) {
	s, _ := openTemp(t)
	must(t, s.Update(func(tx *store.Tx) error {
		if _, err := tx.Setting("turn_secret"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing setting: %v", err)
		}
		return tx.PutSetting("turn_secret", []byte("north"))
	}))
	must(t, s.View(func(tx *store.Tx) error {
		v, err := tx.Setting("turn_secret")
		if err != nil || string(v) != "north" {
			t.Errorf("setting = %q, %v", v, err)
		}
		return nil
	}))
}

// must fails the test on a store error: a View or Update whose error is
// dropped would let a broken store pass.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
