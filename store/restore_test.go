package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"callbox/store"
)

// backupOf writes a store with n records to a backup file and returns it.
func backupOf(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "src.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	grow(t, s, n)
	var buf bytes.Buffer
	if _, err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func countCalls(t *testing.T, path string) int {
	t.Helper()
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	err = s.View(func(tx *store.Tx) error {
		recs, err := tx.Calls(store.CallFilter{})
		n = len(recs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRestoreRoundTrip: a backup restored over a database that has moved
// on brings back the backup's contents; the old file stays beside it as
// callbox.db.bak-<time>, byte for byte.
func TestRestoreRoundTrip(t *testing.T) {
	backup := backupOf(t, 30)
	dir := filepath.Join(t.TempDir(), "data")
	live := filepath.Join(dir, store.FileName)
	os.MkdirAll(dir, 0o700)
	s, err := store.Open(live, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	grow(t, s, 5)
	s.Close()
	oldBytes, _ := os.ReadFile(live)

	now := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	res, err := store.Restore(live, backup, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "callbox.db.bak-20261206T010203Z"); res.Backup != want {
		t.Fatalf("backup kept as %q, want %q", res.Backup, want)
	}
	if kept, _ := os.ReadFile(res.Backup); !bytes.Equal(kept, oldBytes) {
		t.Fatal("the kept old database differs from what was there")
	}
	if n := countCalls(t, live); n != 30 {
		t.Fatalf("restored database has %d records, want 30", n)
	}
	if st, _ := os.Stat(live); st.Mode().Perm() != 0o600 {
		t.Fatalf("restored file mode %v", st.Mode())
	}
	// A second restore in the same second keeps both old files.
	res2, err := store.Restore(live, backup, now)
	if err != nil || res2.Backup == res.Backup {
		t.Fatalf("second restore: %+v, %v", res2, err)
	}
	// Nothing is left over in the directory but the database and the backups.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), store.FileName) || strings.Contains(e.Name(), "restore-") {
			t.Errorf("left over: %s", e.Name())
		}
	}
}

// TestRestoreRefuses: a foreign file, a newer schema, a truncated copy and
// a database held by a running server are refused with an error that says
// so, and the database in place is not touched.
func TestRestoreRefuses(t *testing.T) {
	good := backupOf(t, 300)
	files := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodBytes, _ := os.ReadFile(good)

	foreignBolt := filepath.Join(files, "foreign.db")
	db, err := bolt.Open(foreignBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
	db.Close()

	newer := write("newer.db", goodBytes)
	db, err = bolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, uint64(store.SchemaVersion()+1)))
	})
	db.Close()

	cases := []struct {
		name, src string
		want      error
	}{
		{"text file", write("notes.txt", []byte("not a database at all\n")), store.ErrForeign},
		{"empty file", write("empty.db", nil), store.ErrForeign},
		{"another program's bbolt file", foreignBolt, store.ErrForeign},
		{"newer schema", newer, store.ErrTooNew},
		{"truncated", write("half.db", goodBytes[:len(goodBytes)/2]), store.ErrTruncated},
		{"header only", write("head.db", goodBytes[:8192]), store.ErrTruncated},
	}
	dir := filepath.Join(t.TempDir(), "data")
	live := filepath.Join(dir, store.FileName)
	os.MkdirAll(dir, 0o700)
	s, err := store.Open(live, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	grow(t, s, 3)
	s.Close()
	before, _ := os.ReadFile(live)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Restore(live, tc.src, time.Now())
			if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Restore = %v, want one line with %v", err, tc.want)
			}
		})
	}

	// A running server holds the database: refused, nothing copied.
	s, err = store.Open(live, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Restore(live, good, time.Now()); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Restore while open = %v, want ErrLocked", err)
	}
	s.Close()

	if after, _ := os.ReadFile(live); !bytes.Equal(after, before) {
		t.Fatal("a refused restore changed the database")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files after refused restores: %v", names)
	}
}
