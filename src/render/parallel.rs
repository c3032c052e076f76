//! Rendering many independent items on every core: [`map`] keeps the items' order, so
//! the output is the same bytes whatever the number of threads.

/// Fewer items than this are rendered on the calling thread: starting a thread costs
/// more than rendering a handful of manifests.
const MIN_PARALLEL: usize = 64;

/// `f` of each item, in the items' order, on up to as many threads as the machine has
/// cores (contiguous chunks, one per thread, the first on the calling thread).
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    // Asked once per process: the answer reads the cgroup's CPU quota from files.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(8)
    });
    map_on(threads, items, f)
}

fn map_on<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if threads < 2 || items.len() < MIN_PARALLEL {
        return items.iter().map(&f).collect();
    }
    let size = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(size);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for h in handles {
            // A panic in a worker is a panic here too, as it would be on one thread.
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_on_any_number_of_threads() {
        let items: Vec<u32> = (0..1000).collect();
        let one: Vec<u32> = items.iter().map(|i| i * 3).collect();
        for threads in [1, 2, 3, 7, 8] {
            assert_eq!(map_on(threads, &items, |i| i * 3), one, "{threads} threads");
        }
        assert_eq!(map_on(2, &items[..5], |i| i * 3), one[..5]);
        assert!(map_on(4, &[] as &[u32], |i| *i).is_empty());
    }
}
