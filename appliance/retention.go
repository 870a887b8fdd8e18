package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"callbox/store"
)

// Record pruning runs at start and then this often, in write transactions
// of at most this many records each.
const (
	recordPruneInterval = time.Hour
	recordPruneBatch    = 500
)

// pruner deletes the call records that ended longer than the retention
// ago. Each batch is its own short write transaction, so a call being set
// up waits at most one batch for the write lock, however much there is to
// prune.
type pruner struct {
	store     *store.Store
	retention time.Duration // negative: keep forever
	interval  time.Duration
	batch     int
	now       func() time.Time
	after     func(time.Duration) <-chan time.Time // time.After; tests tick by hand
	log       *slog.Logger
}

func (a *Appliance) newPruner() *pruner {
	return &pruner{
		store:     a.store,
		retention: a.cfg.RecordRetention,
		interval:  recordPruneInterval,
		batch:     recordPruneBatch,
		now:       a.cfg.Now,
		after:     time.After,
		log:       a.log.With("component", "retention"),
	}
}

// run prunes at once and then every interval until ctx ends. A failed
// pass is logged and tried again at the next interval: housekeeping does
// not stop the server.
func (p *pruner) run(ctx context.Context) error {
	if p.retention < 0 {
		return nil
	}
	for {
		p.prune(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-p.after(p.interval):
		}
	}
}

// prune deletes batch after batch until nothing is left or ctx ends.
func (p *pruner) prune(ctx context.Context) {
	cutoff := p.now().Add(-p.retention)
	pruned := 0
	var from store.PruneCursor
	for more := true; more && ctx.Err() == nil; {
		var r store.PruneResult
		err := p.store.Update(func(tx *store.Tx) error {
			var err error
			r, err = tx.PruneCalls(cutoff, p.batch, from)
			return err
		})
		if err != nil {
			p.log.Warn("call record pruning stopped", "err", err, "count", pruned)
			return
		}
		pruned += r.Deleted
		more, from = r.More, r.Next
		// The write lock is free between batches: let waiting commits in.
		runtime.Gosched()
	}
	if pruned > 0 {
		p.log.Info("call records pruned", "count", pruned, "ended_before", cutoff)
	} else {
		p.log.Debug("no call records to prune", "ended_before", cutoff)
	}
}

// checkDataDirMode warns when others may enter or read the data
// directory: it holds every app's key. callbox creates it 0700; one that
// already exists is the operator's choice, so it is reported, not changed.
func (a *Appliance) checkDataDirMode() {
	st, err := os.Stat(a.cfg.DataDir)
	if err != nil {
		return
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		a.log.Warn("data directory is open to other users", "dir", a.cfg.DataDir,
			"mode", fmt.Sprintf("%#o", perm), "fix", "chmod 700 "+a.cfg.DataDir)
	}
}
