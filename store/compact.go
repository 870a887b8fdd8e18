package store

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds each write transaction of a compaction, so that
// memory stays flat however large the database is.
const compactTxSize = 64 << 20

// CompactResult gives the file sizes around a Compact, in bytes.
type CompactResult struct {
	Before int64 // the database file before
	After  int64 // the compacted file
}

// Compact copies the database at path into a new file that has no free
// pages: bbolt reuses the pages of deleted data but never gives them back
// to the file system, so the file only ever grows. It needs the database
// to itself and fails with ErrLocked while a server has it open.
//
// With out == "" the compacted file replaces path: it is written to a
// temporary file beside path, checked (every bucket holds as many keys as
// the original), fsynced, and renamed over path while path's lock is still
// held, so a failure at any point leaves the original as it was. With out
// set, the copy is written there (it must not exist) and path is left as
// it is.
func Compact(path, out string) (CompactResult, error) {
	var res CompactResult
	st, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	res.Before = st.Size()
	src, err := Open(path, Options{})
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	defer src.Close()

	dstPath := out
	var f *os.File
	if out == "" {
		f, err = os.CreateTemp(filepath.Dir(path), FileName+".compact-*")
	} else {
		f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	if out == "" {
		dstPath = f.Name()
	}
	f.Close()
	if err := compactInto(dstPath, src.db); err != nil {
		os.Remove(dstPath)
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if out == "" {
		if err := replace(dstPath, path); err != nil {
			os.Remove(dstPath)
			return res, fmt.Errorf("compact %s: %w", path, err)
		}
		dstPath = path
	}
	if st, err = os.Stat(dstPath); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	res.After = st.Size()
	return res, nil
}

// compactInto writes src compacted into the empty file at path, checks
// the copy and syncs it to disk.
func compactInto(path string, src *bolt.DB) (err error) {
	opts := boltOptions(Options{})
	opts.NoSync = true // one sync at the end instead of one per transaction
	dst, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}()
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		return err
	}
	want, err := keyCounts(src)
	if err != nil {
		return err
	}
	got, err := keyCounts(dst)
	if err != nil {
		return err
	}
	if !maps.Equal(got, want) {
		return fmt.Errorf("the compacted copy differs: keys per bucket %v, want %v", got, want)
	}
	return dst.Sync()
}

// keyCounts counts the keys of each top-level bucket (ours are not nested).
func keyCounts(db *bolt.DB) (map[string]int, error) {
	counts := map[string]int{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			counts[string(name)] = b.Stats().KeyN
			return nil
		})
	})
	return counts, err
}

// replace renames src over dst and syncs their directory, so the rename
// itself survives a crash.
func replace(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
