package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"callbox/signaling/call/record"
	"callbox/store"
)

// grow writes n ended records with a kilobyte of UserData each.
func grow(t *testing.T, s *store.Store, n int) {
	t.Helper()
	err := s.Update(func(tx *store.Tx) error {
		for i := range n {
			start := t0.Add(time.Duration(i) * time.Second)
			rec := ended(1400000001, fmt.Sprintf("c%05d", i), start, start.Add(time.Minute), "alice", "bob")
			rec.UserData = strings.Repeat("x", 1024)
			if err := tx.PutCall(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompactShrinksAndKeepsEverything(t *testing.T) {
	s, path := openTemp(t)
	dir := filepath.Dir(path)
	app, err := s.CreateApp("team", t0)
	if err != nil {
		t.Fatal(err)
	}
	grow(t, s, 5000)
	// Prune all but the newest ten.
	err = s.Update(func(tx *store.Tx) error {
		_, err := tx.PruneCalls(t0.Add(4990*time.Second+time.Minute), 10000, store.PruneCursor{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := listCalls(t, s, store.CallFilter{SDKAppID: 1400000001, User: "bob"})
	if len(want) != 10 {
		t.Fatalf("%d records left, want 10", len(want))
	}

	// The server has the database open: nothing happens.
	before, _ := os.ReadFile(path)
	if _, err := store.Compact(path, ""); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("compact while open: %v, want ErrLocked", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("a refused compact changed the file")
	}
	s.Close()

	// To another file: the original stays as it is.
	out := filepath.Join(t.TempDir(), "copy.db")
	res, err := store.Compact(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != res.Before {
		t.Fatalf("compact --out changed %s: %d bytes, was %d", path, st.Size(), res.Before)
	}
	if _, err := store.Compact(path, out); !errors.Is(err, os.ErrExist) {
		t.Fatalf("compact onto an existing file: %v, want ErrExist", err)
	}

	// In place.
	res, err = store.Compact(path, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.After != st.Size() || res.After*4 > res.Before {
		t.Fatalf("compacted %d -> %d bytes (file %d), want at least 4x smaller", res.Before, res.After, st.Size())
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("compacted file mode %v, want 0600", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left beside the database: %v", entries)
	}
	for _, p := range []string{path, out} {
		s, err := store.Open(p, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Indexes hold empty values: they must survive the copy too.
		if got := listCalls(t, s, store.CallFilter{SDKAppID: 1400000001, User: "bob"}); !sameCalls(got, want) {
			t.Errorf("%s: records by user = %v, want %v", p, ids(got), ids(want))
		}
		if got := listCalls(t, s, store.CallFilter{}); !sameCalls(got, want) {
			t.Errorf("%s: records by time = %v, want %v", p, ids(got), ids(want))
		}
		if key, err := s.AppKey(app.SDKAppID); err != nil || key != app.Key {
			t.Errorf("%s: app key = %q, %v", p, key, err)
		}
		// Still writable, and the outbox sequence goes on.
		err = s.Update(func(tx *store.Tx) error {
			_, err := tx.AppendOutbox(store.OutboxEntry{SDKAppID: 1, Command: "x"})
			return err
		})
		if err != nil {
			t.Errorf("%s: write after compact: %v", p, err)
		}
		s.Close()
	}
	if _, err := store.Compact(filepath.Join(dir, "absent.db"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("compact a missing file: %v", err)
	}
}

func listCalls(t *testing.T, s *store.Store, f store.CallFilter) []record.Call {
	t.Helper()
	var recs []record.Call
	err := s.View(func(tx *store.Tx) error {
		var err error
		recs, err = tx.Calls(f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func sameCalls(a, b []record.Call) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].CallID != b[i].CallID || a[i].UserData != b[i].UserData || !a[i].EndAt.Equal(b[i].EndAt) {
			return false
		}
	}
	return true
}

// An Open waiting for the lock while Compact renames a new file over the
// path ends up on the new file, not the unlinked old one.
func TestOpenFollowsAReplacedFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("watches /proc/self/fd")
	}
	old, path := openTemp(t)
	if _, err := old.CreateApp("old", t0); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(filepath.Dir(path), "next.db")
	n, err := store.Open(next, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newApp, err := n.CreateApp("new", t0)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()

	opened := make(chan *store.Store, 1)
	go func() {
		s, err := store.Open(path, store.Options{LockTimeout: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	// Wait until the second Open has the old file open in bbolt, waiting
	// for its lock.
	oldFile, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); openCount(oldFile) < 2; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the second Open never opened the file")
		}
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s := <-opened
	if s == nil {
		return
	}
	defer s.Close()
	if key, err := s.AppKey(newApp.SDKAppID); err != nil || key != newApp.Key {
		t.Fatalf("Open got the replaced file: new app key %q, %v", key, err)
	}
	if _, err := store.Open(path, store.Options{LockTimeout: 10 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("the new file is not locked: %v", err)
	}
}

// openCount is how many of this process's descriptors are open on file
// for writing, as bbolt opens it (Open's header check only reads).
func openCount(file os.FileInfo) int {
	fds, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, fd := range fds {
		st, err := os.Stat(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !os.SameFile(st, file) {
			continue
		}
		info, _ := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		for _, line := range strings.Split(string(info), "\n") {
			if flags, ok := strings.CutPrefix(line, "flags:"); ok {
				if f, err := strconv.ParseUint(strings.TrimSpace(flags), 8, 32); err == nil && f&3 == uint64(os.O_RDWR) {
					n++
				}
			}
		}
	}
	return n
}
