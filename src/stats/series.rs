//! A bounded ring of per-interval values: what the charts and the run log draw from.

use std::collections::VecDeque;

/// Keeps the newest `capacity` items; older ones fall off the front.
#[derive(Debug, Clone)]
pub struct Series<T> {
    items: VecDeque<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> Series<T> {
    pub fn new(capacity: usize) -> Self {
        Series {
            items: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(item);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many items fell off the front.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let mut s = Series::new(3);
        for i in 0..5 {
            s.push(i);
        }
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!((s.len(), s.dropped(), s.last()), (3, 2, Some(&4)));
    }
}
