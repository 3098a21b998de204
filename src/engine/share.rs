//! An agent's share of the one schedule: which open-loop slots and which closed-loop workers this process runs.
//!
//! Every agent of a distributed run holds the whole plan and computes the
//! same schedule; its share says which part of it is its own. Open loop:
//! slot *k* belongs to the member at position `k mod members`, so the
//! agents together send every slot exactly once and ramps stay exact.
//! Closed loop: worker *j* of an agent is global worker `position + members·j`,
//! so a concurrency of C is spread with its remainder over the first
//! agents instead of rounded away.
//!
//! A share changes when an agent is lost or joins: a new *epoch* applies
//! from a slot on (the one due at an agreed run-clock time), earlier slots
//! keep the rule they were claimed under. The claim counter carries the
//! epoch in its top bits (see `claim`), so a worker can never claim a slot
//! under a rule that has just been replaced.

use std::sync::atomic::{AtomicU64, Ordering};

/// One rule of ownership, from `from_slot` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    /// Counts share changes; the claim counter carries it (mod 2^16).
    pub id: u16,
    pub from_slot: u64,
    pub members: u32,
    /// This process's position among the members; None: it owns nothing.
    pub position: Option<u32>,
}

/// The epochs so far, oldest first (at most `MAX_EPOCHS`: a run whose
/// agents come and go more often keeps the newest, which is all a claim
/// from now on can need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    epochs: Vec<Epoch>,
}

const MAX_EPOCHS: usize = 64;
const SLOT_BITS: u32 = 48;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

pub fn pack(epoch: u16, slot: u64) -> u64 {
    ((epoch as u64) << SLOT_BITS) | (slot & SLOT_MASK)
}

pub fn unpack(v: u64) -> (u16, u64) {
    ((v >> SLOT_BITS) as u16, v & SLOT_MASK)
}

/// Why a claim found no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// The counter is on a newer epoch than this schedule: load the newer schedule.
    Stale,
    /// This process owns no slot from here on (it was left out).
    NoneOwned,
}

impl Share {
    /// Position `position` of `members`, from the first slot.
    pub fn new(members: u32, position: u32) -> Self {
        Share {
            epochs: vec![Epoch {
                id: 0,
                from_slot: 0,
                members: members.max(1),
                position: (position < members.max(1)).then_some(position),
            }],
        }
    }

    pub fn current(&self) -> &Epoch {
        // Never empty: built with one epoch, and trimming keeps the newest.
        &self.epochs[self.epochs.len() - 1]
    }

    /// A new rule from `from_slot` on (at least the current one's start).
    pub fn change(&mut self, from_slot: u64, members: u32, position: Option<u32>) -> Epoch {
        let cur = *self.current();
        let e = Epoch {
            id: cur.id.wrapping_add(1),
            from_slot: from_slot.max(cur.from_slot),
            members: members.max(1),
            position: position.filter(|&p| p < members.max(1)),
        };
        // A rule starting where the last one starts replaces it.
        if e.from_slot == cur.from_slot && self.epochs.len() > 1 {
            self.epochs.pop();
        }
        self.epochs.push(e);
        let excess = self.epochs.len().saturating_sub(MAX_EPOCHS);
        self.epochs.drain(..excess);
        e
    }

    fn epoch_of(&self, k: u64) -> usize {
        self.epochs
            .iter()
            .rposition(|e| e.from_slot <= k)
            .unwrap_or(0)
    }

    pub fn owns(&self, k: u64) -> bool {
        let e = &self.epochs[self.epoch_of(k)];
        e.position.is_some_and(|p| k % e.members as u64 == p as u64)
    }

    /// The first slot at or after `k` this process owns.
    pub fn next_owned(&self, mut k: u64) -> Option<u64> {
        let mut i = self.epoch_of(k);
        loop {
            let e = &self.epochs[i];
            let next_from = self.epochs.get(i + 1).map(|n| n.from_slot);
            if let Some(p) = e.position {
                let m = e.members as u64;
                let c = k + (p as u64 + m - k % m) % m;
                if next_from.is_none_or(|n| c < n) {
                    return Some(c);
                }
            }
            k = next_from?;
            i += 1;
        }
    }

    /// Claims this process's next slot from the run's counter, under the
    /// current epoch only (a counter on another epoch means a newer share
    /// has been published: the caller loads it and claims again).
    pub fn claim(&self, counter: &AtomicU64) -> Result<u64, NoSlot> {
        let id = self.current().id;
        let mut cur = counter.load(Ordering::Acquire);
        loop {
            let (e, slot) = unpack(cur);
            if e != id {
                return Err(NoSlot::Stale);
            }
            let k = self.next_owned(slot).ok_or(NoSlot::NoneOwned)?;
            match counter.compare_exchange_weak(
                cur,
                pack(id, k + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(k),
                Err(now) => cur = now,
            }
        }
    }

    /// After a change to `epoch`: moves the counter onto it, back to its
    /// first slot if claims had run past it (those claims are released by
    /// their workers, `releases`).
    pub fn rebase(counter: &AtomicU64, epoch: &Epoch) {
        let mut cur = counter.load(Ordering::Acquire);
        loop {
            let (_, slot) = unpack(cur);
            let next = pack(epoch.id, slot.min(epoch.from_slot));
            match counter.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// Whether a worker holding slot `k`, claimed under epoch `claimed`,
    /// must give it up: a newer rule covers it (the counter was moved back
    /// to hand it out again under that rule).
    pub fn releases(&self, claimed: u16, k: u64) -> bool {
        let cur = self.current();
        claimed != cur.id
            && self
                .epochs
                .iter()
                .rev()
                .take_while(|e| e.id != claimed)
                .any(|e| k >= e.from_slot)
    }

    /// How many of the slots before `k` this process owns (what it should
    /// have sent once they are all due).
    pub fn owned_before(&self, k: u64) -> u64 {
        let mut n = 0;
        for (i, e) in self.epochs.iter().enumerate() {
            let start = if i == 0 { 0 } else { e.from_slot };
            let end = self.epochs.get(i + 1).map_or(k, |n| n.from_slot.min(k));
            if end <= start {
                continue;
            }
            if let Some(p) = e.position {
                let m = e.members as u64;
                // Slots s < x with s mod m == p.
                let below = |x: u64| (x + m - 1 - p as u64) / m;
                n += below(end) - below(start);
            }
        }
        n
    }

    /// Closed loop: the global worker index of local worker `j` (None when
    /// this process owns no workers).
    pub fn global_worker(&self, j: usize) -> Option<usize> {
        let e = self.current();
        e.position.map(|p| p as usize + e.members as usize * j)
    }

    /// Closed loop: local workers needed for a concurrency of `level`.
    pub fn local_workers(&self, level: usize) -> usize {
        let e = self.current();
        match e.position {
            Some(p) => level
                .saturating_sub(p as usize)
                .div_ceil(e.members as usize),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_agents_own_every_slot_once() {
        let shares: Vec<Share> = (0..3).map(|i| Share::new(3, i)).collect();
        for k in 0..300 {
            assert_eq!(shares.iter().filter(|s| s.owns(k)).count(), 1, "slot {k}");
        }
        assert_eq!(shares[1].next_owned(0), Some(1));
        assert_eq!(shares[1].next_owned(2), Some(4));
    }

    #[test]
    fn a_lost_agents_slots_go_to_the_others_from_the_change_on() {
        // Agent 2 of 3 is lost; from slot 100 on, agents 0 and 1 split all.
        let mut a = Share::new(3, 0);
        let mut b = Share::new(3, 1);
        a.change(100, 2, Some(0));
        b.change(100, 2, Some(1));
        let c = Share::new(3, 2);
        for k in 0..100 {
            let owners = [a.owns(k), b.owns(k), c.owns(k)];
            assert_eq!(owners.iter().filter(|&&o| o).count(), 1, "slot {k}");
        }
        for k in 100..300 {
            assert_eq!([a.owns(k), b.owns(k)].iter().filter(|&&o| o).count(), 1);
        }
        assert_eq!(a.next_owned(99), Some(99));
        assert_eq!(a.next_owned(100), Some(100));
        assert_eq!(b.next_owned(99), Some(101));
    }

    #[test]
    fn claims_follow_the_epoch_and_a_rebase_hands_out_released_slots() {
        let counter = AtomicU64::new(0);
        let mut s = Share::new(2, 1);
        assert_eq!(s.claim(&counter), Ok(1));
        assert_eq!(s.claim(&counter), Ok(3));
        assert_eq!(s.claim(&counter), Ok(5));
        // Now alone from slot 4: slot 4 (never ours before) and slot 5
        // (claimed under the old rule, released) are handed out again.
        let e = s.change(4, 1, Some(0));
        assert!(s.releases(0, 5));
        assert!(!s.releases(0, 3), "before the change: still ours");
        let stale = Share::new(2, 1);
        Share::rebase(&counter, &e);
        assert_eq!(stale.claim(&counter), Err(NoSlot::Stale));
        assert_eq!(s.claim(&counter), Ok(4));
        assert_eq!(s.claim(&counter), Ok(5));
        let left_out = s.change(10, 1, None);
        Share::rebase(&counter, &left_out);
        assert_eq!(s.claim(&counter), Ok(6));
        let from_10: Vec<_> = (0..4).filter_map(|_| s.claim(&counter).ok()).collect();
        assert_eq!(from_10, vec![7, 8, 9], "nothing owned from slot 10 on");
        assert_eq!(s.claim(&counter), Err(NoSlot::NoneOwned));
        // 1, 3 under the first rule; 4..=9 under the second; none after.
        assert_eq!(s.owned_before(100), 8);
        assert_eq!(Share::new(3, 1).owned_before(10), 3);
    }

    #[test]
    fn closed_loop_spreads_the_remainder() {
        let shares: Vec<Share> = (0..3).map(|i| Share::new(3, i)).collect();
        let counts: Vec<usize> = shares.iter().map(|s| s.local_workers(10)).collect();
        assert_eq!(counts, vec![4, 3, 3]);
        assert_eq!(shares[2].global_worker(1), Some(5));
    }
}
