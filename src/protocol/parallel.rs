//! The few ways client and server spread work over threads (all in order,
//! and serial without the `parallel` feature), and the grouped batch checks
//! they share.

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;

/// `a` and `b`, side by side with the `parallel` feature.
pub(super) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "parallel")]
    {
        rayon::join(a, b)
    }
    #[cfg(not(feature = "parallel"))]
    {
        (a(), b())
    }
}

/// `f` over the items of a slice, in parallel with the `parallel` feature;
/// the results keep the order of `items`.
pub(super) fn map_all<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items.iter().map(f).collect()
    }
}

/// `f` over owned items, in parallel with the `parallel` feature; the
/// results keep the order of `items`.
pub(super) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items.into_iter().map(f).collect()
    }
}

/// The positions in `items` (ascending) that fail a batched check: the
/// items are cut into consecutive groups of `size` (at least 1), each
/// checked as one batch (`batch`), the groups in parallel; only a group
/// that fails is searched (`find`, positions within the group). Group `g`
/// draws its weights from stream `g` of ChaCha20 keyed by `seed`, so the
/// result does not depend on scheduling (spec/crypto.md section 8.3).
pub(super) fn failing_in_groups<T: Sync>(
    items: &[T],
    size: usize,
    seed: &[u8; 32],
    batch: impl Fn(&[T], &mut ChaCha20Rng) -> bool + Sync + Send,
    find: impl Fn(&[T], &mut ChaCha20Rng) -> Vec<usize> + Sync + Send,
) -> Vec<usize> {
    let size = size.max(1);
    let groups: Vec<(usize, &[T])> = items.chunks(size).enumerate().collect();
    let failed = map_all(&groups, |&(g, group)| {
        let mut rng = ChaCha20Rng::from_seed(*seed);
        rng.set_stream(g as u64);
        if batch(group, &mut rng) {
            Vec::new()
        } else {
            find(group, &mut rng)
                .into_iter()
                .map(|i| g * size + i)
                .collect()
        }
    });
    failed.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_in_groups_finds_every_failure_in_every_group() {
        // Items are "bad" when odd; the batch fails if any item is bad and
        // the search returns the bad positions within the group.
        let items: Vec<u32> = (0..23)
            .map(|i| if [2, 9, 10, 22].contains(&i) { 1 } else { 0 })
            .collect();
        for size in [1, 4, 5, 23, 100] {
            let found = failing_in_groups(
                &items,
                size,
                &[7; 32],
                |g, _| g.iter().all(|&v| v == 0),
                |g, _| (0..g.len()).filter(|&i| g[i] == 1).collect(),
            );
            assert_eq!(found, vec![2, 9, 10, 22], "group size {size}");
        }
        // A group's weights come from its own stream: two groups see
        // different draws from the same seed.
        let draws = failing_in_groups(
            &[0u8, 0],
            1,
            &[7; 32],
            |_, rng| rand_core::Rng::next_u32(rng) % 2 == 0,
            |_, _| vec![0],
        );
        let expect: Vec<usize> = (0..2u64)
            .filter(|&g| {
                let mut rng = ChaCha20Rng::from_seed([7; 32]);
                rng.set_stream(g);
                rand_core::Rng::next_u32(&mut rng) % 2 != 0
            })
            .map(|g| g as usize)
            .collect();
        assert_eq!(draws, expect);
    }
}
