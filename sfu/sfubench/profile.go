package sfubench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// labelCPU sums the CPU nanoseconds of a runtime/pprof CPU profile by the
// value of one goroutine label (pprof.Do). "" collects unlabelled samples
// (GC workers, runtime, goroutines started outside any label).
//
// It decodes just the fields it needs of profile.proto: Profile.sample (2),
// Profile.string_table (6), Sample.value (2), Sample.label (3),
// Label.key (1) and Label.str (2).
func labelCPU(gz []byte, key string) (map[string]int64, int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, 0, fmt.Errorf("profile: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, 0, fmt.Errorf("profile: %w", err)
	}
	type sample struct {
		count  int64
		cpu    int64
		labels [][2]int64 // key, str indexes
	}
	var samples []sample
	var strs []string
	err = fields(raw, func(tag int, v uint64, b []byte) error {
		switch tag {
		case 2:
			var s sample
			var vals []int64
			err := fields(b, func(tag int, v uint64, b []byte) error {
				switch tag {
				case 2:
					if b == nil {
						vals = append(vals, int64(v))
						return nil
					}
					for len(b) > 0 {
						x, n := varint(b)
						if n == 0 {
							return errBadProto
						}
						vals = append(vals, int64(x))
						b = b[n:]
					}
				case 3:
					var k, sv int64
					if err := fields(b, func(tag int, v uint64, _ []byte) error {
						switch tag {
						case 1:
							k = int64(v)
						case 2:
							sv = int64(v)
						}
						return nil
					}); err != nil {
						return err
					}
					s.labels = append(s.labels, [2]int64{k, sv})
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(vals) == 2 { // [samples/count, cpu/nanoseconds]
				s.count, s.cpu = vals[0], vals[1]
			}
			samples = append(samples, s)
		case 6:
			strs = append(strs, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	out := map[string]int64{}
	n := 0
	for _, s := range samples {
		n += int(s.count)
		val := ""
		for _, l := range s.labels {
			if int(l[0]) < len(strs) && strs[l[0]] == key && int(l[1]) < len(strs) {
				val = strs[l[1]]
			}
		}
		out[val] += s.cpu
	}
	return out, n, nil
}

var errBadProto = errors.New("profile: malformed protobuf")

// fields walks one protobuf message: f gets varints in v and
// length-delimited fields in b (nil for varints).
func fields(b []byte, f func(tag int, v uint64, b []byte) error) error {
	for len(b) > 0 {
		key, n := varint(b)
		if n == 0 {
			return errBadProto
		}
		b = b[n:]
		tag, wire := int(key>>3), key&7
		switch wire {
		case 0:
			v, n := varint(b)
			if n == 0 {
				return errBadProto
			}
			b = b[n:]
			if err := f(tag, v, nil); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return errBadProto
			}
			b = b[8:]
		case 2:
			l, n := varint(b)
			if n == 0 || uint64(len(b)-n) < l {
				return errBadProto
			}
			if err := f(tag, 0, b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return errBadProto
			}
			b = b[4:]
		default:
			return errBadProto
		}
	}
	return nil
}

func varint(b []byte) (uint64, int) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}
