//! The correlation table: every event in flight, by its id's hash, in shards that grow
//! (doubling, up to the size the plan was checked for) as events come.
//!
//! An event is entered when its publish is sent and stays until twice the
//! deadline has passed, so a copy that arrives after the first (a retry, a
//! fan-out) is still recognised as a duplicate. Open addressing with linear
//! probing and backward-shift deletion: no tombstones, so a long run never
//! degrades the lookups. A shard starts small and doubles when three
//! quarters full, so a slow run with a long deadline holds only what it has
//! in flight, not what it might (a 366-day deadline once preallocated 52 GB).

use std::sync::Mutex;

/// One event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The id's hash (never `EMPTY`).
    pub hash: u64,
    /// The publish's slot number (for order).
    pub seq: u64,
    /// When its publish was sent, ns since the tracker's epoch.
    pub sent_ns: u64,
    /// Copies that arrived, and how many of them the sink accepted (2xx).
    pub copies: u16,
    pub accepted: u16,
    pub state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Published, not yet delivered, deadline not passed.
    InTransit,
    /// As many accepted copies arrived as expected.
    Delivered,
    /// The deadline passed first.
    Lost,
}

const EMPTY: u64 = 0;
const SHARDS: usize = 64;

const VACANT: Entry = Entry {
    hash: EMPTY,
    seq: 0,
    sent_ns: 0,
    copies: 0,
    accepted: 0,
    state: State::InTransit,
};

struct Shard {
    slots: Box<[Entry]>,
    live: usize,
    /// The most slots it may grow to.
    max_len: usize,
}

/// Slots a shard starts with.
const FIRST_LEN: usize = 256;

/// Why an event could not be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Full,
}

/// A hash an entry may carry: never the empty marker.
pub fn hash_of(id: &[u8]) -> u64 {
    // FNV-1a, then mixed: ids are short and often sequential.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    rampdeck_base::rng::splitmix64(h).max(1)
}

impl Shard {
    fn new(max_len: usize) -> Self {
        let max_len = max_len.max(1);
        Shard {
            slots: vec![VACANT; FIRST_LEN.min(max_len)].into_boxed_slice(),
            live: 0,
            max_len,
        }
    }

    /// Doubles the slots (up to `max_len`), entering every event anew;
    /// false when it is already as large as it may be.
    fn grow(&mut self) -> bool {
        let len = (self.slots.len() * 2).min(self.max_len);
        if len <= self.slots.len() {
            return false;
        }
        let old = std::mem::replace(&mut self.slots, vec![VACANT; len].into_boxed_slice());
        for e in old.iter().filter(|e| e.hash != EMPTY) {
            let mut i = self.home(e.hash);
            while self.slots[i].hash != EMPTY {
                i = self.next(i);
            }
            self.slots[i] = *e;
        }
        true
    }

    /// Where an entry of `hash` would sit with no collision (the shard
    /// index takes the hash's low bits, this its high ones).
    fn home(&self, hash: u64) -> usize {
        ((hash >> 6) % self.slots.len() as u64) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    fn find(&self, hash: u64) -> Option<usize> {
        let mut i = self.home(hash);
        for _ in 0..self.slots.len() {
            match self.slots[i].hash {
                EMPTY => return None,
                h if h == hash => return Some(i),
                _ => i = self.next(i),
            }
        }
        None
    }

    fn insert(&mut self, e: Entry) -> Result<(), Full> {
        let mut i = self.home(e.hash);
        loop {
            match self.slots[i].hash {
                EMPTY => {
                    // At most three quarters full: probes stay short.
                    if (self.live + 1) * 4 > self.slots.len() * 3 {
                        if !self.grow() {
                            return Err(Full::Full);
                        }
                        i = self.home(e.hash);
                        continue;
                    }
                    self.slots[i] = e;
                    self.live += 1;
                    return Ok(());
                }
                // The same id published twice: the newer publish counts.
                h if h == e.hash => {
                    self.slots[i] = e;
                    return Ok(());
                }
                _ => i = self.next(i),
            }
        }
    }

    /// Removes slot `i`, shifting later entries of its probe run back so
    /// every lookup still finds them.
    fn remove_at(&mut self, mut i: usize) {
        let len = self.slots.len();
        let mut j = i;
        loop {
            j = self.next(j);
            let h = self.slots[j].hash;
            if h == EMPTY {
                break;
            }
            let home = self.home(h);
            // The entry at j may move to i if its home is not in (i, j].
            let dist_home = (j + len - home) % len;
            let dist_hole = (j + len - i) % len;
            if dist_home >= dist_hole {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = VACANT;
        self.live -= 1;
    }
}

/// The table.
pub struct Table {
    shards: Box<[Mutex<Shard>]>,
}

/// What a sweep found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// In transit past the deadline: now lost.
    pub lost: u64,
    /// Still in transit (not past the deadline).
    pub in_transit: u64,
}

impl Table {
    /// Room for `events` at once: each shard may grow to hold its share
    /// with room for the unevenness of hashing (four standard deviations)
    /// at three quarters full.
    pub fn new(events: usize) -> Self {
        let mean = events.div_ceil(SHARDS) as f64;
        let per = ((mean + 4.0 * mean.sqrt() + 4.0) / 0.75).ceil() as usize;
        Table {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new(per))).collect(),
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        // A panic while holding a shard leaves it consistent (every change is one store).
        self.shards[hash as usize % self.shards.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Enters a published event.
    pub fn publish(&self, hash: u64, seq: u64, sent_ns: u64) -> Result<(), Full> {
        self.shard(hash).insert(Entry {
            hash,
            seq,
            sent_ns,
            copies: 0,
            accepted: 0,
            state: State::InTransit,
        })
    }

    /// Forgets an event whose publish failed (it was never accepted), unless a copy already arrived.
    pub fn withdraw(&self, hash: u64) -> bool {
        let mut s = self.shard(hash);
        match s.find(hash) {
            Some(i) if s.slots[i].copies == 0 => {
                s.remove_at(i);
                true
            }
            _ => false,
        }
    }

    /// A copy arrived: `f` updates the event and says what it was (None: unknown id).
    pub fn arrive<T>(&self, hash: u64, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let mut s = self.shard(hash);
        let i = s.find(hash)?;
        Some(f(&mut s.slots[i]))
    }

    /// Marks events past `deadline_ns` as lost and removes those past
    /// `forget_ns` (ages in ns, against `now_ns` on the same clock as `sent_ns`).
    pub fn sweep(&self, now_ns: u64, deadline_ns: u64, forget_ns: u64) -> Swept {
        let mut out = Swept::default();
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
            let mut i = 0;
            while i < s.slots.len() {
                let e = s.slots[i];
                if e.hash == EMPTY {
                    i += 1;
                    continue;
                }
                let age = now_ns.saturating_sub(e.sent_ns);
                if age >= forget_ns {
                    // The next entry may have shifted into `i`: look again.
                    s.remove_at(i);
                    continue;
                }
                if e.state == State::InTransit {
                    if age >= deadline_ns {
                        s.slots[i].state = State::Lost;
                        out.lost += 1;
                    } else {
                        out.in_transit += 1;
                    }
                }
                i += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_found_swept_and_forgotten_without_growing() {
        let t = Table::new(1000);
        for seq in 0..1000u64 {
            t.publish(hash_of(seq.to_string().as_bytes()), seq, seq * 1000)
                .unwrap();
        }
        let h = hash_of(b"7");
        assert_eq!(t.arrive(h, |e| e.seq), Some(7));
        assert_eq!(t.arrive(hash_of(b"nope"), |e| e.seq), None);
        // At 500 us: events sent before 400 us are past a 100 us deadline.
        let s = t.sweep(500_000, 100_000, 1_000_000_000);
        assert_eq!(s.lost, 401);
        assert_eq!(s.in_transit, 599);
        assert_eq!(
            t.sweep(500_000, 100_000, 1_000_000_000).lost,
            0,
            "lost once"
        );
        // Forgotten after the forget age: room again, over and over.
        for round in 1..20u64 {
            t.sweep(round * 10_000_000, 100_000, 1);
            for seq in 0..1000u64 {
                let id = format!("{round}-{seq}");
                t.publish(hash_of(id.as_bytes()), seq, round * 10_000_000)
                    .unwrap_or_else(|_| panic!("full in round {round}"));
            }
        }
        assert!(t.withdraw(hash_of(b"19-5")));
        assert_eq!(t.arrive(hash_of(b"19-5"), |_| ()), None);
        assert_eq!(t.arrive(hash_of(b"19-6"), |e| e.seq), Some(6));
    }

    #[test]
    fn removals_keep_every_other_entry_findable() {
        // A small shard with long probe runs, against a set as the model.
        let mut shard = Shard::new(37);
        let mut model = std::collections::BTreeSet::new();
        let mut rng = rampdeck_base::rng::Rng::for_request(1, 2);
        for _ in 0..20_000 {
            let hash = (rng.next_u64() % 60 + 1) << 6 | 5;
            if rng.chance(0.5) {
                if shard.insert(Entry { hash, ..VACANT }).is_ok() {
                    model.insert(hash);
                }
            } else if let Some(i) = shard.find(hash) {
                shard.remove_at(i);
                assert!(model.remove(&hash));
            } else {
                assert!(!model.contains(&hash), "{hash} lost");
            }
            assert_eq!(shard.live, model.len());
            for h in &model {
                assert!(shard.find(*h).is_some(), "{h} not found");
            }
        }
    }

    #[test]
    fn a_large_table_starts_small_and_grows_keeping_every_event() {
        let t = Table::new(10_000_000);
        let slots =
            |t: &Table| -> usize { t.shards.iter().map(|s| s.lock().unwrap().slots.len()).sum() };
        assert_eq!(slots(&t), SHARDS * FIRST_LEN, "nothing preallocated");
        for seq in 0..100_000u64 {
            t.publish(hash_of(&seq.to_le_bytes()), seq, 0).unwrap();
        }
        let grown = slots(&t);
        assert!(
            (133_000..=600_000).contains(&grown),
            "{grown} slots for 100,000"
        );
        for seq in (0..100_000u64).step_by(997) {
            assert_eq!(t.arrive(hash_of(&seq.to_le_bytes()), |e| e.seq), Some(seq));
        }
    }

    #[test]
    fn a_full_table_says_so() {
        let t = Table::new(64);
        let mut full = 0;
        for seq in 0..100_000u64 {
            if t.publish(hash_of(&seq.to_le_bytes()), seq, 0).is_err() {
                full += 1;
            }
        }
        assert!(full > 0);
    }
}
