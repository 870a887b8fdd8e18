package sfu

import "sync"

// ringSlot is the size of one slot: a full Ethernet-MTU RTP packet fits
// (Galène's packetcache uses the same 1,504 bytes).
const ringSlot = 1504

// ring keeps the last packets of one published stream, indexed by sequence
// number, so NACKs from every subscriber are served from one copy
// (perf-notes rule 4) instead of one buffer per subscriber.
//
// The reader goroutine of the stream is the only writer; NACK handlers read.
// A mutex per ring (never global) keeps a slot from being overwritten while
// a retransmission copies it out.
type ring struct {
	mu    sync.Mutex
	buf   []byte   // len(seqs) * ringSlot
	seqs  []uint16 // sequence number stored in each slot
	lens  []uint16 // 0 = empty
	count int
}

func newRing(n int) *ring {
	return &ring{buf: make([]byte, n*ringSlot), seqs: make([]uint16, n), lens: make([]uint16, n), count: n}
}

// put stores pkt (a whole RTP packet) under seq. Oversized packets are
// not kept; they could not be resent anyway.
func (r *ring) put(seq uint16, pkt []byte) {
	if len(pkt) > ringSlot {
		return
	}
	i := int(seq) % r.count
	r.mu.Lock()
	copy(r.buf[i*ringSlot:], pkt)
	r.seqs[i] = seq
	r.lens[i] = uint16(len(pkt))
	r.mu.Unlock()
}

// has reports whether the packet under seq is stored.
func (r *ring) has(seq uint16) bool {
	i := int(seq) % r.count
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lens[i] != 0 && r.seqs[i] == seq
}

// get copies the packet stored under seq into dst and returns its length,
// or 0 if it is gone.
func (r *ring) get(seq uint16, dst []byte) int {
	i := int(seq) % r.count
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lens[i] == 0 || r.seqs[i] != seq {
		return 0
	}
	return copy(dst, r.buf[i*ringSlot:i*ringSlot+int(r.lens[i])])
}
