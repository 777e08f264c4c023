//! Work spread over every core: the Automerge side of a pull or of loading a snapshot's
//! documents, done outside the store's lock before one transaction writes the rows.

/// `f` of every item, in order, on up to as many threads as there are cores (one thread
/// for a short list). A worker that panicked leaves `fallback` for its items.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    fallback: impl Fn() -> R,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || items.len() < 16 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .zip(items.chunks(per))
            .flat_map(|(h, part)| {
                h.join()
                    .unwrap_or_else(|_| part.iter().map(|_| fallback()).collect())
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_of_its_items() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, |i| i * 2, || 0),
            (0..1000).map(|i| i * 2).collect::<Vec<_>>()
        );
    }
}
