package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrTruncated means a database file is shorter than its own header says.
var ErrTruncated = errors.New("truncated database file (shorter than its header says)")

// CheckFile checks, without writing, that path holds a whole callbox
// database of a schema this build reads: a bbolt file whose header is
// intact and whose length covers every page it counts (bbolt itself would
// fault on the missing pages), callbox's own meta bucket, a schema version
// not newer than SchemaVersion, and pages that pass bbolt's consistency
// check. It fails with ErrForeign, ErrTruncated or ErrTooNew.
func CheckFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() == 0 {
		return fmt.Errorf("%s: empty file: %w", path, ErrForeign)
	}
	if err := checkHeader(path); err != nil {
		return err
	}
	if err := checkLength(path, st.Size()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("%s: %w: %v", path, ErrForeign, err)
		}
		return nil
	})
}

// checkLength reads bbolt's two meta pages and checks that the file holds
// as many pages as the newer valid one counts.
func checkLength(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Page header (16 bytes), then the meta: magic, version, page size,
	// flags (4 bytes each), root bucket (16), freelist, pgid, txid,
	// checksum (8 each); the checksum is FNV-64a of the meta before it.
	const metaOff, sumOff = 16, 56
	read := func(off int64) (pageSize uint32, pgid, txid uint64, ok bool) {
		var b [metaOff + sumOff + 8]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0, 0, 0, false
		}
		m := b[metaOff:]
		h := fnv.New64a()
		h.Write(m[:sumOff])
		if binary.LittleEndian.Uint32(m) != 0xED0CDAED || h.Sum64() != binary.LittleEndian.Uint64(m[sumOff:]) {
			return 0, 0, 0, false
		}
		return binary.LittleEndian.Uint32(m[8:]), binary.LittleEndian.Uint64(m[40:]), binary.LittleEndian.Uint64(m[48:]), true
	}
	pageSize, pgid, txid, ok0 := read(0)
	if ok0 {
		if ps1, pg1, tx1, ok1 := read(int64(pageSize)); ok1 && tx1 > txid {
			pageSize, pgid = ps1, pg1
		}
	} else {
		// The first meta page may be the one torn; the second sits one
		// page further, at a page size we must guess.
		for _, ps := range []int64{4096, 8192, 16384, 65536} {
			var ok1 bool
			if pageSize, pgid, _, ok1 = read(ps); ok1 && int64(pageSize) == ps {
				break
			}
			pageSize = 0
		}
		if pageSize == 0 {
			return fmt.Errorf("no valid header page: %w", ErrForeign)
		}
	}
	if pageSize < 512 || pgid < 2 {
		return fmt.Errorf("bad header page: %w", ErrForeign)
	}
	if need := int64(pgid) * int64(pageSize); size < need {
		return fmt.Errorf("%d of %d bytes: %w", size, need, ErrTruncated)
	}
	return nil
}

// RestoreResult says where things went.
type RestoreResult struct {
	Backup string // the previous database, kept as FileName.bak-<time>; "" when there was none
	Size   int64  // bytes restored
}

// Restore puts a copy of src in place of the database at path, which no
// process may have open (ErrLocked while a server runs). src must pass
// CheckFile. The previous file is kept beside it as
// callbox.db.bak-<UTC time> (a hard link, taken before the copy is renamed
// over path, so at every moment path is the old or the new database); any
// failure leaves path as it was.
func Restore(path, src string, now time.Time) (RestoreResult, error) {
	var res RestoreResult
	if err := CheckFile(src); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	// A server holds an exclusive flock on its database (bbolt's lock);
	// this one keeps another from starting until the copy is in place.
	old, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		old = nil
	case err != nil:
		return res, fmt.Errorf("restore: %w", err)
	default:
		defer old.Close()
		if err := syscall.Flock(int(old.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return res, fmt.Errorf("restore: %w", ErrLocked)
			}
			return res, fmt.Errorf("restore: lock %s: %w", path, err)
		}
	}

	tmp, err := os.CreateTemp(dir, FileName+".restore-*")
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath) // a no-op once renamed
	in, err := os.Open(src)
	if err != nil {
		tmp.Close()
		return res, fmt.Errorf("restore: %w", err)
	}
	res.Size, err = io.Copy(tmp, in)
	in.Close()
	err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close())
	if err == nil {
		err = CheckFile(tmpPath) // the copy, as it landed on disk
	}
	if err != nil {
		return res, fmt.Errorf("restore: copy %s: %w", src, err)
	}
	if old != nil {
		stamp := now.UTC().Format("20060102T150405Z")
		for i := 1; ; i++ {
			res.Backup = filepath.Join(dir, FileName+".bak-"+stamp)
			if i > 1 {
				res.Backup += fmt.Sprintf("-%d", i)
			}
			err = os.Link(path, res.Backup)
			if !errors.Is(err, os.ErrExist) || i == 100 {
				break
			}
		}
		if err != nil {
			return res, fmt.Errorf("restore: keep the old database: %w", err)
		}
	}
	if err := replace(tmpPath, path); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}
